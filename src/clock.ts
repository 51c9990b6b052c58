// The clock for every timeout, deadline, rate window and reported duration, as systemd measures
// them all on CLOCK_MONOTONIC: Date.now() is the wall clock (CLOCK_REALTIME), which NTP, chrony's
// makestep, a resumed VM or `date -s` step by any amount, so a deadline taken from it fires at
// once or an hour late and a duration comes out negative. Node's timers are monotonic already.

/**
 * Milliseconds on CLOCK_MONOTONIC (libuv's uv_hrtime(), behind performance.now()), from an
 * arbitrary origin: only differences between two readings mean something.
 * @internal
 */
export function now(): number {
  // The global, looked up at each call, so that tests' fake timers (which replace it) model it.
  return performance.now();
}
