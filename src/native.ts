import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** JSON text held by the addon (an External): passed back to it without a copy. */
export type NativeText = { readonly __nativeText: unique symbol };

/** The private binding (native/*.cc). Every call returns a result or `-errno`; never throws for a syscall failure. */
export interface Native {
  /** A JSON array of one Descriptor (`name` null, abstract `raw` bytes in hex), or -errno when fstat failed. */
  inspect(fd: number): string | number;
  /**
   * The descriptors of fds `start`.. (at most `count`) as JSON arrays to concatenate
   * (written as by inspect(), after those of `previous`), each fd made close-on-exec,
   * stopping before the first fd that is not open or not a socket, file, directory or
   * device (unless `acceptFirst`): `next` is the first fd not passed, `error` a -errno from
   * setting FD_CLOEXEC on it (else 0). `text` holds the same JSON for registry() and
   * `previous`.
   */
  inspectRange(start: number, count: number, acceptFirst: boolean, previous?: NativeText): { json: string[]; text: NativeText; next: number; error: number };
  setCloexec(fd: number, on: boolean): number;
  dup(fd: number): number;
  close(fd: number): number;
  /** What the first judge of this process stored: the verdict and the inherited fds' descriptors (JSON). */
  registry(): [verdict: string, descriptors: string[]] | undefined;
  registry(verdict: string, descriptors?: NativeText): true | [verdict: string, descriptors: string[]];
  socket(domain: number, type: number, protocol?: number): number;
  bindInet(fd: number, domain: number, host: string, port: number): number;
  bindUnix(fd: number, path: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  setIntOption(fd: number, level: number, name: number, value: number): number;
  pidfdId(): bigint | number;
  constants: {
    AF_UNIX: number;
    AF_INET: number;
    AF_INET6: number;
    SOCK_STREAM: number;
    SOCK_DGRAM: number;
    SOCK_SEQPACKET: number;
    SOCK_RAW: number;
    SOL_SOCKET: number;
    SO_REUSEADDR: number;
    IPPROTO_IPV6: number;
    IPV6_V6ONLY: number;
    O_NONBLOCK: number;
    FD_CLOEXEC: number;
  };
}

let binding: Native | undefined;

/**
 * Loads the addon on first use (prebuild or local build, found by node-gyp-build from the
 * package root), so that importing the package never fails on a platform without it.
 */
export function native(): Native {
  if (!binding) {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => Native;
    binding = load(fileURLToPath(new URL('..', import.meta.url)));
  }
  return binding;
}

/** Whether this platform has the addon at all (POSIX); Windows reports "not activated". */
export const nativeSupported = process.platform !== 'win32';
