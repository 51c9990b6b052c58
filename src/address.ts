// errors.ts imports printable() from here: the cycle is harmless as long as neither module uses
// the other's exports while it loads (only inside functions), in the ESM and CommonJS builds alike.
import { SocketActivationError, shownValue } from './errors.js';

/** An IPv4 or IPv6 socket address, as the kernel reports it. */
export interface InetAddress {
  /**
   * Textual address: `127.0.0.1`, `::`, `::ffff:10.0.0.1`; a link-local one with its zone,
   * `fe80::1%eth0` (the interface's number where it has no name any more), as Node's own
   * `address()` writes it.
   */
  readonly address: string;
  readonly port: number;
  /** Same values as Node's `AddressInfo.family`. */
  readonly family: 'IPv4' | 'IPv6';
  /** IPv6 only. */
  readonly flowinfo?: number;
  /** IPv6 only: the interface index of a link-local address. */
  readonly scopeId?: number;
}

/**
 * The address of a raw IPv4 or IPv6 socket (SOCK_RAW), which has no port: the kernel reports
 * the socket's protocol number in its place, so none is given here.
 */
export interface RawInetAddress {
  /** Textual address, as in {@link InetAddress}. */
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  /** IPv6 only. */
  readonly flowinfo?: number;
  /** IPv6 only: the interface index of a link-local address. */
  readonly scopeId?: number;
}

/**
 * A unix socket bound to a file-system path. `path` is decoded as UTF-8 for display; `raw` keeps
 * the exact bytes, since a path may hold any byte but NUL (one that is not UTF-8 shows U+FFFD in
 * `path`, and only `raw` names the file).
 */
export interface UnixPathAddress {
  readonly path: string;
  readonly raw: Buffer;
}

/**
 * A unix socket in the Linux abstract namespace. `abstract` is the name without the leading
 * NUL, decoded as UTF-8 for display; `raw` keeps the exact bytes, since names may hold any.
 */
export interface AbstractAddress {
  readonly abstract: string;
  readonly raw: Buffer;
}

/**
 * A VM socket (AF_VSOCK): the context id and the port. `cid` is 4294967295 (VMADDR_CID_ANY)
 * for a socket bound to any CID, as a listener usually is. It has a `port` as an
 * {@link InetAddress} has: tell them apart by `cid`.
 */
export interface VsockAddress {
  readonly cid: number;
  readonly port: number;
}

/**
 * A netlink socket (AF_NETLINK): its port id, which the kernel gives the first socket of a
 * process as the pid unless it was bound to another, and the bit mask of the multicast groups
 * it was bound to (0 for none).
 */
export interface NetlinkAddress {
  readonly portid: number;
  readonly groups: number;
}

/** A socket with no name (a unix socketpair; a unix, vsock or netlink socket never bound). */
export interface UnnamedAddress {
  readonly unnamed: true;
}

/**
 * Every address a socket descriptor may report. Each kind has a property of its own: `address`
 * (inet, with `port` unless raw), `path`, `abstract`, `cid` (vsock, with `port`), `portid`
 * (netlink) or `unnamed`.
 */
export type SocketAddress = InetAddress | RawInetAddress | UnixPathAddress | AbstractAddress | VsockAddress | NetlinkAddress | UnnamedAddress;

/**
 * Decodes the bytes of a unix socket name as getsockname returned them (leading NUL for
 * an abstract name, nothing at all for an unnamed socket).
 */
export function unixAddress(bytes: Uint8Array): UnixPathAddress | AbstractAddress | UnnamedAddress {
  if (bytes.length === 0) return { unnamed: true };
  if (bytes[0] === 0) {
    const raw = Buffer.from(bytes.subarray(1));
    return { abstract: raw.toString('utf8'), raw };
  }
  const raw = Buffer.from(bytes);
  return { path: raw.toString('utf8'), raw };
}

/** Whether `value` is a TCP/UDP port number: an integer from 0 to 65535. */
export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;
}

/**
 * Formats any socket address for messages: `127.0.0.1:80`, `[::]:443`, `[fe80::1%eth0]:80`,
 * `/run/app.sock`, `@name`, `vsock:2:1024` (as NOTIFY_SOCKET writes one), `netlink:1234`
 * (`netlink:1234 (groups 0x1)`); a raw socket's without a port. Control characters in a unix name
 * are escaped (`@app\x00v2`, `/tmp/a\nb`, C1 ones as `\u0085`), bytes that are not UTF-8 written
 * as `\xff`, and a backslash doubled (`/tmp/a\\b`): a name may hold any byte, a message must stay
 * one line and say which bytes it holds.
 * @throws ERR_INVALID_ARGUMENT for an address that is not an object (nor undefined).
 */
export function formatAddress(address: SocketAddress | undefined): string {
  if (address === undefined || address === null) return 'no address';
  // The `in` tests below throw V8's own TypeError on anything but an object.
  if (typeof address !== 'object') {
    throw new SocketActivationError(
      'ERR_INVALID_ARGUMENT',
      `formatAddress(): the address must be a socket address (an object, as inspect() and listeners() give them) or undefined; found ${shownValue(address)}.`,
      { argument: 'address', expected: 'SocketAddress | undefined', found: address },
    );
  }
  if ('cid' in address) return `vsock:${address.cid}:${address.port}`;
  if ('portid' in address) return `netlink:${address.portid}${address.groups !== 0 ? ` (groups 0x${address.groups.toString(16)})` : ''}`;
  if ('port' in address) return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  if ('address' in address) return address.address;
  if ('path' in address) return printableName(address.path, address.raw);
  if ('abstract' in address) return `@${printableName(address.abstract, address.raw)}`;
  return '(unnamed)';
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * `text` with its control characters escaped as `\n`, `\r`, `\t`, `\xNN` (C0 and DEL, one byte
 * each) or `\u00NN` (C1, two bytes in UTF-8: `\xNN` is left to mean one byte, as in a unix name
 * that is not UTF-8), and a backslash as `\\`, for a name or path inside a message. The
 * backslash too: otherwise a name spelling `a\x1bb` would print as one holding ESC. Other
 * characters are kept, so a plain path reads as itself.
 * @internal
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => ESCAPES[c] ?? (c >= '\x80' ? `\\u00${c.charCodeAt(0).toString(16)}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

// The length of the UTF-8 sequence at raw[at], or 0 where the byte starts none.
function sequenceAt(raw: Buffer, at: number): number {
  for (let n = 1; n <= 4 && at + n <= raw.length; n++) {
    try {
      UTF8.decode(raw.subarray(at, at + n));
      return n;
    } catch {
      // incomplete or invalid: try one more byte
    }
  }
  return 0;
}

// A unix name for a message: `text` decoded has U+FFFD where the name's bytes are not UTF-8,
// which would hide them, so those bytes are written as `\xNN` from `raw`.
function printableName(text: string, raw: Buffer | undefined): string {
  if (raw === undefined || !text.includes('\ufffd')) return printable(text);
  return printableBytes(raw);
}

/**
 * Bytes meant as UTF-8 text, for a message: as {@link printable}, and a byte that is not part of
 * a UTF-8 sequence written as `\xNN`.
 * @internal
 */
export function printableBytes(raw: Buffer): string {
  let out = '';
  for (let at = 0; at < raw.length; ) {
    const n = sequenceAt(raw, at);
    out += n === 0 ? `\\x${raw[at]!.toString(16).padStart(2, '0')}` : printable(raw.toString('utf8', at, at + n));
    at += n === 0 ? 1 : n;
  }
  return out;
}
