// Faults under load against a real systemd user manager (test/helpers/systemd.ts): a socket
// unit holds the listening socket, the plain service test/fixtures/faults-service.mjs serves it
// with listen(server, 'web'), and a bounded load (test/helpers/load.ts: clients opening one new connection
// per request, no pause) runs through every fault.
//   - FAULT_KILLS (default 2) SIGKILLs mid-load: only requests in flight at a kill fail
//     (reset), none is refused, and everything sent after it is answered by the next process;
//   - EMFILE during start-up: a clear error naming fd 3, the socket kept, the waiting client
//     served by the next start;
//   - FAULT_RESTARTS (default 50) consecutive `systemctl restart` under load: no request fails;
//   - a successor that crashes during a hot upgrade (`systemctl reload`): before READY=1 the old
//     process keeps serving and no request fails; killed in the middle of the hand-over, only
//     requests in flight fail (reset), none is refused, and the restarted service serves the rest.
// Not here: a full disk (the package writes nothing to disk; a service's own writes are its own).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, fixtures, root } from './helpers/activated.js';
import { startLoad, type Sent } from './helpers/load.js';
import { command, freePort, startManager, type Manager } from './helpers/systemd.js';

const restarts = Number(process.env.FAULT_RESTARTS ?? 50);
const kills = Number(process.env.FAULT_KILLS ?? 2);
const node = process.execPath;
const figures: Record<string, unknown> = {};
let m: Manager;

beforeAll(async () => {
  m = await startManager();
});

afterAll(async () => {
  await m?.stop();
  mkdirSync(join(root, 'build', 'reliability'), { recursive: true });
  writeFileSync(join(root, 'build', 'reliability', 'faults.json'), `${JSON.stringify(figures, null, 2)}\n`);
  console.log(`faults: ${JSON.stringify(figures)}`);
});

/** A socket unit on 127.0.0.1:port named `web`, and its service running `execStart`. */
async function units(name: string, port: number, execStart: string, service = ''): Promise<void> {
  m.writeUnit(
    `${name}.socket`,
    `[Socket]
    ListenStream=127.0.0.1:${port}
    FileDescriptorName=web
    Backlog=1024`,
  );
  m.writeUnit(
    `${name}.service`,
    `[Unit]
    StartLimitIntervalSec=0
    [Service]
    ExecStart=${execStart}
    StandardOutput=append:${m.path('logs', `${name}.log`)}
    StandardError=inherit
    ${service}`,
  );
  await m.daemonReload();
  await m.systemctl('start', `${name}.socket`);
}

/** The plain service of the fault tests with these arguments. */
function faultsService(...args: string[]): string {
  return command(node, `${fixtures}faults-service.mjs`, ...args);
}

async function mainPid(unit: string): Promise<number> {
  return Number((await m.show(unit, 'MainPID')).MainPID);
}

/** Waits until the load has a successful answer from `pid`. */
async function servedBy(sent: Sent[], pid: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!sent.some((s) => s.pid === pid)) {
    if (Date.now() > deadline) throw new Error(`no request answered by pid ${pid} within ${timeoutMs} ms\n${m.logs()}`);
    await sleep(10);
  }
}

function get(port: number, path: string): Promise<{ status: number; pid: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false, timeout: 30_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, pid: (JSON.parse(body) as { pid: number }).pid }));
      })
      .on('error', reject);
  });
}

describe('faults under load, real systemd', () => {
  it(`SIGKILL of the service mid-load (${kills}×): only the requests in flight fail, none is refused, the next process serves the rest`, async () => {
    const port = await freePort();
    const concurrency = 8;
    await units('kill', port, faultsService('--delay', '50'), 'Restart=always\nRestartSec=100ms');
    expect((await get(port, '/first')).status).toBe(200);
    const windows: { issued: number; done: number }[] = [];
    const load = startLoad(port, { keepAlive: 0, fresh: concurrency, maxPauseMs: 0 });
    try {
      let pid = await mainPid('kill.service');
      for (let k = 0; k < kills; k++) {
        await servedBy(load.sent, pid);
        await sleep(200);
        const issued = Date.now();
        await m.systemctl('kill', '--signal=SIGKILL', 'kill.service');
        windows.push({ issued, done: Date.now() });
        const killed = pid;
        for (const deadline = Date.now() + 20_000; Date.now() < deadline && (pid === killed || pid === 0); await sleep(20)) pid = await mainPid('kill.service');
        expect(pid).not.toBe(killed);
      }
      await servedBy(load.sent, pid);
      await sleep(200);
    } finally {
      await load.stop();
    }
    const sent = load.sent;
    const failed = sent.filter((s) => s.error);
    // In flight at a kill: sent before the signal was surely delivered, ended after it was sent.
    const inFlight = (s: Sent) => windows.some((w) => s.startedAt <= w.done && s.endedAt >= w.issued);
    figures.sigkill = {
      kills,
      requests: sent.length,
      failed: failed.length,
      failedInFlight: failed.filter(inFlight).length,
      refused: failed.filter((s) => s.error === 'ECONNREFUSED').length,
      concurrency,
      errors: [...new Set(failed.map((s) => s.error))],
    };
    expect(failed.filter((s) => s.error === 'ECONNREFUSED')).toEqual([]);
    // A failure is a request the killed process had taken: reset, at most one per client per kill.
    expect(failed.filter((s) => s.error !== 'ECONNRESET' || !inFlight(s))).toEqual([]);
    expect(failed.length).toBeLessThanOrEqual(concurrency * kills);
    expect(sent.filter((s) => s.pid !== undefined).length).toBeGreaterThan(failed.length);
  }, 60_000 + 20_000 * kills);

  it('EMFILE during start-up: a clear error naming fd 3, the socket kept, the waiting request served by the next start', async () => {
    const port = await freePort();
    const out = m.path('out', 'emfile.json');
    await units('emfile', port, faultsService('--emfile-once', m.path('emfile.marker'), '--out', out), 'Restart=on-failure\nRestartSec=100ms');
    // The first request starts the service; the first start fails, the request waits in the queue.
    const answer = await get(port, '/waiting');
    const report = await m.waitForJson(out);
    figures.emfile = { fdsHeldBeforeListen: report.held, error: report.error, answeredBy: answer.pid === report.pid ? 'the failed process' : 'the next start' };
    expect(report.error).toMatchObject({ code: 'EMFILE', syscall: 'fcntl', fd: 3 });
    expect(report.error.message).toMatch(/^EMFILE: too many open files, fcntl fd 3/);
    expect(report.listening).toBe(false);
    expect(answer.status).toBe(200);
    expect(answer.pid).not.toBe(report.pid);
    expect(await m.show('emfile.socket', 'ActiveState')).toEqual({ ActiveState: 'active' });
    expect(Number((await m.show('emfile.service', 'NRestarts')).NRestarts)).toBe(1);
  }, 60_000);

  it(`${restarts} consecutive restarts under load: no request fails, every process serves`, async () => {
    const port = await freePort();
    const concurrency = 4;
    await units('restart', port, faultsService('--delay', '20'));
    expect((await get(port, '/first')).status).toBe(200);
    const pids = [await mainPid('restart.service')];
    const load = startLoad(port, { keepAlive: 0, fresh: concurrency, maxPauseMs: 0 });
    const started = Date.now();
    try {
      await servedBy(load.sent, pids[0]!);
      for (let i = 0; i < restarts; i++) {
        await m.systemctl('restart', 'restart.service');
        const pid = await mainPid('restart.service');
        expect(pids).not.toContain(pid);
        pids.push(pid);
        // The new process must have served some of the load before it is restarted in turn.
        await servedBy(load.sent, pid);
      }
    } finally {
      await load.stop();
    }
    const sent = load.sent;
    const failed = sent.filter((s) => s.error);
    figures.restarts = {
      restarts,
      requests: sent.length,
      failed: failed.length,
      processes: pids.length,
      processesThatServed: new Set(sent.map((s) => s.pid).filter((p) => p !== undefined)).size,
      concurrency,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    expect(failed).toEqual([]);
    expect(new Set(pids).size).toBe(restarts + 1);
  }, 600_000);

  it('a successor that crashes during a hot upgrade under load: before READY nothing fails; in the hand-over only requests in flight fail, none is refused', async () => {
    const port = await freePort();
    const concurrency = 8;
    const broken = m.path('out', 'upgrade-broken');
    const crashing = m.path('out', 'upgrade-crashing');
    await units(
      'upgrade',
      port,
      command(node, `${fixtures}systemd-web.mjs`, '--fail-if', broken, '--crash-if', crashing),
      `Type=notify
      ExecReload=${command(node, cli, 'reload')} $MAINPID
      Restart=always
      RestartSec=100ms
      FileDescriptorStoreMax=64`,
    );
    expect((await get(port, '/first')).status).toBe(200);
    const first = await mainPid('upgrade.service');
    const load = startLoad(port, { keepAlive: 0, fresh: concurrency, maxPauseMs: 0 });
    let brokenReload: { code: number; window: { issued: number; done: number } };
    let crash: { issued: number; done: number };
    let restarted = 0;
    let crashReloadCode: number | undefined;
    try {
      await servedBy(load.sent, first);
      await sleep(200);

      // A successor that exits before READY=1: the reload fails, the old process goes on serving.
      writeFileSync(broken, '');
      let issued = Date.now();
      const r = await m.systemctlRun('reload', 'upgrade.service');
      brokenReload = { code: r.code, window: { issued, done: Date.now() } };
      rmSync(broken);
      expect(await mainPid('upgrade.service')).toBe(first);
      await sleep(300);

      // A successor killed the moment it becomes the main process, while the old one drains
      // and hands over: systemd sees the main process die and restarts the service.
      writeFileSync(crashing, '');
      issued = Date.now();
      crashReloadCode = (await m.systemctlRun('reload', 'upgrade.service')).code;
      const unit = await m.waitForUnit(
        'upgrade.service',
        { NRestarts: '1', ActiveState: 'active', MainPID: (v) => v !== '0' && v !== String(first) },
        20_000,
      );
      rmSync(crashing);
      restarted = Number(unit.MainPID);
      await servedBy(load.sent, restarted);
      crash = { issued, done: Date.now() };
      await sleep(300);
    } finally {
      rmSync(broken, { force: true });
      rmSync(crashing, { force: true });
      await load.stop();
    }
    const sent = load.sent;
    const failed = sent.filter((s) => s.error);
    const during = (w: { issued: number; done: number }) => (s: Sent) => s.startedAt <= w.done && s.endedAt >= w.issued;
    figures.successorCrash = {
      requests: sent.length,
      failed: failed.length,
      failedBeforeReady: failed.filter(during(brokenReload.window)).length,
      reloadExitBeforeReady: brokenReload.code,
      reloadExitInHandOver: crashReloadCode,
      refused: failed.filter((s) => s.error === 'ECONNREFUSED').length,
      errors: [...new Set(failed.map((s) => s.error))],
      restarts: Number((await m.show('upgrade.service', 'NRestarts')).NRestarts),
      concurrency,
    };
    expect(brokenReload.code).not.toBe(0);
    expect(failed.filter(during(brokenReload.window))).toEqual([]);
    expect(failed.filter((s) => s.error === 'ECONNREFUSED')).toEqual([]);
    // Only requests the dying successor had taken: reset, at most one per client.
    expect(failed.filter((s) => s.error !== 'ECONNRESET' || !during(crash)(s))).toEqual([]);
    expect(failed.length).toBeLessThanOrEqual(concurrency);
    expect(restarted).not.toBe(first);
    expect(Number((await m.show('upgrade.service', 'NRestarts')).NRestarts)).toBe(1);
  }, 120_000);
});
