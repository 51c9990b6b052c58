// Timers for the supervisor's waits, which systemd lets be as long as a 64-bit µs count:
// setTimeout() takes at most MAX_TIMER_MS and fires at once (after 1 ms) beyond it.

import { now } from '../clock.js';
import { MAX_TIMER_MS } from '../milliseconds.js';

/** A timeout that EXTEND_TIMEOUT_USEC= can push back, of any length. */
export class Deadline {
  private at: number;
  private timer: NodeJS.Timeout;
  private cleared = false;
  /** Whether an extension moved it. */
  extended = false;

  /**
   * `beforeExpire` runs when the time is up, before `onExpire`: what it does may clear or
   * extend the deadline (reading the notify messages that wait), and then `onExpire` is not called.
   */
  constructor(
    ms: number,
    private readonly onExpire: () => void,
    private readonly beforeExpire?: () => void,
  ) {
    this.at = now() + ms;
    this.timer = this.arm();
  }

  /** Not before `ms` from now. */
  extend(ms: number): void {
    const at = now() + ms;
    if (at <= this.at) return;
    this.at = at;
    this.extended = true;
    clearTimeout(this.timer);
    this.timer = this.arm();
  }

  clear(): void {
    this.cleared = true;
    clearTimeout(this.timer);
  }

  private arm(): NodeJS.Timeout {
    const timer = longTimeout(Math.max(0, this.at - now()), () => {
      this.beforeExpire?.();
      // Cleared, or extended (and so armed anew), by what beforeExpire() read.
      if (this.cleared || this.timer !== timer) return;
      // Node times a timer from the event loop's cached time, which may be behind now(): it can
      // fire a little before `at`, and must then wait out the rest rather than never fire.
      if (now() >= this.at) this.onExpire();
      else this.timer = this.arm();
    });
    return timer;
  }
}

/** A timer of any length: setTimeout() fires at once past MAX_TIMER_MS, so longer waits are made of several. */
export function longTimeout(ms: number, done: () => void): NodeJS.Timeout {
  if (!Number.isFinite(ms)) {
    // Infinity (systemd's USEC_INFINITY): a wait that never ends, still stopped by clearTimeout().
    const never = setTimeout(() => never.refresh(), MAX_TIMER_MS);
    return never;
  }
  // Equal parts, each within the limit; refresh() rearms the same handle, so clearTimeout()
  // of it still stops the whole wait.
  const parts = Math.max(1, Math.ceil(ms / MAX_TIMER_MS));
  let left = parts;
  const handle = setTimeout(() => (--left === 0 ? done() : handle.refresh()), ms / parts);
  return handle;
}
