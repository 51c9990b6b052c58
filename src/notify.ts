import { readFileSync } from 'node:fs';
import net from 'node:net';
import { constants } from 'node:os';
import { printable } from './address.js';
import { now } from './clock.js';
import { addressException, errnoException, shownValue, SocketActivationError } from './errors.js';
import { isTimerMs, TIMER_MS_EXPECTED } from './milliseconds.js';
import { native, nativeSupported } from './native.js';
import { parseNotifyAddress, type NotifyAddress } from './notify-address.js';
import { checkRawMessage, encodeFields, type NotifyFields } from './notify-message.js';
import { throughPredecessor, toPredecessor } from './successor.js';
import { unsetSupervisorDirectory } from './successor-serving.js';

/** Options for every function that tells the service manager something. */
export interface NotifyOptions {
  /**
   * Remove NOTIFY_SOCKET (and the launcher's SOCKET_ACTIVATION_SUPERVISOR_DIR) from
   * `process.env` after this message, so child processes cannot talk to the manager in this
   * service's name. This package remembers the address, so its later messages still arrive.
   * @default false
   */
  readonly unsetEnvironment?: boolean;
  /**
   * Milliseconds to keep retrying while the manager's receive queue is full (the send never
   * blocks the event loop: it is retried from a timer). Then the promise rejects with ETIMEDOUT.
   * @default 30000
   */
  readonly timeout?: number;
}

/** {@link notify} options: also fds to pass with SCM_RIGHTS (kept open by the caller until the promise settles). */
export interface NotifyWithFdsOptions extends NotifyOptions {
  readonly fds?: readonly number[];
}

interface Job {
  readonly address: NotifyAddress;
  readonly message: Buffer;
  readonly fds: Int32Array;
  /** The end of the retries of EAGAIN, by now() (src/clock.ts). */
  readonly deadline: number;
  readonly resolve: (told: boolean) => void;
  readonly reject: (err: Error) => void;
  delay: number;
}

const EAGAIN = -constants.errno.EAGAIN;
const ETIMEDOUT = -constants.errno.ETIMEDOUT;
const EOPNOTSUPP = -constants.errno.EOPNOTSUPP;
const DEFAULT_TIMEOUT = 30_000;
const VSOCK_TIMEOUT = 5_000;
const VSOCK_TYPES = { auto: 0, stream: 1, dgram: 2, seqpacket: 5 } as const;
const queue: Job[] = [];
let retryTimer: NodeJS.Timeout | undefined;
// Set by unsetEnvironment, so this package keeps its manager after the variable is gone.
let remembered: NotifyAddress | undefined;
let parsed: { text: string; address: NotifyAddress } | undefined;

/**
 * The notify socket this process would use now: NOTIFY_SOCKET, or the address remembered
 * when an earlier call removed the variable. `undefined` when there is no manager to tell.
 *
 * @throws ERR_NOTIFY_SOCKET when NOTIFY_SOCKET is set but not a valid address.
 */
export function notifyAddress(): NotifyAddress | undefined {
  const text = process.env.NOTIFY_SOCKET;
  if (text === undefined || text === '') return remembered;
  if (parsed?.text !== text) parsed = { text, address: withStartBytes(parseNotifyAddress(text)!, text) };
  return parsed.address;
}

// Node decodes the environment as UTF-8, with U+FFFD for bytes that are not: a NOTIFY_SOCKET
// path holding such bytes would be sent to as another file (ENOENT). /proc/self/environ (Linux)
// still has the bytes the process started with; they are used while the variable holds the
// text they decode to. Each invalid byte decodes to three, so they fit sun_path if the text did.
function withStartBytes(address: NotifyAddress, text: string): NotifyAddress {
  if (address.kind !== 'unix' || !text.includes('\ufffd')) return address;
  let environ: Buffer;
  try {
    environ = readFileSync('/proc/self/environ');
  } catch {
    return address;
  }
  const key = Buffer.from('NOTIFY_SOCKET=');
  for (let at = 0; at < environ.length; ) {
    const nul = environ.indexOf(0, at);
    const end = nul < 0 ? environ.length : nul;
    const entry = environ.subarray(at, end);
    at = end + 1;
    if (!entry.subarray(0, key.length).equals(key)) continue;
    const raw = Buffer.from(entry.subarray(key.length));
    if (raw.toString('utf8') !== text) return address;
    return { ...address, bytes: text.startsWith('@') ? Buffer.concat([Buffer.alloc(1), raw.subarray(1)]) : raw };
  }
  return address;
}

function unsetIfAsked(options: NotifyOptions | undefined, address: NotifyAddress | undefined): void {
  if (!options?.unsetEnvironment) return;
  if (address) remembered = address;
  delete process.env.NOTIFY_SOCKET;
  unsetSupervisorDirectory();
}

function checkTimeout(timeout: unknown, fallback: number): number {
  if (timeout === undefined) return fallback;
  if (!isTimerMs(timeout)) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `timeout must be ${TIMER_MS_EXPECTED}, found ${String(timeout)}.`, {
      argument: 'timeout',
      expected: TIMER_MS_EXPECTED,
      found: timeout,
    });
  }
  return timeout;
}

// One try; `undefined` means "queue full, try again later".
function attemptUnix(job: Job): boolean | undefined {
  const address = job.address as Extract<NotifyAddress, { kind: 'unix' }>;
  const r = native().notifyUnix(address.bytes, job.message, job.fds);
  if (r === EAGAIN) return undefined;
  // Out of fds, it is the socket the message goes on that failed (sendmsg() allocates none).
  if (r === -constants.errno.EMFILE || r === -constants.errno.ENFILE) throw addressException(r, 'socket', address.text, 'no fd for a socket to NOTIFY_SOCKET');
  if (r === -constants.errno.EBADF) closedFd(job.fds, address.text);
  if (r < 0) throw addressException(r, 'sendmsg', address.text, 'NOTIFY_SOCKET');
  return true;
}

// sendmsg() fails with EBADF for any closed fd among those passed: name that fd, not the socket.
function closedFd(fds: Int32Array, address: string): void {
  for (const fd of fds) {
    if (native().inspect(fd) !== -constants.errno.EBADF) continue;
    const err = errnoException(-constants.errno.EBADF, 'sendmsg', fd, `passed with the message to NOTIFY_SOCKET ${printable(address)}, but it is not open: pass only open fds`);
    throw Object.assign(err, { address });
  }
}

function settle(job: Job, run: () => boolean | undefined): boolean {
  try {
    const told = run();
    if (told === undefined) return false;
    job.resolve(told);
  } catch (err) {
    job.reject(err as Error);
  }
  return true;
}

function sendVsock(job: Job): void {
  const address = job.address as Extract<NotifyAddress, { kind: 'vsock' }>;
  const send = native().notifyVsock;
  if (!send) {
    job.reject(addressException(EOPNOTSUPP, 'socket', address.text, 'AF_VSOCK exists on Linux only'));
    queue.shift();
    return pump();
  }
  send(address.cid, address.port, VSOCK_TYPES[address.type], job.message.toString('utf8'), VSOCK_TIMEOUT, (r, syscall) => {
    if (r < 0) job.reject(addressException(r, syscall, address.text, 'NOTIFY_SOCKET'));
    else job.resolve(true);
    queue.shift();
    pump();
  });
}

// Sends queued messages in order. A full queue at the manager (EAGAIN) is retried from a
// timer with growing delays; messages behind it wait, so the manager sees them in order.
function pump(): void {
  while (queue.length > 0 && !retryTimer) {
    const job = queue[0]!;
    if (job.address.kind === 'vsock') {
      // Waits on the thread pool; the callback continues the queue.
      return sendVsock(job);
    }
    if (!settle(job, () => attemptUnix(job))) {
      if (now() >= job.deadline) {
        job.reject(addressException(ETIMEDOUT, 'sendmsg', job.address.text, `the manager's queue stayed full; gave up after the timeout`));
        queue.shift();
        continue;
      }
      retryTimer = setTimeout(() => {
        retryTimer = undefined;
        pump();
      }, job.delay);
      job.delay = Math.min(job.delay * 2, 50);
      return;
    }
    queue.shift();
  }
}

/**
 * Sends one message (and optionally fds) to the manager, in order with earlier messages.
 * Resolves `false` when there is no manager (NOTIFY_SOCKET unset), `true` once sent.
 * @internal
 */
export function send(message: string, fds: readonly number[], options: NotifyOptions | undefined): Promise<boolean> {
  let address: NotifyAddress | undefined;
  try {
    const timeout = checkTimeout(options?.timeout, DEFAULT_TIMEOUT);
    address = nativeSupported ? notifyAddress() : undefined;
    // A hot-upgrade successor speaks through its predecessor until it is the main process
    // (the same checks and `unsetEnvironment` apply; the predecessor sends with its own timeout;
    // one gone meanwhile leaves the message to this process).
    if (fds.length === 0 && throughPredecessor()) return toPredecessor(message, timeout).then((sent) => sent || send(message, fds, options));
    if (!address) return Promise.resolve(false);
    if (address.kind === 'vsock' && fds.length > 0) {
      throw addressException(EOPNOTSUPP, 'sendmsg', address.text, 'fds cannot be passed over AF_VSOCK; the fd store needs a unix notify socket');
    }
    const promise = new Promise<boolean>((resolve, reject) => {
      queue.push({ address: address!, message: Buffer.from(message, 'utf8'), fds: Int32Array.from(fds), deadline: now() + timeout, resolve, reject, delay: 1 });
    });
    // Sent before this call returns when nothing is waiting: a `stopping()` right before
    // `process.exit()` still reaches the manager.
    if (queue.length === 1) pump();
    return promise;
  } catch (err) {
    return Promise.reject(err);
  } finally {
    unsetIfAsked(options, address);
  }
}

/**
 * Tells the service manager something (sd_notify). `message` is either assignments, encoded
 * and checked for you (`{ READY: true, STATUS: 'up' }`), or a raw `KEY=VALUE\n…` string
 * checked line by line. Values with a newline or NUL byte are refused, so text from outside
 * can never add an assignment.
 *
 * @returns `true` once sent, `false` when NOTIFY_SOCKET is unset (nothing was told).
 * @throws (rejects) ERR_NOTIFY_MESSAGE (also for a value of another kind than string, number,
 * bigint or true), ERR_NOTIFY_SOCKET, ERR_INVALID_ARGUMENT (a message that is neither
 * assignments nor a string), or a system error (`syscall` 'sendmsg', `address`), e.g. ECONNREFUSED when nothing listens there any more, or EBADF
 * with `fd` for a closed fd in `fds`.
 */
export function notify(message: string | NotifyFields, options?: NotifyWithFdsOptions): Promise<boolean> {
  let text: string;
  try {
    if (typeof message !== 'string' && (typeof message !== 'object' || message === null || Array.isArray(message))) {
      throw new SocketActivationError('ERR_INVALID_ARGUMENT', `notify() needs assignments ({ READY: true, … }) or a KEY=VALUE string, found ${message === null ? 'null' : Array.isArray(message) ? 'an array' : typeof message}.`, {
        argument: 'message',
        expected: 'object or string',
        found: message,
      });
    }
    checkFds(options?.fds);
    text = typeof message === 'string' ? checkRawMessage(message) : encodeFields(message);
  } catch (err) {
    unsetIfAsked(options, undefined);
    return Promise.reject(err);
  }
  return send(text, options?.fds ?? [], options);
}

// Int32Array.from() would make "x", 1.5 or true into fds 0 and 1: stdin and stdout sent away.
function checkFds(fds: unknown): void {
  if (fds === undefined) return;
  const bad = Array.isArray(fds) ? fds.find((fd) => !Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) : fds;
  if (Array.isArray(fds) && bad === undefined) return;
  throw new SocketActivationError('ERR_INVALID_ARGUMENT', `notify()'s fds must be an array of open fd numbers (integers >= 0), found ${Array.isArray(fds) ? `${shownValue(bad)} in it` : shownValue(fds)}.`, {
    argument: 'fds',
    expected: 'integer fds >= 0',
    found: fds,
  });
}

/** `READY=1` (with `STATUS=` when given): start-up is finished; a Type=notify unit becomes active. */
export function ready(statusText?: string, options?: NotifyOptions): Promise<boolean> {
  return notify(statusText === undefined ? { READY: true } : { READY: true, STATUS: statusText }, options);
}

/** `STATUS=…`: one line shown by `systemctl status` (newlines are refused). */
export function status(text: string, options?: NotifyOptions): Promise<boolean> {
  return notify({ STATUS: text }, options);
}

/** `STOPPING=1`: shutdown has begun. */
export function stopping(options?: NotifyOptions): Promise<boolean> {
  return notify({ STOPPING: true }, options);
}

/**
 * `RELOADING=1` with `MONOTONIC_USEC=` (CLOCK_MONOTONIC now), as Type=notify-reload
 * (systemd ≥ 253) requires; older managers ignore the timestamp. Send {@link ready} when done.
 */
export function reloading(options?: NotifyOptions): Promise<boolean> {
  return notify({ RELOADING: true, MONOTONIC_USEC: process.hrtime.bigint() / 1000n }, options);
}

/** `ERRNO=…`: why the service failed, as an errno number or name (`'ENOENT'`). */
export function reportErrno(errno: number | string, options?: NotifyOptions): Promise<boolean> {
  let n = errno;
  if (typeof errno === 'string') n = (constants.errno as Record<string, number>)[errno] ?? NaN;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    return Promise.reject(
      new SocketActivationError('ERR_INVALID_ARGUMENT', `reportErrno(): errno must be a positive errno number or a name such as 'ENOENT', found ${shownValue(errno)}.`, {
        argument: 'errno',
        expected: 'errno number or name',
        found: errno,
      }),
    );
  }
  return notify({ ERRNO: n }, options);
}

/** `MAINPID=…`: another process is now the service's main process (hand-over on upgrade). */
export function mainPid(pid: number, options?: NotifyOptions): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) {
    return Promise.reject(new SocketActivationError('ERR_INVALID_ARGUMENT', `mainPid(): pid must be a positive integer (a pid_t), found ${String(pid)}.`, { argument: 'pid', expected: 'pid 1..2147483647', found: pid }));
  }
  return notify({ MAINPID: pid }, options);
}

/**
 * `EXTEND_TIMEOUT_USEC=…`: asks for `ms` more milliseconds from now before the current start,
 * stop or reload timeout (TimeoutStartSec=/TimeoutStopSec=) fires. Send it again before it runs out.
 */
export function extendTimeout(ms: number, options?: NotifyOptions): Promise<boolean> {
  // In µs it must stay an exact integer: at most about 285 years.
  if (typeof ms !== 'number' || !(ms > 0) || ms * 1000 > Number.MAX_SAFE_INTEGER) {
    return Promise.reject(
      new SocketActivationError('ERR_INVALID_ARGUMENT', `extendTimeout needs milliseconds > 0 and at most ${Math.floor(Number.MAX_SAFE_INTEGER / 1000)}, found ${String(ms)}.`, { argument: 'ms', expected: 'ms > 0', found: ms }),
    );
  }
  return notify({ EXTEND_TIMEOUT_USEC: Math.ceil(ms * 1000) }, options);
}

/**
 * `BARRIER=1` (sd_notify_barrier): resolves once the manager has processed every message
 * sent before it — e.g. before exiting right after `MAINPID=` or `FDSTORE=1`. Waits through
 * the event loop for the manager to close a pipe; never blocks.
 *
 * @returns `false` when there is no manager.
 * @throws (rejects) ETIMEDOUT (`syscall` 'poll') after `timeout` ms (default 5000).
 */
export function barrier(options?: NotifyOptions): Promise<boolean> {
  let address: NotifyAddress | undefined;
  let timeout: number;
  try {
    timeout = checkTimeout(options?.timeout, 5_000);
    address = nativeSupported ? notifyAddress() : undefined;
  } catch (err) {
    return Promise.reject(err);
  }
  if (!address) {
    unsetIfAsked(options, undefined);
    return Promise.resolve(false);
  }
  const ends = native().pipe();
  if (typeof ends === 'number') return Promise.reject(addressException(ends, 'pipe', address.text, 'BARRIER=1'));
  const [readEnd, writeEnd] = ends;
  const sent = send('BARRIER=1', [writeEnd], options).finally(() => native().close(writeEnd));
  return sent.then(
    (told) => {
      if (!told) {
        native().close(readEnd);
        return false;
      }
      return waitForHangUp(readEnd, timeout, address!.text);
    },
    (err: unknown) => {
      native().close(readEnd);
      throw err;
    },
  );
}

// The manager closes its copy of the write end once it reaches BARRIER=1: EOF on ours.
function waitForHangUp(readEnd: number, timeout: number, text: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const pipe = new net.Socket({ fd: readEnd, readable: true, writable: false });
    const timer = setTimeout(() => {
      pipe.destroy();
      reject(addressException(ETIMEDOUT, 'poll', text, `BARRIER=1: the manager did not answer within ${timeout} ms`));
    }, timeout);
    pipe.once('end', () => {
      clearTimeout(timer);
      pipe.destroy();
      resolve(true);
    });
    pipe.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    pipe.resume();
  });
}
