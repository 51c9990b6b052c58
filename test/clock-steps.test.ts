// Timeouts, deadlines, rate windows and reported durations across a step of the wall clock (NTP
// correcting a VM's clock at boot, a resumed VM, `date -s`): systemd measures them all on
// CLOCK_MONOTONIC, and so must we. The processes under test run on a wall clock of their own
// (libfaketime, see helpers/faketime.ts) that the test, or the process itself, steps by an hour;
// the machine's clock is left alone.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cli, fixtures, root } from './helpers/activated.js';
import { steppedClock, type SteppedClock } from './helpers/faketime.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { killAll, start, type Watched } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-clock-'));
afterEach(async () => {
  await killAll();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const index = JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href);

/** Node running `code` (ESM) as a command line's words. */
const inline = (code: string) => [process.execPath, '--input-type=module', '-e', code];

/** Node running `code` on `clock`, with `env` besides. */
function onClock(clock: SteppedClock, code: string, env: NodeJS.ProcessEnv = {}): Watched {
  const [node, ...args] = inline(code);
  return start(node!, args, { env: { ...process.env, ...clock.env, ...env } });
}

/** The launcher supervising `command`, on `clock` (and so is its child). */
function supervise(clock: SteppedClock, args: string[], command: string[]): Watched {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...clock.env };
  for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'NODE_OPTIONS']) delete env[v];
  return start(process.execPath, [cli, ...args, '--', ...command], { cwd: root, env });
}

/** Whether `pid` is a process that has not exited (a zombie has). */
function alive(pid: number): boolean {
  try {
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

it('the stepped clock moves Date.now() of the processes on it, and not performance.now() (else these tests prove nothing)', async () => {
  // process.hrtime() too: MONOTONIC_USEC= (reloading()) is read from it.
  const code = `import { writeFileSync } from 'node:fs';
    const d0 = Date.now(), p0 = performance.now(), h0 = process.hrtime.bigint();
    writeFileSync(process.env.FAKETIME_TIMESTAMP_FILE, '-1h\\n');
    console.log('MOVED ' + JSON.stringify({ date: Date.now() - d0, monotonic: performance.now() - p0, hrtime: Number((process.hrtime.bigint() - h0) / 1000000n) }));`;
  const moved = await onClock(steppedClock(dir), code).json<{ date: number; monotonic: number; hrtime: number }>('MOVED');
  expect(moved.date).toBeLessThan(-3_500_000);
  for (const ms of [moved.monotonic, moved.hrtime]) {
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(60_000);
  }
});

describe('the launcher', () => {
  // The child steps the clock itself at its SIGTERM, between the start of the stop timeout and
  // its EXTEND_TIMEOUT_USEC=, then exits by itself within the time it asked for.
  const slowStop = (step: string, extendMs: number, exitMs: number) =>
    inline(`import { writeFileSync } from 'node:fs';
      import { extendTimeout } from ${index};
      process.once('SIGTERM', async () => {
        writeFileSync(process.env.FAKETIME_TIMESTAMP_FILE, '${step}\\n');
        await extendTimeout(${extendMs});
        setTimeout(() => process.exit(0), ${exitMs});
      });
      setInterval(() => undefined, 1000);
      console.log('UP');`);

  it('EXTEND_TIMEOUT_USEC= after the clock stepped back an hour still extends --stop-timeout (no SIGKILL at the first timeout)', async () => {
    const s = supervise(steppedClock(dir), ['-l', '127.0.0.1:0', '--stop-timeout', '1'], slowStop('-1h', 4000, 2500));
    await s.waitFor(/^UP$/m);
    process.kill(s.pid, 'SIGTERM');
    expect(await s.finish(30_000)).toEqual({ code: 0, signal: null });
    expect(s.stderr).not.toMatch(/SIGKILL/);
  });

  it('EXTEND_TIMEOUT_USEC= shorter than what is left, after the clock stepped forward an hour, does not cut --stop-timeout short', async () => {
    const s = supervise(steppedClock(dir), ['-l', '127.0.0.1:0', '--stop-timeout', '20'], slowStop('+1h', 500, 2500));
    await s.waitFor(/^UP$/m);
    process.kill(s.pid, 'SIGTERM');
    expect(await s.finish(30_000)).toEqual({ code: 0, signal: null });
    expect(s.stderr).not.toMatch(/SIGKILL/);
  });

  it('leftovers that ignore SIGTERM get SIGKILL after --stop-timeout though the clock stepped back an hour (not an hour later)', async () => {
    const clock = steppedClock(dir);
    const s = supervise(clock, ['-l', '127.0.0.1:0', '--restart', 'no', '--stop-timeout', '2'], ['/bin/sh', '-c', '(trap "" TERM; echo "LEFT $(exec sh -c \'echo $PPID\')"; while :; do sleep 0.1; done) & sleep 0.3; exit 0']);
    const [, left] = await s.waitFor(/^LEFT (\d+)$/m);
    await s.waitFor(/left processes in its process group.*; sending them SIGTERM/, { stream: 'stderr' });
    clock.step('-1h');
    // 2 s is due; SIGKILL (a failed test) if it takes more than 30.
    expect(await s.finish(30_000)).toEqual({ code: 0, signal: null });
    expect(s.stderr).toMatch(/the processes pid \d+ left did not stop within 2000 ms of SIGTERM; killing them with SIGKILL/);
    expect(alive(Number(left))).toBe(false);
  }, 60_000);

  it('leftovers stopping in their own time after SIGTERM are not killed at once when the clock steps forward an hour', async () => {
    const clock = steppedClock(dir);
    const s = supervise(clock, ['-l', '127.0.0.1:0', '--restart', 'no', '--stop-timeout', '20'], ['/bin/sh', '-c', '(trap "sleep 1; echo LEFT DONE; exit 0" TERM; echo LEFT; while :; do sleep 0.1; done) & sleep 0.3; exit 0']);
    await s.waitFor(/^LEFT$/m);
    await s.waitFor(/left processes in its process group.*; sending them SIGTERM/, { stream: 'stderr' });
    clock.step('+1h');
    expect(await s.finish(30_000)).toEqual({ code: 0, signal: null });
    expect(s.stdout).toMatch(/^LEFT DONE$/m);
    expect(s.stderr).not.toMatch(/SIGKILL/);
  });

  it('the start limit (5 starts in 10 s) counts the starts before a step of the clock forward: given up after 5, not 8', async () => {
    const clock = steppedClock(dir);
    const s = supervise(clock, ['-l', '127.0.0.1:0'], ['/bin/sh', '-c', 'echo START; sleep 0.3; exit 4']);
    await s.waitFor(/^(START\n){3}/);
    clock.step('+1h');
    expect(await s.finish(60_000)).toEqual({ code: 4, signal: null });
    expect(s.stdout.match(/^START$/gm)).toHaveLength(5);
    expect(s.stderr).toMatch(/exited with status 4; started 5 times in 10 s, giving up/);
    // The third run failed after 0.3 s: not a healthy one whose crash resets the backoff.
    expect(s.stderr).not.toMatch(/restarting in 100 ms/);
  });

  it('after a step of the clock back, starts older than 10 s leave the start limit, and a run of 11 s counts as healthy: restarted', async () => {
    const clock = steppedClock(dir);
    const count = join(dir, `count-${Math.random().toString(36).slice(2)}`);
    // Runs 1-4 fail at once, run 5 after 11 s, run 6 stays up.
    const script = `n=$(($(cat ${count} 2>/dev/null || echo 0) + 1)); echo $n > ${count}; echo "START $n"; [ $n -ge 6 ] && exec sleep 60; [ $n -eq 5 ] && sleep 11; exit 4`;
    const s = supervise(clock, ['-l', '127.0.0.1:0'], ['/bin/sh', '-c', script]);
    await s.waitFor(/^START 5$/m);
    clock.step('-1h');
    await s.waitFor(/^START 6$/m, { timeoutMs: 40_000 });
    expect(s.stderr).not.toMatch(/giving up/);
    // As systemd's RestartSec= for a service that had been running: no backoff.
    expect(s.stderr).toMatch(/exited with status 4; restarting in 100 ms/);
    process.kill(s.pid, 'SIGTERM');
    await s.finish();
  }, 60_000);

  it.runIf(process.getuid?.() === 0)('lines about ignored notify messages stay at 20 per 10 s though the clock steps forward an hour within the window', async () => {
    const clock = steppedClock(dir);
    const s = supervise(clock, ['-l', 'web=127.0.0.1:0'], ['/bin/sh', '-c', 'echo "STARTED $NOTIFY_SOCKET"; exec sleep 60']);
    const [, notifySocket] = await s.waitFor(/^STARTED (\S+)$/m);
    const ignored = /ignored a notify message from pid \d+, which this supervisor did not start/g;
    // From another user (nobody): not the service's.
    const flood = (n: number) => {
      const send = `import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\nfor i in range(${n}): s.sendto(b'STATUS=flood', sys.argv[1])`;
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c', send, notifySocket!], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    };
    flood(5);
    await s.waitFor(/(which this supervisor did not start[^]*){5}/, { stream: 'stderr' });
    clock.step('+1h');
    flood(30);
    await s.waitFor(/ignored \d+ more notify messages from processes that are not the service's/, { stream: 'stderr', timeoutMs: 30_000 });
    expect(s.stderr.match(ignored)).toHaveLength(20);
    expect(s.stderr).toMatch(/ignored 15 more notify messages from processes that are not the service's/);
  });
});

describe('the library', () => {
  it.each(['-1h', '+1h'])('drain() reports the time it took in durationMs though the clock stepped by %s during it', async (step) => {
    // One connection, which the client ends 1 s into the drain; the clock steps at 0.3 s.
    const code = `import net from 'node:net';
      import { writeFileSync } from 'node:fs';
      import { drain, trackConnections } from ${index};
      const server = net.createServer((socket) => socket.resume());
      trackConnections(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const client = net.connect(server.address().port, '127.0.0.1');
      await new Promise((resolve) => client.once('connect', resolve));
      setTimeout(() => writeFileSync(process.env.FAKETIME_TIMESTAMP_FILE, '${step}\\n'), 300);
      setTimeout(() => client.end(), 1000);
      const report = await drain(server, { timeout: 20_000 });
      console.log('REPORT ' + JSON.stringify(report));
      client.destroy();`;
    const report = await onClock(steppedClock(dir), code).json<{ closed: number; cut: number; durationMs: number }>('REPORT');
    expect(report).toMatchObject({ closed: 1, cut: 0 });
    // About 1000: not off by the hour of the step.
    expect(report.durationMs).toBeGreaterThan(0);
    expect(report.durationMs).toBeLessThan(60_000);
    expect(Number.isInteger(report.durationMs)).toBe(true);
  });

  // The manager's queue is filled (a message with timeout 0 fails at its first EAGAIN), then one
  // more message waits with `timeout`, and the process steps its clock right after sending it.
  const fullQueue = (step: string, timeout: number) =>
    `import { writeFileSync } from 'node:fs';
      import { status } from ${index};
      while ((await status('fill', { timeout: 0 }).then(() => 'sent', (e) => e.code)) === 'sent');
      const last = status('last', { timeout: ${timeout} });
      writeFileSync(process.env.FAKETIME_TIMESTAMP_FILE, '${step}\\n');
      console.log('STEPPED');
      console.log('RESULT ' + JSON.stringify(await last.then(() => 'sent', (e) => e.code)));`;

  it('a notify message waiting on a full manager queue is still sent when the manager reads again, though the clock stepped forward an hour', async () => {
    const r = await startReceiver({ paused: true });
    const p = onClock(steppedClock(dir), fullQueue('+1h', 20_000), { NOTIFY_SOCKET: r.address });
    await p.waitFor(/^STEPPED$/m);
    await sleep(300);
    r.resume();
    expect(await p.json('RESULT')).toBe('sent');
    await expect.poll(() => r.messages().map((m) => m.text)).toContain('STATUS=last');
  });

  it('a notify message on a full manager queue gives up (ETIMEDOUT) after its timeout though the clock stepped back an hour (not an hour later)', async () => {
    const r = await startReceiver({ paused: true });
    const p = onClock(steppedClock(dir), fullQueue('-1h', 2000), { NOTIFY_SOCKET: r.address });
    // 2 s are due; more than 30 fails the test.
    expect(await p.json('RESULT', 30_000)).toBe('ETIMEDOUT');
  }, 60_000);

  it('a hot upgrade is done once its successor has been watched for a moment, though the clock stepped back an hour in that moment', async () => {
    // The successor steps the clock 100 ms after its READY=1, while its predecessor watches it
    // (200 ms) before calling the upgrade done.
    const successor = inline(`import http from 'node:http';
      import { writeFileSync } from 'node:fs';
      import { listen, ready } from ${index};
      const server = http.createServer((req, res) => res.end(String(process.pid)));
      await listen(server, 'web');
      await ready();
      setTimeout(() => writeFileSync(process.env.FAKETIME_TIMESTAMP_FILE, '-1h\\n'), 100);`);
    const s = supervise(steppedClock(dir), ['-l', 'web=127.0.0.1:0', '--restart', 'no'], [process.execPath, join(fixtures, 'upgrade-once.mjs'), JSON.stringify(successor)]);
    // Its outcome, due within a second; more than 30 fails the test.
    const [outcome] = await s.waitFor(/^\{"ok":.*\}$/m, { timeoutMs: 30_000 });
    expect(JSON.parse(outcome)).toMatchObject({ ok: true });
  }, 60_000);
});
