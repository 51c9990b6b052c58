import type net from 'node:net';
import type { Descriptor } from './descriptor.js';
import { predecessorHandingOver } from './successor.js';

// Which server serves which inherited listener, as listen() set them up: connections handed
// over by a predecessor (hot upgrade) or by the supervisor (reload) are given to that server.
// A server leaves the map when it closes: an application that calls listen() and close() on
// the same name over and over would otherwise keep every closed server (and what it holds)
// alive, and hand connections to the first of them, long closed, instead of the one serving.

const listenersOf = new Map<net.Server, Descriptor[]>();

/** Records that `server` serves `descriptors`. @internal */
export function registerServer(descriptors: readonly Descriptor[], server: net.Server): void {
  // Listened again after a close: it goes to the end, behind servers registered meanwhile.
  const known = listenersOf.get(server);
  // Not before the hand-over from a hot upgrade's predecessor is over: a successor whose drain
  // (a restart right after the upgrade) closed its server still takes what comes, to drain it.
  if (known === undefined) server.once('close', () => void (predecessorHandingOver() ?? Promise.resolve()).then(() => listenersOf.delete(server)));
  listenersOf.delete(server);
  listenersOf.set(server, [...(known ?? []), ...descriptors]);
}

function sameLocal(a: Descriptor, b: Descriptor): boolean {
  if (a.kind !== 'socket' || b.kind !== 'socket' || a.family !== b.family) return false;
  const x = a.local as { port?: number; path?: string; address?: string; raw?: Buffer; cid?: number };
  const y = b.local as { port?: number; path?: string; address?: string; raw?: Buffer; cid?: number };
  if (x.cid !== undefined) return x.cid === y.cid && x.port === y.port;
  if (x.port !== undefined) return x.port === y.port && (x.address === y.address || ['0.0.0.0', '::'].includes(x.address ?? ''));
  // A path or an abstract name, by its exact bytes (its text may hold U+FFFD for several).
  return x.raw !== undefined && y.raw !== undefined && (x.path === undefined) === (y.path === undefined) && x.raw.equals(y.raw);
}

/**
 * The server whose listener accepted this connection (same local address): the latest one
 * that listens, else (one still warming up, or stopped and waiting for its connections to end)
 * the latest one registered. @internal
 */
export function serverFor(connection: Descriptor): net.Server | undefined {
  let found: net.Server | undefined;
  for (const [server, descriptors] of listenersOf) {
    if (!descriptors.some((d) => sameLocal(d, connection))) continue;
    if (server.listening || !found?.listening) found = server;
  }
  return found;
}
