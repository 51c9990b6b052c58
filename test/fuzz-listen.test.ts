// Differential fuzzing of LISTEN_* handling against the real libsystemd (fuzz/harness.c, built
// with Debian's libsystemd-dev): generated environments and fds (test/helpers/fuzz-env.ts), both
// answers compared case by case, only the divergences of test/helpers/divergences.ts allowed.
//   - the rules: judgeEnvironment + splitNames in this process, 10 × FUZZ_RUNS environments,
//     against sd_listen_fds_with_names() in a forked child per case;
//   - the process: activation() in a real Node process per environment (FUZZ_RUNS of them),
//     exec'd by the harness in the same process libsystemd just answered in (same pid, fds and
//     environment), with the kernel's view of every fd before and after: FD_CLOEXEC set on
//     exactly the fds libsystemd sets it on, and nothing else about any fd changed.
// Quick by default (a fixed seed); `npm run fuzz` sets FUZZ_RUNS and FUZZ_SEED for the long run.
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { judgeEnvironment, splitNames } from '../src/environment.js';
import { fixtures, slowdown, testWrap } from './helpers/activated.js';
import { compareListen, isRuntimeKind, namesEndInEscape, ourCloexec, type OurListen, type Verdict } from './helpers/divergences.js';
import { Tally } from './helpers/figures.js';
import { fuzzSettings, listenCase, sampleCases } from './helpers/fuzz-env.js';
import { asEnvString, instantiate, runHarness, type HarnessCase } from './helpers/harness.js';

const { runs, seed } = fuzzSettings(150);
const EBADF = -9;
const EINVAL = -22;
const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'LISTEN_PIDFDID'] as const;

interface Theirs {
  r: number;
  pid: number;
  pidfdId: string;
  names: string[] | null;
  changed: { fd: number; before: number; after: number }[];
  env: Record<string, string | null>;
}

/** The case's variables as the process that read them had them (placeholders filled in). */
function instantiated(c: HarnessCase, theirs: Theirs): Record<string, Buffer | undefined> {
  const env: Record<string, Buffer | undefined> = {};
  for (const [k, v] of Object.entries(c.env)) env[k] = v === undefined ? undefined : instantiate(v, theirs.pid, theirs.pidfdId);
  return env;
}

function theirsOf(lines: Record<string, unknown>[] | undefined): Theirs | undefined {
  return lines?.find((l) => l.side === 'libsystemd') as Theirs | undefined;
}

const timeout = (perCase: number, count: number) => (120_000 + perCase * count) * slowdown;

/**
 * FD_CLOEXEC as libsystemd sets it, or, where an allowed rule made us decide otherwise, as our
 * own rule sets it: nothing when we stopped before the fds (a number that is not plain decimal,
 * LISTEN_PIDFDID), the fds before the one we refused (one of Node's own kinds), every inherited
 * claimed fd where libsystemd gave up on the names first (a trailing backslash).
 */
function compareCloexec(c: HarnessCase, bytes: Record<string, Buffer | undefined>, ours: OurListen & { cloexecSet: number[] }, theirs: { r: number; cloexec: number[] }): Verdict {
  const text = (v: string) => (bytes[v] === undefined ? undefined : asEnvString(bytes[v]!));
  const set = JSON.stringify(ours.cloexecSet);
  if (set === JSON.stringify(theirs.cloexec)) return { same: true };
  if (ours.outcome === 'error' && set === '[]') {
    const variable = ours.code === 'ERR_LISTEN_PID' ? 'LISTEN_PID' : ours.code === 'ERR_LISTEN_FDS' ? 'LISTEN_FDS' : undefined;
    if (variable && !/^(0|[1-9][0-9]*)$/.test(text(variable) ?? '')) return { same: false, rule: 'strict-decimal' };
    if (ours.code === 'ERR_LISTEN_PIDFDID') return { same: false, rule: 'pidfdid' };
  }
  if (ours.outcome === 'not-activated' && ours.reason === 'pidfd-mismatch' && set === '[]') return { same: false, rule: 'pidfdid' };
  const ownRule = JSON.stringify(ourCloexec(c.kinds, Number(text('LISTEN_FDS'))));
  if (theirs.r === EINVAL && namesEndInEscape(text('LISTEN_FDNAMES')) && set === ownRule) return { same: false, rule: 'fdnames-backslash' };
  if (ours.outcome === 'error' && ours.code === 'ERR_LISTEN_FDS_NOT_INHERITED' && ours.fd !== undefined && isRuntimeKind(c.kinds, ours.fd, Number(text('LISTEN_FDS')))) {
    if (set === JSON.stringify(theirs.cloexec.filter((fd) => fd < ours.fd!)) && set === ownRule) return { same: false, rule: 'runtime-fd' };
  }
  return { same: false, why: `FD_CLOEXEC set on [${ours.cloexecSet}], libsystemd on [${theirs.cloexec}]` };
}

describe('LISTEN_* against sd_listen_fds_with_names (libsystemd 252)', () => {
  it(`the rules: judgeEnvironment and splitNames decide as libsystemd (${10 * runs} environments, seed ${seed})`, async () => {
    const tally = new Tally('fuzz-listen-rules', seed);
    const cases = sampleCases(listenCase, 10 * runs, seed);
    const results = await runHarness('listen', cases, { parallel: availableParallelism() });
    for (const c of cases) {
      const theirs = theirsOf(results.get(c.id));
      if (!theirs) {
        tally.crash(c.id, 'libsystemd child gave no answer', results.get(c.id));
        continue;
      }
      const bytes = instantiated(c, theirs);
      const env = Object.fromEntries(Object.entries(bytes).map(([k, v]) => [k, v === undefined ? undefined : asEnvString(v)]));
      let ours: OurListen;
      try {
        const verdict = judgeEnvironment(env, { pid: theirs.pid, pidfdId: () => BigInt(theirs.pidfdId) });
        if (!verdict.activated) ours = { outcome: 'not-activated', reason: verdict.why };
        else if (theirs.r === EBADF) {
          // libsystemd stopped at an fd that is not open: the environment itself was fine, and
          // what the package does with the fds is compared in real processes below.
          tally.count('decided by the fds');
          tally.record(c.id, { same: true });
          continue;
        } else ours = { outcome: 'activated', names: splitNames(verdict.rawNames, verdict.count) };
      } catch (err) {
        ours = { outcome: 'error', code: (err as { code: string }).code };
      }
      const theirNames = theirs.names?.map((n) => Buffer.from(n, 'hex')) ?? null;
      tally.record(c.id, compareListen({ kinds: c.kinds, env: bytes }, ours, { r: theirs.r, names: theirNames, pidfdId: theirs.pidfdId }), { case: c, theirs, ours });
    }
    tally.finish();
    expect(tally.crashes.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
    expect(tally.divergent.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
  }, timeout(5, 10 * runs));

  it(`activation() in real processes: same decisions, FD_CLOEXEC on the same fds, no other fd touched (${runs} processes, seed ${seed + 1})`, async () => {
    const tally = new Tally('fuzz-listen-processes', seed + 1);
    tally.count('fds touched outside 3..3+n-1', 0);
    tally.count('fd changes other than FD_CLOEXEC', 0);
    // FUZZ_CASES=12,345 re-runs only these cases of the same seed (to reproduce a report).
    const only = process.env.FUZZ_CASES?.split(',').map(Number);
    const cases = sampleCases(listenCase, runs, seed + 1).filter((c) => !only || only.includes(c.id));
    const results = await runHarness('exec', cases, {
      command: [...testWrap, process.execPath, `${fixtures}fuzz-activation.mjs`],
      parallel: availableParallelism(),
      timeoutMs: testWrap.length > 0 ? 600_000 : 60_000,
    });
    for (const c of cases) {
      const lines = results.get(c.id) ?? [];
      const theirs = theirsOf(lines);
      const ours = lines.find((l) => 'outcome' in l) as
        | (OurListen & { cloexecSet: number[]; other: unknown[]; env: Record<string, string | null>; message?: string })
        | undefined;
      const died = lines.find((l) => 'signal' in l || 'timeout' in l || 'exit' in l);
      if (!theirs || !ours || died) {
        tally.crash(c.id, died ? JSON.stringify(died) : 'no answer', { case: c, lines });
        continue;
      }
      const bytes = instantiated(c, theirs);
      const theirNames = theirs.names?.map((n) => Buffer.from(n, 'hex')) ?? null;
      let verdict: Verdict = compareListen({ kinds: c.kinds, env: bytes }, ours, { r: theirs.r, names: theirNames, pidfdId: theirs.pidfdId });

      // The kernel's view: libsystemd only sets FD_CLOEXEC; the package must set it on the same
      // fds (on fewer only where it refused one of Node's own, before that fd) and change nothing else.
      const theirCloexec = theirs.changed.filter((x) => x.before >= 0 && !(x.before & 1) && x.after & 1).map((x) => x.fd);
      const claimed = Number(asEnvString(bytes.LISTEN_FDS ?? Buffer.alloc(0)));
      const outside = ours.cloexecSet.filter((fd) => !(fd >= 3 && fd < 3 + claimed));
      if (outside.length > 0) tally.count('fds touched outside 3..3+n-1', outside.length);
      const fdVerdict = compareCloexec(c, bytes, ours, { r: theirs.r, cloexec: theirCloexec });
      if (claimed > c.kinds.length) tally.count('LISTEN_FDS reaching into Node\'s own fds');
      tally.count('fd changes other than FD_CLOEXEC', ours.other.length);
      if (ours.other.length > 0) verdict = { same: false, why: `other fd changes: ${JSON.stringify(ours.other)}` };
      else if (outside.length > 0) verdict = { same: false, why: `FD_CLOEXEC set outside 3..3+n−1: ${outside}` };
      else if (!fdVerdict.same && (verdict.same || !fdVerdict.rule)) verdict = fdVerdict;

      // unsetEnvironment: the same variables removed (LISTEN_PIDFDID: see the 'pidfdid' rule).
      for (const v of VARIABLES) {
        const gone = ours.env[v] === null && c.env[v] !== undefined;
        const theirGone = theirs.env[v] === null && c.env[v] !== undefined;
        if (gone === theirGone) continue;
        if (v === 'LISTEN_PIDFDID' && gone && c.unset) {
          if (verdict.same) verdict = { same: false, rule: 'pidfdid' };
          continue;
        }
        verdict = { same: false, why: `${v} ${gone ? 'removed' : 'kept'} by us, ${theirGone ? 'removed' : 'kept'} by libsystemd` };
      }
      tally.count(`outcome ${ours.outcome === 'error' ? ours.code : ours.outcome}`);
      tally.record(c.id, verdict, { case: c, theirs, ours });
    }
    tally.finish();
    expect(tally.crashes.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
    expect(tally.divergent.map((d) => `case ${d.id}: ${d.why}`)).toEqual([]);
  }, timeout(1500, runs));
});
