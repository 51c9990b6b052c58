import { readlinkSync } from 'node:fs';
import { formatAddress, formatIPv4, formatIPv6, unixAddress, type SocketAddress } from './address.js';
import { errnoException } from './errors.js';
import { native } from './native.js';
import { ADDRESS_BYTES, FIELD_COUNT, Field } from './native-layout.js';

/** What kind of file an fd refers to (fstat, plus the file system for mqueue and anon inodes). */
export type DescriptorKind = 'socket' | 'fifo' | 'file' | 'directory' | 'char' | 'block' | 'mqueue' | 'anon' | 'other';
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
  /** getsockname(). */
  readonly local: SocketAddress;
  /** getpeername(), for connected sockets only. */
  readonly remote?: SocketAddress;
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
  | OtherDescriptor;

/** A socket that accepts stream connections: TCP, SCTP, MPTCP, unix stream or seqpacket listener. */
export type StreamListenerDescriptor = SocketDescriptor & { readonly type: 'stream' | 'seqpacket'; readonly listening: true };
/** A datagram socket (UDP, unix datagram). */
export type DatagramDescriptor = SocketDescriptor & { readonly type: 'dgram' };
/** A connected stream socket, as systemd passes with Accept=yes. */
export type ConnectionDescriptor = SocketDescriptor & { readonly type: 'stream'; readonly listening: false };

const S_IFMT = 0o170000;
const modes: Record<number, DescriptorKind> = {
  0o140000: 'socket',
  0o010000: 'fifo',
  0o100000: 'file',
  0o040000: 'directory',
  0o020000: 'char',
  0o060000: 'block',
};
const MQUEUE_MAGIC = 0x19800202;
const PIDFS_MAGIC = 0x50494446;

const linuxFamilies: Record<number, SocketFamily> = { 16: 'netlink', 17: 'packet', 29: 'can', 30: 'tipc', 31: 'bluetooth', 40: 'vsock' };
const protocols: Record<number, SocketProtocol> = { 0: 'default', 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite', 262: 'mptcp' };

let cachedConstants: ReturnType<typeof native>['constants'] | undefined;
const constants = () => (cachedConstants ??= native().constants);

const info = new Float64Array(FIELD_COUNT);
const bytes = new Uint8Array(2 * ADDRESS_BYTES);

function familyName(domain: number): SocketFamily {
  const c = constants();
  if (domain === c.AF_INET) return 'inet';
  if (domain === c.AF_INET6) return 'inet6';
  if (domain === c.AF_UNIX) return 'unix';
  return (process.platform === 'linux' && linuxFamilies[domain]) || 'other';
}

function typeName(type: number): SocketType {
  const c = constants();
  if (type === c.SOCK_STREAM) return 'stream';
  if (type === c.SOCK_DGRAM) return 'dgram';
  if (type === c.SOCK_SEQPACKET) return 'seqpacket';
  if (type === c.SOCK_RAW) return 'raw';
  return 'other';
}

function protocolName(number: number, family: SocketFamily, type: SocketType): SocketProtocol {
  if (number < 0) {
    if (family === 'inet' || family === 'inet6') return type === 'stream' ? 'tcp' : type === 'dgram' ? 'udp' : 'other';
    return family === 'unix' ? 'default' : 'other';
  }
  return protocols[number] ?? 'other';
}

function address(slot: number, offset: number): SocketAddress | undefined {
  const c = constants();
  const family = info[slot]!;
  if (family === c.AF_INET) return { address: formatIPv4(bytes, offset), port: info[slot + 1]!, family: 'IPv4' };
  if (family === c.AF_INET6) {
    return { address: formatIPv6(bytes, offset), port: info[slot + 1]!, family: 'IPv6', flowinfo: info[slot + 2]!, scopeId: info[slot + 3]! };
  }
  if (family === c.AF_UNIX) return unixAddress(bytes.subarray(offset, offset + info[slot + 4]!));
  return undefined;
}

function anonType(fd: number): string {
  try {
    // "anon_inode:[eventpoll]", "anon_inode:inotify", "anon_inode:[pidfd]"
    const link = readlinkSync(`/proc/self/fd/${fd}`);
    return link.replace(/^anon_inode:/, '').replace(/^\[(.*)\]$/, '$1');
  } catch {
    return 'unknown';
  }
}

/**
 * Reads the raw kernel facts about `fd` into the shared buffers.
 * @returns 0, or a negative errno when fstat failed.
 */
export function readFacts(fd: number): number {
  return native().inspect(fd, info, bytes);
}

/** st_dev and st_ino from the last {@link readFacts}. */
export function lastIdentity(): { dev: number; ino: number } {
  return { dev: info[Field.dev]!, ino: info[Field.ino]! };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Turns the facts of the last {@link readFacts} into a Descriptor. */
export function decodeFacts(fd: number, name: string | undefined): Descriptor {
  const c = constants();
  const mode = info[Field.mode]! & S_IFMT;
  const fsType = info[Field.fsType]!;
  let kind = modes[mode] ?? 'other';
  if (kind === 'file' && fsType === MQUEUE_MAGIC) kind = 'mqueue';
  if (mode === 0 && fsType >= 0) kind = 'anon';
  // One literal with every common field, then the kind's own: object spread is slow on a
  // cold start, and discovery of many fds runs exactly once, cold.
  const d = {
    fd,
    name,
    kind,
    cloexec: (info[Field.fdFlags]! & c.FD_CLOEXEC) !== 0,
    nonblocking: (info[Field.statusFlags]! & c.O_NONBLOCK) !== 0,
    dev: info[Field.dev]!,
    ino: info[Field.ino]!,
  } as Mutable<Descriptor>;
  if (kind === 'socket') {
    const socket = d as Mutable<SocketDescriptor>;
    const family = familyName(info[Field.domain]!);
    const type = typeName(info[Field.socketType]!);
    socket.type = type;
    socket.family = family;
    socket.protocolNumber = info[Field.protocol]!;
    socket.protocol = protocolName(socket.protocolNumber, family, type);
    socket.listening = info[Field.acceptConn] === 1;
    socket.local = address(Field.local, 0) ?? { unnamed: true };
    const remote = address(Field.peer, ADDRESS_BYTES);
    if (remote) socket.remote = remote;
    if (family === 'inet6' && info[Field.v6Only]! >= 0) socket.v6only = info[Field.v6Only] === 1;
    if (info[Field.backlog]! >= 0) socket.backlog = info[Field.backlog]!;
  } else if (kind === 'anon') {
    (d as Mutable<AnonDescriptor>).anonType = fsType === PIDFS_MAGIC ? 'pidfd' : anonType(fd);
  } else if (kind === 'char') {
    (d as Mutable<CharDescriptor>).rdev = info[Field.rdev]!;
  }
  return d;
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
    throw new TypeError(`inspect(fd): expected a non-negative integer fd, got ${String(fd)}`);
  }
  const r = readFacts(fd);
  if (r < 0) throw errnoException(r, 'fstat', fd);
  return decodeFacts(fd, undefined);
}

/** A short human description of a descriptor, for error messages: `TCP listener on 127.0.0.1:80`. */
export function describe(d: Descriptor): string {
  if (d.kind !== 'socket') {
    if (d.kind === 'anon') return `anonymous inode [${d.anonType}]`;
    return d.kind === 'fifo' ? 'FIFO' : d.kind === 'file' ? 'regular file' : d.kind === 'char' ? 'character device' : d.kind;
  }
  const what =
    d.protocol !== 'default' && d.protocol !== 'other'
      ? d.protocol.toUpperCase()
      : d.family === 'unix'
        ? `unix ${d.type}`
        : `${d.family} ${d.type}`;
  const state = d.type === 'dgram' ? 'socket' : d.listening ? 'listener' : d.remote ? 'connection' : 'socket (not listening)';
  const local = 'unnamed' in d.local ? '' : formatAddress(d.local);
  return `${what} ${state}${local ? ` on ${local}` : ''}`;
}

