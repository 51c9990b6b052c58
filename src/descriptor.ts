import { formatAddress, type AbstractAddress, type RawInetAddress, type SocketAddress, type UnixPathAddress } from './address.js';
import { errnoException, SocketActivationError } from './errors.js';
import { native } from './native.js';

// native/inspect.cc writes these objects, as JSON: their fields, in this order, and
// every name below.

/**
 * What kind of file an fd refers to (fstat, plus the file system for mqueue and anon inodes);
 * `path` for an fd opened with O_PATH, whatever file it names.
 */
export type DescriptorKind = 'socket' | 'fifo' | 'file' | 'directory' | 'char' | 'block' | 'mqueue' | 'anon' | 'path' | 'other';
/** What the file an O_PATH fd names is, as fstat reports it: `symlink` for a link opened with O_PATH | O_NOFOLLOW. */
export type PathFileKind = Exclude<DescriptorKind, 'path'> | 'symlink';
/** SO_TYPE. */
export type SocketType = 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'other';
/** The socket's address family (SO_DOMAIN, else getsockname). */
export type SocketFamily = 'inet' | 'inet6' | 'unix' | 'netlink' | 'packet' | 'vsock' | 'tipc' | 'can' | 'bluetooth' | 'other';
/**
 * SO_PROTOCOL. `default` is protocol 0 (unix sockets). Where the platform has no
 * SO_PROTOCOL (macOS) an inet stream is reported as `tcp` and an inet datagram as `udp`.
 */
export type SocketProtocol = 'tcp' | 'udp' | 'sctp' | 'udplite' | 'mptcp' | 'icmp' | 'icmpv6' | 'default' | 'other';

interface DescriptorBase {
  /** The descriptor number in this process. */
  readonly fd: number;
  /** LISTEN_FDNAMES entry for an inherited fd (`unknown` when unnamed); undefined for {@link inspect} of any other fd. */
  readonly name: string | undefined;
  /** FD_CLOEXEC is set. */
  readonly cloexec: boolean;
  /** O_NONBLOCK is set on the open file description (shared with every copy of the fd). */
  readonly nonblocking: boolean;
  /** st_dev and st_ino: the identity checked again before the fd is given to Node. */
  readonly dev: number;
  readonly ino: number;
}

/** A socket of any type, family and state. */
export interface SocketDescriptor extends DescriptorBase {
  readonly kind: 'socket';
  readonly type: SocketType;
  readonly family: SocketFamily;
  readonly protocol: SocketProtocol;
  /** The raw SO_PROTOCOL number (-1 where the platform cannot tell). */
  readonly protocolNumber: number;
  /** SO_ACCEPTCONN: listen() was called on it. */
  readonly listening: boolean;
  /** getsockname(). A raw socket's inet address has no port ({@link RawInetAddress}). */
  readonly local: SocketAddress;
  /** getpeername(), for connected sockets only. */
  readonly remote?: SocketAddress;
  /**
   * A TCP connection whose peer reset or closed it before this process looked (Linux): no
   * remote address is left, but it was a connection — an Accept=yes instance's, whose client
   * gave up — not a socket that was only bound. Served, it ends at once.
   */
  readonly peerClosed?: true;
  /** IPV6_V6ONLY, for inet6 sockets only: false means a dual-stack `[::]` socket that also takes IPv4. */
  readonly v6only?: boolean;
  /** The accept queue limit of a listening TCP socket (Linux TCP_INFO), e.g. systemd's Backlog=. */
  readonly backlog?: number;
}

/** A named pipe (systemd ListenFIFO=) or an anonymous pipe. */
export interface FifoDescriptor extends DescriptorBase {
  readonly kind: 'fifo';
}

/** A regular file (systemd ListenSpecial= on a file, or a stored memfd). */
export interface FileDescriptor extends DescriptorBase {
  readonly kind: 'file';
}

/** A character device (ListenSpecial= on /dev/…); `rdev` is the device number. */
export interface CharDescriptor extends DescriptorBase {
  readonly kind: 'char';
  readonly rdev: number;
}

/** A POSIX message queue (ListenMessageQueue=). */
export interface MqueueDescriptor extends DescriptorBase {
  readonly kind: 'mqueue';
}

/** An anonymous inode: eventfd, epoll, timerfd, pidfd, … `anonType` is the kernel's name for it. */
export interface AnonDescriptor extends DescriptorBase {
  readonly kind: 'anon';
  readonly anonType: string;
}

/**
 * An fd opened with O_PATH: it names a file (`fileKind`) without opening it, so fstat works on
 * it but no I/O and no socket call does (EBADF). No call of this package serves it.
 */
export interface PathDescriptor extends DescriptorBase {
  readonly kind: 'path';
  readonly fileKind: PathFileKind;
}

/** Directories, block devices and anything else. */
export interface OtherDescriptor extends DescriptorBase {
  readonly kind: 'directory' | 'block' | 'other';
}

/** What an fd is, as the kernel reports it. Narrow on `kind`, then on `type`/`listening`. */
export type Descriptor =
  | SocketDescriptor
  | FifoDescriptor
  | FileDescriptor
  | CharDescriptor
  | MqueueDescriptor
  | AnonDescriptor
  | PathDescriptor
  | OtherDescriptor;

/**
 * A listening socket: TCP, SCTP, MPTCP or unix stream, which `listen()` serves, or unix
 * seqpacket (ListenSequentialPacket=), which Node cannot serve: for `type: 'seqpacket'` this
 * package offers the descriptor and its fd, for a native module.
 */
export type StreamListenerDescriptor = SocketDescriptor & { readonly type: 'stream' | 'seqpacket'; readonly listening: true };
/** A datagram socket (UDP, unix datagram). */
export type DatagramDescriptor = SocketDescriptor & { readonly type: 'dgram' };
/** A connected stream socket, as systemd passes with Accept=yes. */
export type ConnectionDescriptor = SocketDescriptor & { readonly type: 'stream'; readonly listening: false };

/** A descriptor as parsed from the native JSON, before it is completed. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function rawBytes(address: SocketAddress | undefined): void {
  const named = address as Mutable<AbstractAddress | UnixPathAddress> | undefined;
  if (named?.raw !== undefined) named.raw = Buffer.from(named.raw as unknown as string, 'hex');
}

/**
 * The native JSON holds a unix path's or abstract name's raw bytes in hex (and `name` as null,
 * to keep its place among the properties, for the caller to set): this makes them a Buffer.
 */
export function completeUnixAddresses(d: Mutable<Descriptor>): void {
  if (d.kind === 'socket' && d.family === 'unix') {
    rawBytes(d.local);
    rawBytes(d.remote);
  }
}

/**
 * The anonymous inodes Node's runtime opens (libuv's epoll, eventfd and io_uring). One of these
 * among the fds LISTEN_FDS claims cannot be told from Node's own: Node marks every inherited
 * fd close-on-exec at start-up (uv_disable_stdio_inheritance), as libuv opens its own.
 * @internal
 */
export const RUNTIME_ANON_TYPES: ReadonlySet<string> = new Set(['eventpoll', 'eventfd', 'io_uring']);

/** The Descriptor of `fd` now (without a name), or -errno when it is not open. */
export function describeFd(fd: number): Descriptor | number {
  const json = native().inspect(fd);
  if (typeof json === 'number') return json;
  const d = (JSON.parse(json) as Mutable<Descriptor>[])[0]!;
  d.name = undefined;
  completeUnixAddresses(d);
  return d;
}

/** Whether `fd` is open and still the file `was` describes (st_dev/st_ino): not closed, its number not reused. */
export function isSameFile(fd: number, was: { readonly dev: number; readonly ino: number }): boolean {
  const now = describeFd(fd);
  return typeof now !== 'number' && now.dev === was.dev && now.ino === was.ino;
}

/**
 * Describes any fd of this process as the kernel sees it now, without changing it:
 * kind, flags and, for sockets, type, family, protocol, listening state and addresses.
 *
 * @throws A Node-style system error (`code: 'EBADF'`, `syscall: 'fstat'`, `fd`) when the fd is not open.
 * @example
 * ```ts
 * const d = inspect(3);
 * if (d.kind === 'socket' && d.listening) console.log(d.local);
 * ```
 */
export function inspect(fd: number): Descriptor {
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
    // Like every other argument error of the package (listener(3), drain(server, …)), so that
    // one `instanceof SocketActivationError` covers them.
    const shown = typeof fd === 'string' ? JSON.stringify(fd) : String(fd);
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `inspect(fd): expected a non-negative integer fd, found ${shown}.`, { argument: 'fd', expected: 'integer fd >= 0', found: fd });
  }
  const d = describeFd(fd);
  if (typeof d === 'number') throw errnoException(d, 'fstat', fd);
  return d;
}

const KIND_NAMES: Record<Exclude<PathFileKind, 'anon'>, string> = {
  socket: 'socket file',
  fifo: 'FIFO',
  file: 'regular file',
  directory: 'directory',
  char: 'character device',
  block: 'block device',
  mqueue: 'POSIX message queue',
  symlink: 'symbolic link',
  other: 'file of another kind',
};

/**
 * Whether an inet datagram socket speaks UDP's API (UDP, UDP-Lite, or a protocol the platform
 * cannot tell): what Node's dgram module can adopt. An ICMP ping socket, say, it cannot.
 * @internal
 */
export function isUdp(d: SocketDescriptor): boolean {
  return (d.family === 'inet' || d.family === 'inet6') && (d.protocol === 'udp' || d.protocol === 'udplite' || d.protocolNumber < 0);
}

/** {@link describe} with its article: `a TCP listener on …`, `an SCTP listener …`, `an anonymous inode [eventpoll]`. */
export function describeWithArticle(d: Descriptor): string {
  return withArticle(describe(d));
}

function withArticle(text: string): string {
  const first = text.split(' ')[0]!;
  // An acronym is spelled out (an SCTP, a UDP, an O_PATH); FIFO is said as a word.
  const vowelSound = first === first.toUpperCase() && first !== 'FIFO' ? 'AEFHILMNORSX'.includes(first[0]!) : /^[aeio]/.test(first);
  return `${vowelSound ? 'an' : 'a'} ${text}`;
}

/**
 * Throws ERR_INVALID_ARGUMENT unless `d` looks like a Descriptor (an object with an fd and a
 * known kind): anything else would fail deep inside with V8's TypeError, or be described as
 * "undefined".
 * @internal
 */
export function checkDescriptor(fn: string, d: unknown): asserts d is Descriptor {
  const o = d as { fd?: unknown; kind?: unknown } | null;
  if (typeof o === 'object' && o !== null && Number.isInteger(o.fd) && (o.kind === 'anon' || o.kind === 'path' || (typeof o.kind === 'string' && Object.hasOwn(KIND_NAMES, o.kind)))) return;
  const found = typeof d === 'string' ? JSON.stringify(d) : typeof d === 'object' && d !== null ? `${Array.isArray(d) ? 'an array' : 'an object'} without fd and kind` : String(d);
  const hint = Number.isInteger(d) && (d as number) >= 0 ? ` For fd ${d as number}, pass inspect(${d as number}).` : '';
  throw new SocketActivationError('ERR_INVALID_ARGUMENT', `${fn}: the descriptor must be one from inspect(), listeners() or listenersNamed(); found ${found}.${hint}`, {
    argument: 'descriptor',
    expected: 'Descriptor',
    found: d,
  });
}

/**
 * A short human description of a descriptor, for error messages: `TCP listener on 127.0.0.1:80`.
 * @throws ERR_INVALID_ARGUMENT for anything but a descriptor.
 */
export function describe(d: Descriptor): string {
  checkDescriptor('describe()', d);
  if (d.kind !== 'socket') {
    if (d.kind === 'anon') return `anonymous inode [${d.anonType}]`;
    if (d.kind === 'path') return `O_PATH descriptor of ${withArticle(d.fileKind === 'anon' ? 'anonymous inode' : KIND_NAMES[d.fileKind])}`;
    return KIND_NAMES[d.kind];
  }
  const local = 'unnamed' in d.local ? '' : formatAddress(d.local);
  if (d.type === 'raw') return `raw ${d.family} socket (protocol ${d.protocol === 'other' ? d.protocolNumber : d.protocol})${local ? ` on ${local}` : ''}`;
  const what =
    d.protocol !== 'default' && d.protocol !== 'other'
      ? d.protocol.toUpperCase()
      : d.family === 'unix'
        ? `unix ${d.type}`
        : `${d.family} ${d.type}`;
  const state = d.type === 'dgram' ? 'socket' : d.listening ? 'listener' : d.remote ? 'connection' : d.peerClosed ? 'connection (closed by its peer)' : 'socket (not listening)';
  return `${what} ${state}${local ? ` on ${local}` : ''}`;
}

