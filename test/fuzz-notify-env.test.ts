// Differential fuzzing of WATCHDOG_* and NOTIFY_SOCKET against the real libsystemd
// (fuzz/harness.c): judgeWatchdog() against sd_watchdog_enabled(), and parseNotifyAddress()
// against the address sd_notify() hands to sendmsg() (intercepted in the harness, so nothing
// is sent). Only the divergences of test/helpers/divergences.ts are allowed.
// Quick by default (a fixed seed); `npm run fuzz` sets FUZZ_RUNS and FUZZ_SEED.
import { describe, expect, it } from 'vitest';
import { parseNotifyAddress } from '../src/notify-address.js';
import { judgeWatchdog } from '../src/watchdog.js';
import { compareNotify, compareWatchdog, type OurNotify } from './helpers/divergences.js';
import { Tally } from './helpers/figures.js';
import { fuzzSettings, notifyCase, sampleCases, watchdogCase } from './helpers/fuzz-env.js';
import { asEnvString, instantiate, runHarness } from './helpers/harness.js';

const { runs, seed } = fuzzSettings(300);
const count = 10 * runs;

describe('WATCHDOG_* and NOTIFY_SOCKET against libsystemd 252', () => {
  it(`judgeWatchdog decides as sd_watchdog_enabled (${count} environments, seed ${seed + 2})`, async () => {
    const tally = new Tally('fuzz-watchdog', seed + 2);
    const cases = sampleCases(watchdogCase, count, seed + 2);
    const results = await runHarness('watchdog', cases);
    for (const c of cases) {
      const theirs = results.get(c.id)?.[0] as { r: number; pid: number; usec: string } | undefined;
      if (!theirs) {
        tally.crash(c.id, 'no answer from libsystemd');
        continue;
      }
      const bytes: Record<string, Buffer | undefined> = {};
      for (const [k, v] of Object.entries(c.env)) bytes[k] = v === undefined ? undefined : instantiate(v, theirs.pid, '');
      const env = Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v === undefined ? undefined : asEnvString(v)]));
      let ours: Parameters<typeof compareWatchdog>[1];
      try {
        const verdict = judgeWatchdog(env, theirs.pid);
        ours = verdict.enabled ? { enabled: true, usec: verdict.usec } : { enabled: false };
      } catch (err) {
        ours = { code: (err as { code: string }).code };
      }
      tally.count('code' in ours ? ours.code : ours.enabled ? 'enabled' : 'disabled');
      tally.record(c.id, compareWatchdog(bytes, ours, theirs), { env, ours, theirs });
    }
    tally.finish();
    expect(tally.crashes.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
    expect(tally.divergent.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
  }, 120_000 + count);

  it(`parseNotifyAddress sends where sd_notify sends (${count} environments, seed ${seed + 3})`, async () => {
    const tally = new Tally('fuzz-notify-socket', seed + 3);
    const cases = sampleCases(notifyCase, count, seed + 3);
    const results = await runHarness('notify', cases);
    for (const c of cases) {
      const theirs = results.get(c.id)?.[0] as { r: number; calls: number; path?: string } | undefined;
      if (!theirs) {
        tally.crash(c.id, 'no answer from libsystemd');
        continue;
      }
      const raw = c.env.NOTIFY_SOCKET === undefined ? undefined : Buffer.from(c.env.NOTIFY_SOCKET);
      let ours: OurNotify;
      try {
        const a = parseNotifyAddress(raw === undefined ? undefined : asEnvString(raw));
        ours = a === undefined ? { kind: 'none' } : a.kind === 'unix' ? { kind: 'unix', bytes: a.bytes } : { kind: 'vsock' };
      } catch (err) {
        ours = { kind: 'error', code: (err as { code: string }).code };
      }
      tally.count(ours.kind === 'unix' ? (ours.bytes[0] === 0 ? 'abstract' : 'path') : ours.kind);
      tally.record(c.id, compareNotify(raw, ours, theirs), { value: raw?.toString('latin1'), ours, theirs });
    }
    tally.finish();
    expect(tally.crashes.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
    expect(tally.divergent.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
  }, 120_000 + count);
});
