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

/** A unix socket bound to a file-system path. */
export interface UnixPathAddress {
  readonly path: string;
}

/**
 * A unix socket in the Linux abstract namespace. `abstract` is the name without the leading
 * NUL, decoded as UTF-8 for display; `raw` keeps the exact bytes, since names may hold any.
 */
export interface AbstractAddress {
  readonly abstract: string;
  readonly raw: Buffer;
}

/** A unix socket with no name (socketpair, or never bound). */
export interface UnnamedAddress {
  readonly unnamed: true;
}

/** Every address a socket descriptor may report. */
export type SocketAddress = InetAddress | RawInetAddress | UnixPathAddress | AbstractAddress | UnnamedAddress;

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
  return { path: Buffer.from(bytes).toString('utf8') };
}

/** Whether `value` is a TCP/UDP port number: an integer from 0 to 65535. */
export function isPort(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;
}

/**
 * Formats any socket address for messages: `127.0.0.1:80`, `[::]:443`, `[fe80::1%eth0]:80`,
 * `/run/app.sock`, `@name`; a raw socket's without a port. Control characters in a unix name
 * are escaped (`@app\x00v2`, `/tmp/a\nb`), and a backslash is doubled (`/tmp/a\\b`): a name may
 * hold any byte, a message must stay one line and say which bytes it holds.
 */
export function formatAddress(address: SocketAddress | undefined): string {
  if (!address) return 'no address';
  if ('port' in address) return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  if ('address' in address) return address.address;
  if ('path' in address) return printable(address.path);
  if ('abstract' in address) return `@${printable(address.abstract)}`;
  return '(unnamed)';
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/**
 * `text` with its control characters (C0, DEL, C1) escaped as `\n`, `\r`, `\t` or `\xNN`,
 * and a backslash as `\\`, for a name or path inside a message. The backslash too: otherwise
 * a name spelling `a\x1bb` would print as one holding ESC. Other characters are kept, so a
 * plain path reads as itself.
 * @internal
 */
export function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => ESCAPES[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
