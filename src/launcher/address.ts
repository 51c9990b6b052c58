import { isIPv4, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { SocketActivationError } from '../errors.js';

/** How a launcher socket is made. */
export type LaunchSocketType = 'stream' | 'dgram' | 'seqpacket';

/** One `-l`/`-d`/`--seqpacket` argument, parsed. */
export type LaunchAddress = {
  readonly name: string;
  readonly type: LaunchSocketType;
  /** The argument as given, for messages. */
  readonly spec: string;
} & (
  | { readonly family: 'inet' | 'inet6'; readonly host: string; readonly port: number; readonly dualStack: boolean }
  | { readonly family: 'unix'; readonly path: string }
  | { readonly family: 'unix'; readonly abstract: string }
);

// systemd's FDNAME rules: printable ASCII, no ':', at most 255 characters.
const validName = /^[\x21-\x39\x3b-\x7e]{1,255}$/;

function usage(message: string): never {
  throw new SocketActivationError('ERR_LAUNCHER_USAGE', message);
}

function parsePort(text: string, spec: string): number {
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) usage(`${spec}: the port must be a number from 0 to 65535; found ${JSON.stringify(text)}.`);
  return port;
}

/**
 * Parses `[NAME=]ADDRESS`, where ADDRESS is `PORT` (dual-stack `[::]`, as systemd's
 * ListenStream=PORT), `HOST:PORT`, `[IPV6]:PORT`, a unix socket path (containing `/`), or
 * `@NAME` for an abstract unix socket.
 */
export function parseLaunchAddress(spec: string, type: LaunchSocketType): LaunchAddress {
  let name = 'unknown';
  let rest = spec;
  const eq = spec.indexOf('=');
  if (eq === 0) usage(`${spec}: the name before '=' is empty; leave out '=' for the name "unknown".`);
  if (eq > 0 && !/[/@[]/.test(spec.slice(0, eq))) {
    name = spec.slice(0, eq);
    rest = spec.slice(eq + 1);
    if (!validName.test(name)) usage(`${spec}: the name ${JSON.stringify(name)} must be 1 to 255 printable ASCII characters without ':' or spaces (systemd's FileDescriptorName= rules).`);
  }
  if (rest === '') usage(`${spec}: no address after the name.`);
  if (rest.startsWith('@')) {
    if (rest.length < 2) usage(`${spec}: an abstract socket needs a name after '@'.`);
    return { name, type, spec, family: 'unix', abstract: rest.slice(1) };
  }
  // Absolute, as systemd requires: the service may change directory, and clients are elsewhere.
  if (rest.includes('/')) return { name, type, spec, family: 'unix', path: resolve(rest) };
  if (type === 'seqpacket') usage(`${spec}: --seqpacket takes a unix socket path or @abstract name.`);
  if (/^[0-9]+$/.test(rest)) return { name, type, spec, family: 'inet6', host: '::', port: parsePort(rest, spec), dualStack: true };
  const v6 = /^\[([^\]]+)\]:([^:]+)$/.exec(rest);
  if (v6) {
    const host = v6[1]!;
    if (host.includes('%')) usage(`${spec}: IPv6 addresses with a zone (%interface) are not supported; bind a global address, or [::].`);
    if (!isIPv6(host)) usage(`${spec}: the host in brackets must be an IPv6 address; found ${JSON.stringify(host)}.`);
    // An IPv4-mapped address only works with IPV6_V6ONLY off: it is IPv4 traffic.
    const mapped = /^::ffff:([0-9.]+|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i.test(host);
    return { name, type, spec, family: 'inet6', host, port: parsePort(v6[2]!, spec), dualStack: host === '::' || mapped };
  }
  const v4 = /^([^:[\]]+):([^:]+)$/.exec(rest);
  if (v4) {
    const host = v4[1] === 'localhost' ? '127.0.0.1' : v4[1]!;
    if (!isIPv4(host)) usage(`${spec}: the host must be an IPv4 address (four numbers 0-255), [IPv6 address] or localhost; found ${JSON.stringify(v4[1])}.`);
    return { name, type, spec, family: 'inet', host, port: parsePort(v4[2]!, spec), dualStack: false };
  }
  return usage(`${spec}: expected PORT, HOST:PORT, [IPV6]:PORT, a unix socket path (with a '/') or @abstract.`);
}
