import { isPort, printable } from './address.js';
import {
  checkDescriptor,
  describe,
  describeWithArticle,
  isUdp,
  type ConnectionDescriptor,
  type DatagramDescriptor,
  type Descriptor,
  type DescriptorKind,
  type SocketDescriptor,
  type SocketFamily,
  type SocketProtocol,
  type SocketType,
  type StreamListenerDescriptor,
} from './descriptor.js';
import { SocketActivationError } from './errors.js';
import { activation, type InheritedDescriptor } from './registry.js';

/**
 * What a listener must be, in the spirit of sd_is_socket_inet / sd_is_socket_unix /
 * sd_is_socket_sockaddr. Every given field must match; `family: 'inet'` also accepts a
 * dual-stack `[::]` socket (inet6 with IPV6_V6ONLY off), which takes IPv4 too.
 */
export interface Expectation {
  readonly kind?: DescriptorKind;
  readonly type?: SocketType;
  readonly family?: SocketFamily;
  readonly protocol?: SocketProtocol;
  /** true: a listening socket; false: not listening (a connection, or a datagram socket). */
  readonly listening?: boolean;
  /** Local port (inet/inet6, vsock). */
  readonly port?: number;
  /** Local address as text, e.g. `127.0.0.1` or `::` (inet/inet6); `fe80::1` matches `fe80::1%eth0` on any interface. */
  readonly address?: string;
  /**
   * Local unix socket path, compared as UTF-8 bytes with the socket's `raw`. A path that is not
   * UTF-8 cannot be spelled as a string: compare `local.raw` of the descriptors instead.
   */
  readonly path?: string;
  /** Local abstract unix name, without the leading `@`/NUL. */
  readonly abstract?: string;
}

// Every value each field may take, so that a typo ('tpc', port '80') is an argument error
// instead of a mismatch that no fd could ever meet.
const KINDS: Record<DescriptorKind, true> = { socket: true, fifo: true, file: true, directory: true, char: true, block: true, mqueue: true, anon: true, path: true, other: true };
const TYPES: Record<SocketType, true> = { stream: true, dgram: true, seqpacket: true, raw: true, other: true };
const FAMILIES: Record<SocketFamily, true> = { inet: true, inet6: true, unix: true, netlink: true, packet: true, vsock: true, tipc: true, can: true, bluetooth: true, other: true };
const PROTOCOLS: Record<SocketProtocol, true> = { tcp: true, udp: true, sctp: true, udplite: true, mptcp: true, icmp: true, icmpv6: true, default: true, other: true };
const oneOf = (values: object) => ({ ok: (v: unknown) => typeof v === 'string' && Object.hasOwn(values, v), expected: `one of ${Object.keys(values).join(', ')}` });
const text = { ok: (v: unknown) => typeof v === 'string', expected: 'a string' };
const FIELDS: Record<keyof Expectation, { ok: (v: unknown) => boolean; expected: string }> = {
  kind: oneOf(KINDS),
  type: oneOf(TYPES),
  family: oneOf(FAMILIES),
  protocol: oneOf(PROTOCOLS),
  listening: { ok: (v) => typeof v === 'boolean', expected: 'true or false' },
  port: { ok: isPort, expected: 'an integer from 0 to 65535' },
  address: text,
  path: text,
  abstract: text,
};

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' && value !== null ? (Array.isArray(value) ? 'an array' : 'an object') : String(value);
}

function checkExpectation(fn: string, expect: unknown): void {
  if (expect === undefined) return;
  const fault = (what: string, expected: string) => new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}: ${what}; expected ${expected}.`, { argument: 'expect', expected, found: expect });
  if (typeof expect !== 'object' || expect === null || Array.isArray(expect)) throw fault(`the expectation is ${shown(expect)}`, `an object with some of ${Object.keys(FIELDS).join(', ')}`);
  for (const [key, value] of Object.entries(expect)) {
    if (value === undefined) continue;
    // Other fields are not ours to refuse (a descriptor, or a spread object, may be passed).
    const field = Object.hasOwn(FIELDS, key) ? FIELDS[key as keyof Expectation] : undefined;
    if (field && !field.ok(value)) throw fault(`expectation ${key} is ${shown(value)}`, `${key} to be ${field.expected}`);
  }
}

function checkName(fn: string, name: unknown): asserts name is string {
  if (typeof name === 'string') return;
  const hint = Number.isInteger(name) && (name as number) >= 0 ? ` For fd ${name as number}, use inspect(${name as number}).` : '';
  throw new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}: the name must be a string (an entry of LISTEN_FDNAMES); found ${shown(name)}.${hint}`, {
    argument: 'name',
    expected: 'string',
    found: name,
  });
}

type Named<D> = D & { readonly name: string };

// Any field but kind makes the expectation one of a socket (see mismatches()).
type SocketField = { type: SocketType } | { family: SocketFamily } | { protocol: SocketProtocol } | { listening: boolean } | { port: number } | { path: string } | { abstract: string } | { address: string };
type SocketShape<E> = E extends { type: 'dgram' }
  ? DatagramDescriptor
  : E extends { listening: true }
    ? StreamListenerDescriptor
    : E extends { type: 'stream'; listening: false }
      ? ConnectionDescriptor
      : SocketDescriptor;
type Shape<E> = E extends { kind: infer K } ? (K extends 'socket' ? SocketShape<E> : Extract<Descriptor, { kind: K }>) : E extends SocketField ? SocketShape<E> : Descriptor;
// The type and listening state an expectation asks for are what the descriptor has (not the
// family: `inet` also accepts a dual-stack inet6 socket).
type Refined<D, E> = D extends SocketDescriptor
  ? D & (E extends { type: infer T extends SocketType } ? { readonly type: T } : unknown) & (E extends { listening: infer L extends boolean } ? { readonly listening: L } : unknown)
  : D;

/**
 * The descriptor type an expectation narrows to, with its `name`:
 *
 * | expectation | type |
 * | --- | --- |
 * | `{ kind: 'fifo' }` (any kind but socket) | that kind's descriptor (`FifoDescriptor`, …) |
 * | `{ type: 'dgram' }` | `DatagramDescriptor` |
 * | `{ listening: true }` | `StreamListenerDescriptor` |
 * | `{ type: 'stream', listening: false }` | `ConnectionDescriptor` |
 * | `{ kind: 'socket' }` or any other socket field | `SocketDescriptor` |
 * | `{}` or none | `Descriptor` |
 *
 * and `type` and `listening`, when given, are the values asked for
 * (`{ listening: true, type: 'stream' }` gives `type: 'stream'`).
 */
export type Expected<E extends Expectation | undefined> = Named<Refined<Shape<E>, E>>;

// A link-local address is reported with its zone (fe80::1%eth0); an expectation without one
// asks for the address on any interface.
function sameAddress(address: string, expected: string): boolean {
  return address === expected || (!expected.includes('%') && address.split('%')[0] === expected);
}

function mismatches(d: Descriptor, e: Expectation): string[] {
  const out: string[] = [];
  const given = Object.entries(e).filter(([k, v]) => v !== undefined && Object.hasOwn(FIELDS, k));
  const kind = e.kind ?? (given.length > 0 ? 'socket' : undefined);
  if (kind && d.kind !== kind) return [e.kind ? `kind ${kind}` : `a socket (${given.map(([k, v]) => `${k} ${String(v)}`).join(', ')})`];
  if (d.kind !== 'socket') return out;
  if (e.type && d.type !== e.type) out.push(`type ${e.type}`);
  if (e.family) {
    const dualStack = e.family === 'inet' && d.family === 'inet6' && d.v6only === false && 'address' in d.local && d.local.address === '::';
    if (d.family !== e.family && !dualStack) out.push(`family ${e.family}`);
  }
  if (e.protocol && d.protocol !== e.protocol) out.push(`protocol ${e.protocol}`);
  if (e.listening !== undefined && d.listening !== e.listening) out.push(e.listening ? 'listening' : 'not listening');
  const local = d.local;
  if (e.port !== undefined && !('port' in local && local.port === e.port)) out.push(`port ${e.port}`);
  if (e.address !== undefined && !('address' in local && sameAddress(local.address, e.address))) out.push(`address ${printable(e.address)}`);
  // By the bytes: a name that is not UTF-8 is decoded with U+FFFD, which an expected name
  // spelling U+FFFD must not match.
  if (e.path !== undefined && !('path' in local && local.raw.equals(Buffer.from(e.path)))) out.push(`path ${printable(e.path)}`);
  if (e.abstract !== undefined && !('abstract' in local && local.raw.equals(Buffer.from(e.abstract)))) out.push(`abstract name @${printable(e.abstract)}`);
  return out;
}

/**
 * Whether `d` meets `expect`.
 * @throws ERR_INVALID_ARGUMENT for a `d` that is not a descriptor, or an expectation no descriptor
 * could meet (a value its field cannot take).
 */
export function matches(d: Descriptor, expect: Expectation): boolean {
  checkDescriptor('matches()', d);
  checkExpectation('matches()', expect);
  return mismatches(d, expect).length === 0;
}

// Node adopts only TCP and unix stream sockets (net) and UDP sockets (dgram): libuv takes an
// inherited fd of no other type or family (a unix seqpacket listener, a vsock listener).
function nodeStream(d: SocketDescriptor): boolean {
  return d.type === 'stream' && (d.family === 'inet' || d.family === 'inet6' || d.family === 'unix');
}

// What takes a descriptor of this kind, for a mismatch's message.
function takenBy(d: Descriptor): string | undefined {
  if (d.kind === 'fifo') return 'fifo()';
  if (d.kind !== 'socket') return undefined;
  if (d.type === 'dgram') return isUdp(d) ? 'bindDatagram()' : undefined;
  if (!nodeStream(d)) return undefined;
  if (d.listening) return 'listen(server, …)';
  return d.remote !== undefined || d.peerClosed ? 'connection()' : undefined;
}

/**
 * What to do with a descriptor that a call refused for its kind, for the end of the message:
 * the call that takes it or, for a kind none takes, that Node cannot serve it (so that no
 * message sends the reader to a call that refuses it too). Undefined for a stream socket that
 * is only bound: its unit, not the call, is what to fix.
 * @internal
 */
export function otherwise(d: Descriptor): string | undefined {
  const taker = takenBy(d);
  if (taker) return `Take it with ${taker} instead`;
  if (d.kind === 'socket') {
    if (nodeStream(d)) return undefined;
    const what = `${d.family} ${d.type} socket`;
    return (
      `Node cannot serve ${/^[aeio]/.test(what) ? 'an' : 'a'} ${what} (net and dgram adopt only TCP, unix stream and UDP sockets; this package only describes it, with inspect()): ` +
      `hand fd ${d.fd} to a native module that can`
    );
  }
  if (d.kind === 'path') {
    return (
      `fd ${d.fd} was opened with O_PATH, which only names the file: nothing can be read, written or accepted through it. ` +
      (d.fileKind === 'socket' ? 'Pass the socket itself, not an O_PATH fd of its file' : `Pass an fd of the ${d.fileKind === 'fifo' ? 'FIFO' : d.fileKind} opened without O_PATH`)
    );
  }
  return `No call of this package serves ${describeWithArticle(d)}: use fd ${d.fd} as it is (inspect() describes it)`;
}

/** `fd 3 "web": TCP listener on 127.0.0.1:80` */
export function label(d: Descriptor): string {
  return `fd ${d.fd}${d.name !== undefined ? ` ${JSON.stringify(d.name)}` : ''}: ${describe(d)}`;
}

function isDescriptor(value: unknown): value is Descriptor {
  return typeof value === 'object' && value !== null && Number.isInteger((value as { fd?: unknown }).fd) && typeof (value as { kind?: unknown }).kind === 'string';
}

/**
 * Checks the listener argument of listen(), connection() and bindDatagram(): a name, or a
 * descriptor from listeners() or inspect() (with `several`, also a non-empty array of them).
 * An fd number is the likely mistake (Node's own `listen({ fd })` takes one).
 * @throws ERR_INVALID_ARGUMENT naming what was found.
 * @internal
 */
export function checkTarget(fn: string, target: unknown, several = false): void {
  if (typeof target === 'string' || isDescriptor(target)) return;
  if (several && Array.isArray(target) && target.length > 0 && target.every(isDescriptor)) return;
  const empty = Array.isArray(target) && target.length === 0;
  const found =
    typeof target === 'number'
      ? `the number ${target}`
      : empty
        ? 'an empty array'
        : Array.isArray(target)
          ? `an array of ${target.length} (not all descriptors)`
          : target === null || target === undefined
            ? String(target)
            : typeof target === 'object'
              ? 'an object without fd and kind'
              : `${typeof target} ${String(target)}`;
  // An empty array is most often a filter of listeners() that matched nothing: there is no
  // listener to serve, which no default could stand in for.
  const hint =
    typeof target === 'number' && Number.isInteger(target) && target >= 0
      ? ` For fd ${target}, pass inspect(${target}) or its name from LISTEN_FDNAMES.`
      : empty && several
        ? ' An array needs at least one descriptor: if it came from filtering listeners(), the filter matched none of the inherited fds.'
        : '';
  throw new SocketActivationError(
    'ERR_INVALID_ARGUMENT',
    `${fn}: the listener must be a name (a string) or a descriptor from listeners()${several ? ' (or an array of them)' : ''}; found ${found}.${hint}`,
    { argument: 'listener', expected: several ? 'name | descriptor | descriptor[]' : 'name | descriptor', found: target },
  );
}

/**
 * Throws ERR_LISTENER_MISMATCH unless `d` meets `expect`.
 * @returns `d`, narrowed.
 * @throws ERR_INVALID_ARGUMENT for a `d` that is not a descriptor, or an expectation no descriptor
 * could meet (a value its field cannot take).
 */
export function check<E extends Expectation>(d: Descriptor, expect: E, purpose?: string): Expected<E> {
  checkDescriptor(purpose ?? 'check()', d);
  checkExpectation(purpose ?? 'check()', expect);
  return meets(d, expect, purpose);
}

/**
 * {@link check} for an expectation already checked (the package's own, or a caller's checked
 * once for all the fds of a name).
 * @internal
 */
export function meets<E extends Expectation>(d: Descriptor, expect: E, purpose?: string): Expected<E> {
  const wrong = mismatches(d, expect);
  if (wrong.length > 0) {
    // describe() names the address already.
    const found = d.kind === 'socket' ? `${describeWithArticle(d)} (type ${d.type}, family ${d.family}, protocol ${d.protocol})` : describeWithArticle(d);
    // Another call fits only when the fd is of another kind, not when its address differs.
    const { kind, type, listening } = expect;
    const instead = mismatches(d, { kind, type, listening }).length > 0 ? otherwise(d) : undefined;
    throw new SocketActivationError(
      'ERR_LISTENER_MISMATCH',
      `${purpose ? `${purpose}: ` : ''}fd ${d.fd}${d.name !== undefined ? ` named ${JSON.stringify(d.name)}` : ''} is ${found}; expected ${wrong.join(', ')}. ` +
        (instead ? `${instead}, or check` : 'Check') +
        ' the Listen…= line of the socket unit (or the launcher address) that produces this name.',
      { fd: d.fd, listenerName: d.name, expected: expect, found: d },
    );
  }
  return d as Expected<E>;
}

/** Whether `d` is a connected stream socket (Accept=yes, a stored connection). */
export function isConnection(d: Descriptor): d is ConnectionDescriptor {
  return d.kind === 'socket' && d.type === 'stream' && !d.listening && (d.remote !== undefined || d.peerClosed === true);
}

// An Accept=yes instance inherits only its connection, which systemd names "connection"
// whatever FileDescriptorName= says (Debian's systemd-socket-activate: "unknown").
function onlyConnections(all: readonly InheritedDescriptor[]): boolean {
  return all.length > 0 && all.every(isConnection);
}

/**
 * The connections of an Accept=yes instance when none of them bears `name`: the code that
 * serves the listener's name (listen(), connection()) serves them. Undefined otherwise.
 * @internal
 */
export function instanceConnections(name: string): readonly (ConnectionDescriptor & InheritedDescriptor)[] | undefined {
  const a = activation();
  if (!a.activated || !onlyConnections(a.descriptors) || a.descriptors.some((d) => d.name === name)) return undefined;
  return a.descriptors as readonly (ConnectionDescriptor & InheritedDescriptor)[];
}

function requireActivated(name: string): readonly InheritedDescriptor[] {
  const a = activation();
  if (!a.activated) {
    throw new SocketActivationError('ERR_NOT_ACTIVATED', `No listener ${JSON.stringify(name)}: ${a.message}`, {
      listenerName: name,
      reason: a.reason,
    });
  }
  return a.descriptors;
}

/**
 * Every inherited fd with this name (several fds share a name when a socket unit has several
 * Listen…= lines and no FileDescriptorName=), each checked against `expect`.
 *
 * @throws ERR_NOT_ACTIVATED (with `reason`), ERR_LISTENER_NOT_FOUND, ERR_LISTENER_MISMATCH.
 */
export function listenersNamed<E extends Expectation = Record<never, never>>(name: string, expect?: E): readonly Expected<E>[] {
  checkName('listenersNamed()', name);
  checkExpectation('listenersNamed()', expect);
  return named(name, expect);
}

function named<E extends Expectation>(name: string, expect?: E): readonly Expected<E>[] {
  const all = requireActivated(name);
  const found = all.filter((d) => d.name === name);
  if (found.length === 0) {
    const names = all.map((d) => `${JSON.stringify(d.name)} (${label(d)})`).join(', ');
    const one = all.length === 1;
    // FileDescriptorName= is set already, most likely: systemd does not use it for an instance's connection.
    const fix = onlyConnections(all)
      ? `This process is an Accept=yes instance, which inherits only its connection${one ? '' : 's'}, named "connection" by systemd whatever FileDescriptorName= says; ` +
        `a listening socket or any other fd of the unit is not passed to it. Take ${one ? 'it' : 'them'} with connection(name) or listen(server, name), which answer to the listener's name in an instance, or ask for ${one ? 'its name' : 'their names'}.`
      : `Set FileDescriptorName=${name} in the socket unit (or name it in the launcher: -l ${name}=ADDRESS), or ask for one of these names.`;
    throw new SocketActivationError(
      'ERR_LISTENER_NOT_FOUND',
      `No inherited fd is named ${JSON.stringify(name)}; the ${all.length} inherited fd${one ? ' is' : 's are'}: ${names}. ${fix}`,
      { listenerName: name, found: all.map((d) => d.name) },
    );
  }
  return found.map((d) => meets(d, expect ?? ({} as E), `listener ${JSON.stringify(name)}`));
}

/**
 * Exactly one inherited fd with this name, checked against `expect`; the result's type
 * follows the expectation (e.g. `{ type: 'dgram' }` gives a DatagramDescriptor).
 *
 * @throws ERR_NOT_ACTIVATED (with `reason`), ERR_LISTENER_NOT_FOUND,
 * ERR_LISTENER_AMBIGUOUS (several fds share the name: use {@link listenersNamed}),
 * ERR_LISTENER_MISMATCH.
 * @example
 * ```ts
 * const web = listener('web', { type: 'stream', listening: true, family: 'inet' });
 * ```
 */
export function listener<E extends Expectation = Record<never, never>>(name: string, expect?: E): Expected<E> {
  checkName('listener()', name);
  checkExpectation('listener()', expect);
  return theOne(name, expect, `listener ${JSON.stringify(name)}`);
}

/**
 * {@link listener} for the package's own calls: `purpose` names the call in a mismatch
 * (`bindDatagram("web")`), and `expect` is the package's own.
 * @internal
 */
export function theOne<E extends Expectation>(name: string, expect: E | undefined, purpose: string): Expected<E> {
  const found = named(name);
  if (found.length > 1) {
    // listen() serves every stream listener of a name; anything else is taken one descriptor at a time.
    const allListeners = found.every((d) => takenBy(d) === 'listen(server, …)');
    throw new SocketActivationError(
      'ERR_LISTENER_AMBIGUOUS',
      `${found.length} inherited fds are named ${JSON.stringify(name)} (${found.map(label).join('; ')}). ` +
        'systemd names every fd of a socket unit after the unit unless FileDescriptorName= is set. ' +
        (allListeners
          ? 'Serve them all with listen(server, name), or take them one by one from listenersNamed(name)'
          : `Take them one by one: pass each descriptor of listenersNamed(name) to ${[...new Set(found.map((d) => takenBy(d) ?? (d.kind === 'socket' && !nodeStream(d) ? 'a native module (Node cannot serve it)' : 'the code that fits it')))].join(' or ')}`) +
        ', or give each Listen…= line its own socket unit and name.',
      { listenerName: name, found: found.map((d) => d.fd) },
    );
  }
  return meets(found[0]!, expect ?? ({} as E), purpose);
}
