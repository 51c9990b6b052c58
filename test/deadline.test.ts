// The supervisor's timers (src/supervisor/deadline.ts) past setTimeout()'s limit, which a
// child can ask for (WATCHDOG_USEC=, EXTEND_TIMEOUT_USEC=): with fake timers, since the real
// limit is 24.8 days. Node fires a longer setTimeout() after 1 ms; the fakes do the same.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '../src/milliseconds.js';
import { Deadline, longTimeout } from '../src/supervisor/deadline.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const DAY = 86_400_000;

describe('longTimeout()', () => {
  it('a bare setTimeout() past the limit fires at once (what the fakes model), longTimeout() when due', () => {
    const bare = vi.fn();
    const long = vi.fn();
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    setTimeout(bare, 60 * DAY);
    longTimeout(60 * DAY, long);
    vi.advanceTimersByTime(10);
    expect(bare).toHaveBeenCalledOnce();
    vi.advanceTimersByTime(60 * DAY - 20);
    expect(long).not.toHaveBeenCalled();
    vi.advanceTimersByTime(20);
    expect(long).toHaveBeenCalledOnce();
  });

  it('Infinity (systemd\'s USEC_INFINITY) never fires and re-arms only every 24.8 days, not every millisecond', () => {
    const never = vi.fn();
    const handle = longTimeout(Infinity, never);
    expect(vi.getTimerCount()).toBe(1);
    const before = Date.now();
    vi.advanceTimersToNextTimer();
    expect(Date.now() - before).toBe(MAX_TIMER_MS);
    vi.advanceTimersByTime(5 * MAX_TIMER_MS);
    expect(never).not.toHaveBeenCalled();
    clearTimeout(handle);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('within the limit it is one plain timer; clearTimeout() stops a long one between its parts', () => {
    const short = vi.fn();
    longTimeout(MAX_TIMER_MS, short);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(short).toHaveBeenCalledOnce();
    const cleared = vi.fn();
    const handle = longTimeout(3 * MAX_TIMER_MS, cleared);
    vi.advanceTimersByTime(MAX_TIMER_MS + 5);
    clearTimeout(handle);
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    expect(cleared).not.toHaveBeenCalled();
  });
});

describe('Deadline', () => {
  it('extended past the limit (EXTEND_TIMEOUT_USEC=), it expires then, not 24.8 days in', () => {
    const expired = vi.fn();
    const d = new Deadline(1000, expired);
    d.extend(40 * DAY);
    expect(d.extended).toBe(true);
    vi.advanceTimersByTime(MAX_TIMER_MS + 1000);
    expect(expired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(40 * DAY - MAX_TIMER_MS - 1000);
    expect(expired).toHaveBeenCalledOnce();
  });

  it('an extension shorter than what is left changes nothing; clear() stops it', () => {
    const expired = vi.fn();
    const d = new Deadline(5000, expired);
    d.extend(1000);
    expect(d.extended).toBe(false);
    vi.advanceTimersByTime(4999);
    expect(expired).not.toHaveBeenCalled();
    d.clear();
    vi.advanceTimersByTime(10_000);
    expect(expired).not.toHaveBeenCalled();
  });
});
