import { shownValue, SocketActivationError } from './errors.js';

/** Where NOTIFY_SOCKET points: a unix datagram socket (path or abstract) or an AF_VSOCK port. */
export type NotifyAddress =
  | {
      readonly kind: 'unix';
      /** As written in NOTIFY_SOCKET (`/run/…` or `@name`), for messages. */
      readonly text: string;
      /** sun_path without a terminator; abstract names start with a 0 byte and are sent at their exact length. */
      readonly bytes: Buffer;
    }
  | {
      readonly kind: 'vsock';
      readonly text: string;
      readonly cid: number;
      readonly port: number;
      /** `vsock:` lets the transport decide (datagram, then seqpacket, then stream). */
      readonly type: 'auto' | 'stream' | 'dgram' | 'seqpacket';
    };

// sizeof(sockaddr_un.sun_path) on Linux; a path needs room for its terminator there.
const SUN_PATH = 108;
const UINT32 = /^(0|[1-9][0-9]{0,9})$/;
// vsock_parse_cid() also takes these names.
const NAMED_CIDS: Record<string, number> = { hypervisor: 0, local: 1, host: 2 };
const VSOCK_PREFIXES = { 'vsock:': 'auto', 'vsock-stream:': 'stream', 'vsock-dgram:': 'dgram', 'vsock-seqpacket:': 'seqpacket' } as const;

function bad(value: string, found: string, extra = ''): SocketActivationError {
  return new SocketActivationError(
    'ERR_NOTIFY_SOCKET',
    `NOTIFY_SOCKET=${JSON.stringify(value)} is not a notify socket address: ${found}. ` +
      `Expected an absolute path (/run/…), an abstract name (@name) or vsock:CID:PORT, as sd_notify(3) describes.${extra} ` +
      'It is set by the service manager for Type=notify services: unset it, or fix what set it.',
    { variable: 'NOTIFY_SOCKET', expected: '/path | @abstract | vsock:CID:PORT', found: value },
  );
}

function uint32(text: string): number | undefined {
  if (!UINT32.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xffff_ffff ? n : undefined;
}

/**
 * Parses NOTIFY_SOCKET as libsystemd does: `/path`, `@abstract`, `vsock:CID:PORT` (and the
 * `vsock-stream:`, `vsock-dgram:`, `vsock-seqpacket:` forms). Unset or empty means there is no
 * manager to tell.
 *
 * @throws ERR_NOTIFY_SOCKET for anything else (a relative path, `/` alone, a name too long for
 * sun_path with its terminator, an empty abstract name, a vsock address without a CID or with a
 * bad number); ERR_INVALID_ARGUMENT for a value that is not a string.
 */
export function parseNotifyAddress(value: string | undefined): NotifyAddress | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `parseNotifyAddress(): the value must be a string (as NOTIFY_SOCKET holds) or undefined; found ${shownValue(value)}.`, {
      argument: 'value',
      expected: 'string | undefined',
      found: value,
    });
  }
  if (value.startsWith('/') || value.startsWith('@')) {
    const abstract = value.startsWith('@');
    const body = Buffer.from(abstract ? value.slice(1) : value, 'utf8');
    if (abstract && body.length === 0) throw bad(value, 'the abstract name is empty');
    if (value === '/') throw bad(value, 'it names the root directory, not a socket');
    if (body.includes(0)) throw bad(value, 'it contains a NUL byte');
    // libsystemd's sockaddr_un_set_path() keeps a terminating NUL inside sun_path for both forms
    // (the manager binds its own socket with it too): 107 bytes of path, 106 of abstract name.
    const room = SUN_PATH - 1 - (abstract ? 1 : 0);
    if (body.length > room) throw bad(value, `it is ${body.length} bytes long, more than the ${room} that fit in sun_path`);
    return { kind: 'unix', text: value, bytes: abstract ? Buffer.concat([Buffer.alloc(1), body]) : body };
  }
  for (const [prefix, type] of Object.entries(VSOCK_PREFIXES)) {
    if (!value.startsWith(prefix)) continue;
    const rest = value.slice(prefix.length);
    const colon = rest.lastIndexOf(':');
    if (colon < 0) throw bad(value, 'the port is missing');
    const cidText = rest.slice(0, colon);
    if (cidText === '') throw bad(value, 'the CID is empty', ' A notify address needs a specific CID (libsystemd refuses VMADDR_CID_ANY).');
    const cid = NAMED_CIDS[cidText] ?? uint32(cidText);
    const port = uint32(rest.slice(colon + 1));
    if (cid === undefined || cid === 0xffff_ffff) throw bad(value, `the CID ${JSON.stringify(cidText)} is not a number from 0 to 4294967294 (or hypervisor, local, host)`);
    if (port === undefined) throw bad(value, `the port ${JSON.stringify(rest.slice(colon + 1))} is not a number from 0 to 4294967295`);
    return { kind: 'vsock', text: value, cid, port, type };
  }
  throw bad(value, value.includes(':') ? 'the address family is unknown' : 'it is a relative path');
}
