// Restarts and hot upgrades that lose nothing, under a real systemd user manager, with
// examples/zero-downtime/server.mjs as the service: drain + fd-store hand-off on restart, hot upgrade on
// reload (ExecReload= waits for the outcome), rollback of a broken successor, a symlinked
// release switch (removing the old release) taking effect.
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, root } from './helpers/activated.js';
import { startLoad } from './helpers/load.js';
import { command, freePort, startManager, type Manager } from './helpers/systemd.js';

let m: Manager;
let port: number;
let failMarker: string;
let stallMarker: string;

/** The ExecStop= line of examples/zero-downtime/web.service, as shipped (undefined when it has none). */
const exampleExecStop = readFileSync(join(root, 'examples', 'zero-downtime', 'web.service'), 'utf8')
  .split('\n')
  .find((l) => l.startsWith('ExecStop='));

beforeAll(async () => {
  m = await startManager();
  port = await freePort();
  failMarker = m.path('out', 'broken-release');
  stallMarker = m.path('out', 'slow-successor');
  m.writeUnit(
    'web.socket',
    `[Socket]
    ListenStream=127.0.0.1:${port}
    FileDescriptorName=web`,
  );
  m.writeUnit(
    'web.service',
    `[Unit]
    StartLimitIntervalSec=0
    [Service]
    Type=notify
    ExecStart=${command(process.execPath, `${fixtures}systemd-web.mjs`, '--fail-if', failMarker, '--stall-if', stallMarker)}
    ExecReload=${command(join(root, 'bin/socket-activation-reload'))} $MAINPID
    ${exampleExecStop ?? ''}
    FileDescriptorStoreMax=64
    TimeoutStopSec=30
    StandardOutput=append:${m.path('logs', 'web.log')}
    StandardError=inherit`,
  );
  await m.daemonReload();
  await m.systemctl('start', 'web.socket');
});

afterAll(async () => {
  await m?.stop();
});

/** One keep-alive client on a single connection: the pid that answers and the client's local port. */
async function ask(agent: http.Agent, path: string): Promise<{ pid: number; localPort: number; reused: boolean }> {
  const req = http.get({ host: '127.0.0.1', port, path, agent });
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  const localPort = res.socket.localPort!;
  let text = '';
  for await (const chunk of res) text += chunk;
  return { pid: (JSON.parse(text) as { pid: number }).pid, localPort, reused: req.reusedSocket };
}

/** A raw HTTP/1.1 connection: write requests yourself, read whole responses (Content-Length framed). */
async function connect(): Promise<{ socket: net.Socket; response(timeoutMs?: number): Promise<string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let buffer = '';
  let wake: (() => void) | undefined;
  socket.on('data', (d: string) => {
    buffer += d;
    wake?.();
  });
  socket.on('close', () => wake?.());
  const response = async (timeoutMs = 8000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = buffer.indexOf('\r\n\r\n');
      const length = end < 0 ? 0 : Number(/content-length: *(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (end >= 0 && buffer.length >= end + 4 + length) {
        const whole = buffer.slice(0, end + 4 + length);
        buffer = buffer.slice(end + 4 + length);
        return whole;
      }
      if (socket.destroyed || Date.now() > deadline) throw new Error(`no whole response (connection ${socket.destroyed ? 'closed' : 'open'}), got ${JSON.stringify(buffer)}`);
      await Promise.race([new Promise<void>((resolve) => (wake = resolve)), sleep(100)]);
    }
  };
  return { socket, response };
}

const request = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`;
const pidIn = (response: string): number => (JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { pid: number }).pid;

async function mainPid(): Promise<number> {
  return Number((await m.show('web.service', 'MainPID')).MainPID);
}

describe('zero-downtime restarts and upgrades (real systemd)', () => {
  it('restart: an idle keep-alive connection is handed to the next process, same TCP session', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await ask(agent, '/a');
    await m.systemctl('restart', 'web.service');
    const second = await ask(agent, '/b');
    expect(second.pid).not.toBe(first.pid);
    expect(second.pid).toBe(await mainPid());
    expect(second).toMatchObject({ localPort: first.localPort, reused: true });
    agent.destroy();
  });

  it('restart x4 under keep-alive (random pauses) and fresh-connection load: 0 failed requests', async () => {
    await ask(new http.Agent(), '/warm');
    const load = startLoad(port, { keepAlive: 4, fresh: 2 });
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      await m.systemctl('restart', 'web.service');
    }
    await sleep(400);
    const r = await load.stop();
    expect(r.failed).toEqual([]);
    expect(r.ok).toBeGreaterThan(50);
    expect(r.pids.size).toBeGreaterThanOrEqual(4);
  });

  it('restart after each of 3 reloads, once the old process is gone (the main process is then a successor, which systemd did not start, alone in the unit), under the same load: 0 failed requests, with the example\'s ExecStop=', async () => {
    const load = startLoad(port, { keepAlive: 4, fresh: 2 });
    for (let i = 0; i < 3; i++) {
      await sleep(400);
      const old = await mainPid();
      await m.systemctl('reload', 'web.service');
      // Once the old process has drained and gone, the successor is alone in the unit.
      while (existsSync(`/proc/${old}`)) await sleep(20);
      await m.systemctl('restart', 'web.service');
    }
    await sleep(400);
    const r = await load.stop();
    expect(r.failed).toEqual([]);
    expect(r.ok).toBeGreaterThan(50);
  });

  it('reload x4 (hot upgrade) under the same load: 0 failed requests, a new main pid each time', async () => {
    const load = startLoad(port, { keepAlive: 4, fresh: 2 });
    const pids = [await mainPid()];
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      await m.systemctl('reload', 'web.service');
      pids.push(await mainPid());
    }
    await sleep(400);
    const r = await load.stop();
    expect(r.failed).toEqual([]);
    expect(new Set(pids).size).toBe(5);
    expect(await m.show('web.service', 'ActiveState', 'SubState')).toEqual({ ActiveState: 'active', SubState: 'running' });
  });

  it('reload: idle keep-alive connections move to the successor (same socket, new pid): one after the old process answered it during the linger, one when the linger ends', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const quiet = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await ask(agent, '/a');
    const idle = await ask(quiet, '/q');
    await m.systemctl('reload', 'web.service');
    await sleep(200);
    // hotUpgrade()'s drain lingers (drainLinger, 1 s): the old process answers, keeping it open…
    const second = await ask(agent, '/b');
    expect(second).toMatchObject({ pid: first.pid, localPort: first.localPort, reused: true });
    await sleep(100);
    // …and hands it over right after that answer.
    const third = await ask(agent, '/c');
    expect(third.pid).not.toBe(first.pid);
    expect(third.pid).toBe(await mainPid());
    expect(third).toMatchObject({ localPort: first.localPort, reused: true });
    await sleep(1200);
    expect(await ask(quiet, '/r')).toMatchObject({ pid: third.pid, localPort: idle.localPort, reused: true });
    agent.destroy();
    quiet.destroy();
  });

  it('a restart while the old process of a reload still lingers: its idle keep-alive connection still reaches the next process (same TCP session), through the stopping successor', async () => {
    const quiet = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const idle = await ask(quiet, '/q');
    await m.systemctl('reload', 'web.service');
    // At once: the old process lingers 1 s (drainLinger) before it hands the connection on, and
    // the successor, asked to stop, has nothing of its own to drain.
    await m.systemctl('restart', 'web.service');
    const next = await ask(quiet, '/r');
    expect(next).toMatchObject({ pid: await mainPid(), localPort: idle.localPort, reused: true });
    quiet.destroy();
  });

  it('reload: a request sent while its idle connection is on its way to a slow successor is answered there', async () => {
    const a = await connect();
    a.socket.write(request('/a1'));
    const before = pidIn(await a.response());
    // Half a request on a second connection keeps the old process draining (alive) meanwhile.
    const b = await connect();
    b.socket.write(request('/b1'));
    await b.response();
    b.socket.write('GET /b2 HTTP/1.1\r\nHost: test\r\n');
    writeFileSync(stallMarker, '');
    try {
      const reload = m.systemctlRun('reload', 'web.service');
      await m.waitForUnit('web.service', { MainPID: (v) => v !== String(before) && v !== '0' });
      // The successor is now blocked for 3 s; A, idle, is sent to it when the old process's
      // linger (1 s) ends, and not yet acknowledged.
      await sleep(1500);
      a.socket.write(request('/a2'));
      const answer = await a.response();
      expect(pidIn(answer)).toBe(await mainPid());
      b.socket.write('\r\n');
      const last = await b.response();
      expect(pidIn(last)).toBe(before);
      expect(last).toMatch(/connection: close/i);
      expect((await reload).code).toBe(0);
    } finally {
      rmSync(stallMarker);
      a.socket.destroy();
      b.socket.destroy();
    }
  });

  it('a successor that fails: systemctl reload fails, the old process keeps serving', async () => {
    const before = await mainPid();
    writeFileSync(failMarker, '');
    try {
      const r = await m.systemctlRun('reload', 'web.service');
      expect(r.code).not.toBe(0);
      expect(await mainPid()).toBe(before);
      const answer = await ask(new http.Agent(), '/still');
      expect(answer.pid).toBe(before);
      expect((await m.show('web.service', 'StatusText')).StatusText).toMatch(/^upgrade failed: the successor exited \(status 3\)/);
      // what the reload command (ExecReload=, its stderr in the unit's log) reported
      expect(readFileSync(m.path('logs', 'web.log'), 'utf8')).toContain(`socket-activation: upgrade of pid ${before} failed: the successor exited (status 3)`);
    } finally {
      rmSync(failMarker);
    }
    await m.systemctl('reload', 'web.service');
    expect(await mainPid()).not.toBe(before);
    // The next successful upgrade takes the failure off `systemctl status`.
    expect((await m.show('web.service', 'StatusText')).StatusText).toBe('');
  });
});

describe('a symlinked release switch takes effect on reload (real systemd, WorkingDirectory= a symlink)', () => {
  const srv = (): string => m.path('srv');
  const current = (): string => join(srv(), 'current');

  // Each release's app reports its code's version and the VERSION file it read at start-up,
  // relative to its working directory: both the script and the directory show which release runs.
  function release(version: string): void {
    const dir = join(srv(), 'releases', version);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'VERSION'), version);
    writeFileSync(
      join(dir, 'app.mjs'),
      `import http from 'node:http';
      import { readFileSync } from 'node:fs';
      import { hotUpgrade, listen, ready } from ${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)};
      const version = readFileSync('VERSION', 'utf8');
      const server = http.createServer((req, res) => res.end(JSON.stringify({ pid: process.pid, code: ${JSON.stringify(version)}, version })));
      await listen(server, 'web');
      const dir = process.env.APP_DIR;
      hotUpgrade(server, dir ? { cwd: () => dir } : {});
      await ready();
      `,
    );
  }

  // Switches `current` atomically, then removes the release it pointed to, as deploy tools do.
  function switchTo(version: string): void {
    const old = readlinkSync(current());
    const next = join(srv(), 'next');
    symlinkSync(join('releases', version), next);
    renameSync(next, current());
    rmSync(join(srv(), old), { recursive: true, force: true });
  }

  async function answer(p: number): Promise<{ pid: number; code: string; version: string }> {
    const req = http.get({ host: '127.0.0.1', port: p, agent: false });
    const [res] = (await once(req, 'response')) as [http.IncomingMessage];
    let text = '';
    for await (const chunk of res) text += chunk;
    return JSON.parse(text) as { pid: number; code: string; version: string };
  }

  it.each([
    ['an absolute ExecStart= below it (the default finds the directory)', 'abs', (dir: string) => `${command(process.execPath, join(dir, 'app.mjs'))}`, false],
    ['a relative ExecStart= (the cwd option names the directory)', 'rel', () => `${command(process.execPath)} app.mjs`, true],
  ] as const)('%s: the successor runs the new release in it, also after the old one is removed', async (_, unit, exec, cwdOption) => {
    for (const v of ['v1', 'v2', 'v3']) release(v);
    rmSync(current(), { force: true });
    symlinkSync(join('releases', 'v1'), current());
    const p = await freePort();
    m.writeUnit(`${unit}.socket`, `[Socket]\n    ListenStream=127.0.0.1:${p}\n    FileDescriptorName=web`);
    m.writeUnit(
      `${unit}.service`,
      `[Service]
      Type=notify
      WorkingDirectory=${current()}
      ExecStart=${exec(current())}
      ExecReload=${command(join(root, 'bin/socket-activation-reload'))} $MAINPID
      ${cwdOption ? `Environment=APP_DIR=${current()}` : ''}
      StandardOutput=append:${m.path('logs', `${unit}.log`)}
      StandardError=inherit`,
    );
    await m.daemonReload();
    await m.systemctl('start', `${unit}.socket`);
    try {
      expect(await answer(p)).toMatchObject({ code: 'v1', version: 'v1' });
      for (const v of ['v2', 'v3']) {
        switchTo(v);
        await m.systemctl('reload', `${unit}.service`);
        const main = Number((await m.show(`${unit}.service`, 'MainPID')).MainPID);
        expect(await answer(p)).toEqual({ pid: main, code: v, version: v });
      }
    } finally {
      await m.systemctlRun('stop', `${unit}.socket`, `${unit}.service`);
    }
  });
});
