import { constants } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { SocketActivationError } from './errors.js';
import { loadAddon, packageRoot } from './load-addon.cjs';

/** JSON text held by the addon (an External): passed back to it without a copy. */
export type NativeText = { readonly __nativeText: unique symbol };

/** The private binding (native/*.cc). Every call returns a result or `-errno`; never throws for a syscall failure. */
export interface Native {
  /** A JSON array of one Descriptor (`name` null, a unix name's `raw` bytes in hex), or -errno when fstat failed. */
  inspect(fd: number): string | number;
  /**
   * Inspects fds `start`.. (at most `count`), each made close-on-exec, stopping before the
   * first fd that is not open or not a socket, file, directory, device or O_PATH fd (unless
   * `acceptFirst`): `next` is the first fd not passed, `error` a -errno from setting
   * FD_CLOEXEC on it (else 0). `text` goes on as `previous` in the next call. Only when every
   * fd passed, `json` holds the descriptors of this call and of those before it (`previous`),
   * as JSON arrays to concatenate (written as by inspect()). With `verdict` (or null: check,
   * do not store), the registry in the same call: `registry` is what registry() held before
   * (then nothing else is returned: nothing was inspected), or true when every fd passed and
   * `verdict` was stored with them, or what another thread stored meanwhile. `text`, when
   * nothing was stored, holds the same JSON for registry().
   */
  inspectRange(start: number, count: number, acceptFirst: boolean, previous?: NativeText, verdict?: string | null): InspectedRange;
  setCloexec(fd: number, on: boolean): number;
  dup(fd: number): number;
  close(fd: number): number;
  /** What the first judge of this process stored: the verdict and the inherited fds' descriptors (JSON). */
  registry(): Stored | undefined;
  registry(verdict: string, descriptors?: NativeText): true | Stored;
  socket(domain: number, type: number, protocol?: number): number;
  bindInet(fd: number, domain: number, host: string, port: number): number;
  bindUnix(fd: number, path: Uint8Array): number;
  listen(fd: number, backlog: number): number;
  setIntOption(fd: number, level: number, name: number, value: number): number;
  /** The uid that made the other end of a connected unix socket (SO_PEERCRED), or -errno (-ENOTSUP: the platform cannot say). */
  peerUid(fd: number): number;
  pidfdId(): bigint | number;
  pipe(): [number, number] | number;
  /** Whether JSON text may reach JavaScript as external strings (the main thread only: see inspect.cc). */
  useExternalStrings(on: boolean): void;
  /** 1 when both fds are one open file description (kcmp KCMP_FILE, as systemd's same_fd()), 0 when not, else -errno. */
  sameFile(a: number, b: number): number;
  /** Per fd, the bits of {@link PollState} (READABLE only when asked for). Never waits. */
  pollNow(fds: Int32Array, readable: boolean): Int32Array | number;
  claim(fd: number): boolean;
  claimed(fd: number): boolean;
  unclaim(fd: number): void;
  notifyUnix(path: Uint8Array, message: Uint8Array, fds: Int32Array): number;
  /** Linux only. `type` 0 tries datagram, then seqpacket, then stream. */
  notifyVsock?(cid: number, port: number, type: number, message: string, timeoutMs: number, done: (result: number, syscall: string) => void): void;
  /** Calls `onReadable(status)` from the event loop whenever `fd` is readable (status < 0: a libuv error). */
  Watcher: new (fd: number, onReadable: (status: number) => void) => NativeWatcher;
  receive(fd: number): Received | number;
  socketPair(type: number): [number, number] | number;
  sendOn(fd: number, message: Uint8Array, fds: Int32Array): number;
  /** posix_spawn() on the thread pool: `fds[i]` at 3 + i in the child; `done` gets the pid or -errno. */
  spawn(path: string, argv: readonly string[], envp: readonly string[], fds: Int32Array, done: (pid: number) => void): void;
  reap(pid: number, leave?: boolean): { code?: number; signal?: number } | number;
  becomeSubreaper(): number;
  /** RLIMIT_CORE 0: no core dump of this process (before it re-raises a child's signal). */
  noCoreDump(): number;
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

/** The name of a signal number, as {@link Native.reap} reports it; undefined for one Node does not know. */
export function signalName(signal: number): NodeJS.Signals | undefined {
  return Object.entries(constants.signals).find(([, n]) => n === signal)?.[0] as NodeJS.Signals | undefined;
}

/** Bits of what {@link Native.pollNow} reports per fd. */
export const PollState = { READABLE: 1, HUNG_UP: 2, NOT_OPEN: 4 } as const;

/** What {@link Native.inspectRange} returns. */
export type InspectedRange =
  | { json?: string[]; next: number; error: number; text?: NativeText; registry?: Stored | true }
  | { registry: Stored; next?: undefined; json?: undefined };

/** What registry() holds: the verdict and the inherited fds' descriptors (JSON arrays). */
export type Stored = [verdict: string, descriptors: string[]];

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
      binding.useExternalStrings(isMainThread);
    } catch (err) {
      const found = String((err as Error).message ?? err).split('\n')[0];
      const build =
        'install python3, make and a C++ compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++), ' +
        'then run `npm rebuild socket-activation`.';
      // node-gyp-build's words when nothing fits; else a binary was found and its loader says why it failed.
      const missing = /^No native build was found/.test(found ?? '') ? prebuiltPlatform() : undefined;
      throw new SocketActivationError(
        'ERR_ADDON_NOT_LOADED',
        missing
          ? `The native addon of socket-activation could not be loaded (${found}). This platform (${missing}, glibc) has a prebuilt binary, but it is missing ` +
              `from this install: ${join(safePackageRoot(), 'prebuilds', missing)}/ is not there. Reinstall the package (npm ci), and keep its prebuilds/ directory ` +
              `when copying or bundling node_modules; or build the addon here: ${build}`
          : `The native addon of socket-activation could not be loaded (${found}). Prebuilt binaries cover Linux x64 and arm64 with glibc 2.28 or newer; ` +
              `anywhere else build it from source: ${build}`,
        { platform: `${process.platform}-${process.arch}`, cause: err },
      );
    }
  }
  return binding;
}

/** The prebuilds/ directory made for this platform (Linux x64 or arm64, glibc 2.28 or newer), if one is. */
function prebuiltPlatform(): string | undefined {
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return undefined;
  const glibc = /^(\d+)\.(\d+)/.exec(String((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime ?? ''));
  return glibc && (Number(glibc[1]) > 2 || (Number(glibc[1]) === 2 && Number(glibc[2]) >= 28)) ? `linux-${process.arch}` : undefined;
}

function safePackageRoot(): string {
  try {
    return packageRoot();
  } catch {
    return 'the package';
  }
}

/** Whether this platform has the addon at all (POSIX); Windows reports "not activated". */
export const nativeSupported = process.platform !== 'win32';
