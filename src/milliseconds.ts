/** setTimeout()'s limit (2^31 − 1 ms, about 24.8 days): Node fires a longer timer after 1 ms. */
export const MAX_TIMER_MS = 0x7fffffff;

/** Whether `ms` is a wait a Node timer keeps: a number from 0 to {@link MAX_TIMER_MS}. */
export function isTimerMs(ms: unknown): ms is number {
  return typeof ms === 'number' && ms >= 0 && ms <= MAX_TIMER_MS;
}

/** What {@link isTimerMs} accepts, for messages. */
export const TIMER_MS_EXPECTED = 'a number of milliseconds from 0 to 2147483647 (about 24.8 days, the most a Node timer holds)';
