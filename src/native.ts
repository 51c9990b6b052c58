import { SocketActivationError } from './errors.js';
import { loadAddon } from './load-addon.cjs';

/** The private binding (native/*.cc). Every call returns a result or `-errno`; never throws for a syscall failure. */
export interface Native {
  inspect(fd: number, info: Float64Array, bytes: Uint8Array): number;
  setCloexec(fd: number, on: boolean): number;
  dup(fd: number): number;
  close(fd: number): number;
  registry(): string | undefined;
  registry(value: string): true | string;
  socket(domain: number, type: number, protocol?: number): number;
  bindInet(fd: number, domain: number, host: string, port: number): number;
  bindUnix(fd: number, path: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  setIntOption(fd: number, level: number, name: number, value: number): number;
  pidfdId(): bigint | number;
  pipe(): [number, number] | number;
  claim(fd: number): boolean;
  notifyUnix(path: Uint8Array, message: Uint8Array, fds: Int32Array): number;
  /** Linux only. `type` 0 tries datagram, then seqpacket, then stream. */
  notifyVsock?(cid: number, port: number, type: number, message: string, timeoutMs: number, done: (result: number, syscall: string) => void): void;
  /** Calls `onReadable(status)` from the event loop whenever `fd` is readable (status < 0: a libuv error). */
  Watcher: new (fd: number, onReadable: (status: number) => void) => NativeWatcher;
  receive(fd: number): Received | number;
  socketPair(type: number): [number, number] | number;
  sendOn(fd: number, message: Uint8Array, fds: Int32Array): number;
  reap(pid: number): { code?: number; signal?: number } | number;
  constants: {
    AF_UNIX: number;
    AF_INET: number;
    AF_INET6: number;
    SOCK_STREAM: number;
    SOCK_DGRAM: number;
    SOCK_SEQPACKET: number;
    SOCK_RAW: number;
    SOL_SOCKET: number;
    SO_PASSCRED?: number;
    SO_REUSEADDR: number;
    IPPROTO_IPV6: number;
    IPV6_V6ONLY: number;
    O_NONBLOCK: number;
    FD_CLOEXEC: number;
  };
}

/** A readiness watch on an fd (native/watch.cc). */
export interface NativeWatcher {
  close(): void;
  ref(): void;
  unref(): void;
}

/** One datagram with its ancillary data (native/receive.cc). Received fds belong to the caller. */
export interface Received {
  data: Buffer;
  /** Sender credentials (SO_PASSCRED); pid 0 when none came. */
  pid: number;
  uid?: number;
  gid?: number;
  fds: number[];
  /** The datagram or its fds did not fit (MSG_TRUNC / MSG_CTRUNC). */
  truncated: boolean;
}

let binding: Native | undefined;

/**
 * Loads the addon on first use (prebuild or local build, found by node-gyp-build from the
 * package root), so that importing the package never fails on a platform without it.
 */
export function native(): Native {
  if (!binding) {
    try {
      binding = loadAddon() as Native;
    } catch (err) {
      const found = String((err as Error).message ?? err).split('\n')[0];
      throw new SocketActivationError(
        'ERR_ADDON_NOT_LOADED',
        `The native addon of socket-activation could not be loaded (${found}). Prebuilt binaries cover Linux x64 and arm64 with glibc 2.28 or newer; ` +
          'anywhere else build it from source: install python3, make and a C++ compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++), ' +
          'then run `npm rebuild socket-activation`.',
        { platform: `${process.platform}-${process.arch}`, cause: err },
      );
    }
  }
  return binding;
}

/** Whether this platform has the addon at all (POSIX); Windows reports "not activated". */
export const nativeSupported = process.platform !== 'win32';
