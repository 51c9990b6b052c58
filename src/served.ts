import type net from 'node:net';
import type { Descriptor } from './descriptor.js';

// Which server serves which inherited listener, as listen() set them up: connections handed
// over by a predecessor (hot upgrade) or by the supervisor (reload) are given to that server.

const byName = new Map<string, net.Server>();
const listenersOf = new Map<net.Server, Descriptor[]>();

/** Records that `server` serves `descriptors`. @internal */
export function registerServer(descriptors: readonly Descriptor[], server: net.Server): void {
  for (const d of descriptors) if (d.name !== undefined && !byName.has(d.name)) byName.set(d.name, server);
  listenersOf.set(server, [...(listenersOf.get(server) ?? []), ...descriptors]);
}

/** The server serving listener `name`. @internal */
export function serverNamed(name: string): net.Server | undefined {
  return byName.get(name);
}

/** The listener names of a server. @internal */
export function serverNames(server: net.Server): readonly string[] {
  return (listenersOf.get(server) ?? []).map((d) => d.name).filter((n): n is string => n !== undefined);
}

function sameLocal(a: Descriptor, b: Descriptor): boolean {
  if (a.kind !== 'socket' || b.kind !== 'socket' || a.family !== b.family) return false;
  const x = a.local as { port?: number; path?: string; address?: string };
  const y = b.local as { port?: number; path?: string; address?: string };
  if (x.port !== undefined) return x.port === y.port && (x.address === y.address || ['0.0.0.0', '::'].includes(x.address ?? ''));
  return x.path !== undefined && x.path === y.path;
}

/** The server whose listener accepted this connection (same local address). @internal */
export function serverFor(connection: Descriptor): net.Server | undefined {
  for (const [server, descriptors] of listenersOf) if (descriptors.some((d) => sameLocal(d, connection))) return server;
  return undefined;
}
