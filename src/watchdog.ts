import { SocketActivationError, shownValue } from './errors.js';
import { notify, type NotifyOptions } from './notify.js';
import { unsetSupervisorDirectory } from './successor-serving.js';

/** What WATCHDOG_USEC and WATCHDOG_PID say for this process (sd_watchdog_enabled). */
export type WatchdogVerdict =
  | { readonly enabled: true; /** The interval the manager expects pings within, in µs. */ readonly usec: number }
  | {
      readonly enabled: false;
      /** `absent`: no WATCHDOG_USEC; `other-process`: WATCHDOG_PID names another process (we inherited it). */
      readonly reason: 'absent' | 'other-process';
      readonly watchdogPid?: number;
    };

// Plain decimal, as for LISTEN_*: libsystemd would read a leading 0 as octal (WATCHDOG_PID=0100 is pid 64).
const DIGITS = /^(0|[1-9][0-9]*)$/;
// systemd's USEC_INFINITY: "no watchdog" written as a number.
const USEC_INFINITY = 18446744073709551615n;
// The longest delay setInterval() takes (a signed 32-bit number of milliseconds).
const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * The rules of sd_watchdog_enabled() on an environment, as a pure function: WATCHDOG_USEC
 * absent → disabled; WATCHDOG_PID present and not `pid` → disabled (a child inherited it).
 * Stricter than libsystemd: only plain decimal is accepted (no sign, no spaces, no leading 0).
 *
 * @throws ERR_WATCHDOG_USEC when it is not a number, 0 or infinity; ERR_WATCHDOG_PID when
 * it is not a pid; ERR_INVALID_ARGUMENT for an `env` that is not an object or a `pid` that is
 * not a process id.
 */
export function judgeWatchdog(env: Readonly<Record<string, string | undefined>>, pid: number): WatchdogVerdict {
  if (typeof env !== 'object' || env === null) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `judgeWatchdog(): env must be an environment object (process.env, say); found ${shownValue(env)}.`, { argument: 'env', expected: 'object', found: env });
  }
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `judgeWatchdog(): pid must be a process id (an integer from 1 to 2147483647); found ${shownValue(pid)}.`, { argument: 'pid', expected: 'pid 1..2147483647', found: pid });
  }
  const usecText = env.WATCHDOG_USEC;
  if (usecText === undefined || usecText === '') return { enabled: false, reason: 'absent' };
  const usec = DIGITS.test(usecText) ? BigInt(usecText) : undefined;
  if (usec === undefined || usec === 0n || usec >= USEC_INFINITY) {
    throw new SocketActivationError(
      'ERR_WATCHDOG_USEC',
      `WATCHDOG_USEC=${JSON.stringify(usecText)} is not a watchdog interval: expected microseconds as a decimal number > 0 (and not infinity). ` +
        'systemd sets it from WatchdogSec=; fix or unset whatever set it.',
      { variable: 'WATCHDOG_USEC', expected: 'decimal microseconds > 0', found: usecText },
    );
  }
  const pidText = env.WATCHDOG_PID;
  if (pidText !== undefined) {
    const watchdogPid = DIGITS.test(pidText) ? Number(pidText) : NaN;
    if (!Number.isSafeInteger(watchdogPid) || watchdogPid <= 0 || watchdogPid > 0x7fff_ffff) {
      throw new SocketActivationError(
        'ERR_WATCHDOG_PID',
        `WATCHDOG_PID=${JSON.stringify(pidText)} is not a pid: expected a decimal number > 0. Fix or unset whatever set it.`,
        { variable: 'WATCHDOG_PID', expected: 'decimal pid > 0', found: pidText },
      );
    }
    if (watchdogPid !== pid) return { enabled: false, reason: 'other-process', watchdogPid };
  }
  return { enabled: true, usec: Number(usec) };
}

// WATCHDOG_USEC as the manager gave it to this process, kept when unsetEnvironment removes it:
// a hot upgrade's successor, the main process after it, must ping at the same interval.
let rememberedUsec: string | undefined;

/** WATCHDOG_USEC for a successor: the variable, or the value this process had before unsetting it. @internal */
export function watchdogUsecText(): string | undefined {
  return process.env.WATCHDOG_USEC ?? rememberedUsec;
}

/**
 * {@link judgeWatchdog} for this process. `unsetEnvironment` removes WATCHDOG_USEC and
 * WATCHDOG_PID (children cannot ping for the service); an interval that was this process's is
 * remembered, for startWatchdog() and a hot upgrade's successor.
 */
export function watchdogEnabled(options?: { readonly unsetEnvironment?: boolean }): WatchdogVerdict {
  let verdict: WatchdogVerdict | undefined;
  try {
    // Once unset here, the interval this process was given still holds (startWatchdog() after it).
    verdict = judgeWatchdog(process.env.WATCHDOG_USEC === undefined && rememberedUsec !== undefined ? { WATCHDOG_USEC: rememberedUsec } : process.env, process.pid);
    return verdict;
  } finally {
    if (options?.unsetEnvironment) {
      if (verdict?.enabled) rememberedUsec = process.env.WATCHDOG_USEC;
      delete process.env.WATCHDOG_USEC;
      delete process.env.WATCHDOG_PID;
      unsetSupervisorDirectory();
    }
  }
}

/** `WATCHDOG=1`: one keep-alive ping. */
export function watchdogPing(options?: NotifyOptions): Promise<boolean> {
  return notify({ WATCHDOG: true }, options);
}

/** `WATCHDOG=trigger`: ask the manager to act as if the watchdog had expired (restart per the unit). */
export function watchdogTrigger(options?: NotifyOptions): Promise<boolean> {
  return notify({ WATCHDOG: 'trigger' }, options);
}

/** A running pinger started by {@link startWatchdog}. */
export interface Watchdog {
  /** The interval the manager expects, in milliseconds. */
  readonly intervalMs: number;
  /** The time between pings, in milliseconds. */
  readonly pingEveryMs: number;
  /** Stops pinging. */
  stop(): void;
}

/** Options for {@link startWatchdog}. */
export interface WatchdogOptions {
  /**
   * Ping every `fraction` of the interval (0 < fraction ≤ 0.5; sd_watchdog_enabled(3)
   * recommends half).
   * @default 0.5
   */
  readonly fraction?: number;
  /** Called when a ping fails. Default: a process warning (pinging continues). */
  readonly onError?: (err: Error) => void;
}

let running: (Watchdog & { restart(usec: number): void }) | undefined;

/**
 * Pings the watchdog from a timer on the event loop, so a stalled loop stops the pings and
 * the manager restarts the service (WatchdogSec=, Restart=on-watchdog or on-failure). The
 * timer never keeps the process alive. Calling it again returns the running watchdog.
 *
 * @returns `undefined` when the watchdog is not enabled for this process
 * (see {@link watchdogEnabled}).
 * @throws ERR_WATCHDOG_USEC, ERR_WATCHDOG_PID, ERR_INVALID_ARGUMENT (fraction, onError).
 */
export function startWatchdog(options: WatchdogOptions | null = {}): Watchdog | undefined {
  options ??= {};
  if (typeof options !== 'object') throw new SocketActivationError('ERR_INVALID_ARGUMENT', `startWatchdog()'s options must be an object, found ${typeof options}.`, { argument: 'options', expected: 'object', found: options });
  const fraction = options.fraction ?? 0.5;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 0.5)) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `startWatchdog(): fraction must be a number in (0, 0.5], found ${String(fraction)}.`, { argument: 'fraction', expected: '(0, 0.5]', found: fraction });
  }
  // Found only when a ping fails, a bad one would turn a warning into an unhandled rejection.
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `startWatchdog()'s onError must be a function, found ${shownValue(options.onError)}.`, { argument: 'onError', expected: 'function', found: options.onError });
  }
  if (running) return running;
  const verdict = watchdogEnabled();
  if (!verdict.enabled) return undefined;
  const onError = options.onError ?? ((err: Error) => process.emitWarning(err, { code: 'SOCKET_ACTIVATION_WATCHDOG' }));
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  const ping = (): void => {
    // A manager that is slow to read must not pile up pings behind each other.
    if (inFlight) return;
    inFlight = true;
    watchdogPing().then(
      () => (inFlight = false),
      (err: Error) => {
        inFlight = false;
        onError(err);
      },
    );
  };
  const watchdog = {
    intervalMs: 0,
    pingEveryMs: 0,
    restart(usec: number) {
      if (timer) clearInterval(timer);
      this.intervalMs = usec / 1000;
      // Node runs a longer timer after 1 ms instead (TimeoutOverflowWarning): a WatchdogSec= over
      // ~50 days would flood the manager with pings. Pinging sooner than needed is harmless.
      this.pingEveryMs = Math.min(MAX_TIMER_MS, Math.max(1, Math.floor(this.intervalMs * fraction)));
      timer = setInterval(ping, this.pingEveryMs).unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (running === watchdog) running = undefined;
    },
  };
  watchdog.restart(verdict.usec);
  running = watchdog;
  ping();
  return watchdog;
}

/**
 * `WATCHDOG_USEC=…`: changes the watchdog interval at run time (to `ms` milliseconds), and
 * re-times a running {@link startWatchdog} to match.
 */
export function setWatchdogTimeout(ms: number, options?: NotifyOptions): Promise<boolean> {
  if (typeof ms !== 'number' || !(ms > 0) || ms === Infinity) {
    return Promise.reject(new SocketActivationError('ERR_INVALID_ARGUMENT', `setWatchdogTimeout needs milliseconds > 0, found ${String(ms)}.`, { argument: 'ms', expected: 'ms > 0', found: ms }));
  }
  const usec = Math.ceil(ms * 1000);
  return notify({ WATCHDOG_USEC: usec }, options).then((told) => {
    if (told) running?.restart(usec);
    return told;
  });
}
