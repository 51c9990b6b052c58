// Timers for the supervisor's waits, which systemd lets be as long as a 64-bit µs count:
// setTimeout() takes at most MAX_TIMER_MS and fires at once (after 1 ms) beyond it.

import { now } from '../clock.js';
import { MAX_TIMER_MS } from '../milliseconds.js';

/** A timeout that EXTEND_TIMEOUT_USEC= can push back, of any length. */
export class Deadline {
  private at: number;
  private timer: NodeJS.Timeout;
  /** Whether an extension moved it. */
  extended = false;

  constructor(ms: number, private readonly onExpire: () => void) {
    // Monotonic: on the wall clock a step back between the start and an EXTEND_TIMEOUT_USEC= would
    // make the extension look shorter than what is left (ignored), a step forward longer (taken,
    // cutting the wait short).
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
    clearTimeout(this.timer);
  }

  private arm(): NodeJS.Timeout {
    return longTimeout(Math.max(0, this.at - now()), this.onExpire);
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
