// The notify protocol against a real systemd user manager (test/helpers/systemd.ts):
// Type=notify readiness, STATUS=, the watchdog, the fd store across restarts, and plain TCP
// connections kept open across a restart. Never skipped.
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, root } from './helpers/activated.js';
import { command, freePort, startManager, type Manager } from './helpers/systemd.js';

let m: Manager;

beforeAll(async () => {
  m = await startManager();
});

afterAll(async () => {
  await m?.stop();
});

const node = process.execPath;

/** A line-protocol client on one TCP connection: ask() sends a line and resolves the answer. */
class LineClient {
  private buffered = '';
  private waiting: ((line: string) => void)[] = [];
  ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffered += chunk;
      let nl;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(line);
      }
    });
    socket.on('end', () => (this.ended = true));
  }

  static async connect(port: number): Promise<LineClient> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    return new LineClient(socket);
  }

  ask(line: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${line}`)), timeoutMs);
      this.waiting.push((answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.socket.write(`${line}\n`);
    });
  }

  async waitForEnd(timeoutMs = 10_000): Promise<void> {
    if (this.ended) return;
    const timer = setTimeout(() => this.socket.destroy(new Error('no FIN from the service')), timeoutMs);
    try {
      await once(this.socket, 'end');
    } finally {
      clearTimeout(timer);
    }
  }
}

function notifyUnit(name: string, out: string, port: number, extra: { args?: string[]; service?: string } = {}): void {
  m.writeUnit(
    `${name}.service`,
    `[Unit]
    StartLimitIntervalSec=0
    [Service]
    Type=notify
    ExecStart=${command(node, `${fixtures}systemd-notify.mjs`, '--port', String(port), '--out', out, ...(extra.args ?? []))}
    ${extra.service ?? ''}
    StandardOutput=append:${m.path('logs', `${name}.log`)}
    StandardError=inherit`,
  );
}

describe('Type=notify under a real systemd user manager', () => {
  it('the unit is "activating" until READY=1, then "active" with the STATUS= text', async () => {
    const port = await freePort();
    const out = m.path('out', 'ready.json');
    const gate = m.path('out', 'ready.gate');
    notifyUnit('ready', out, port, { args: ['--ready-after', gate] });
    await m.daemonReload();
    await m.systemctl('start', '--no-block', 'ready.service');
    await m.waitForUnit('ready.service', { ActiveState: 'activating', MainPID: (pid) => pid !== '0' });
    await sleep(700);
    expect(await m.show('ready.service', 'ActiveState', 'SubState')).toEqual({ ActiveState: 'activating', SubState: 'start' });
    writeFileSync(gate, '');
    const unit = await m.waitForUnit('ready.service', { ActiveState: 'active', SubState: 'running', MainPID: (pid) => pid !== '0' });
    const report = await m.waitForJson(out);
    expect(Number(unit.MainPID)).toBe(report.pid);
    expect(report.barrier).toBe(true);
    expect(report.env.NOTIFY_SOCKET).toMatch(/^\//);
    expect((await m.show('ready.service', 'StatusText')).StatusText).toBe('serving bound listener, 0 kept connections back');
    await m.systemctl('stop', 'ready.service');
  });

  it('the watchdog keeps a WatchdogSec= unit alive; a stalled event loop gets it restarted', async () => {
    const port = await freePort();
    const out = m.path('out', 'dog.json');
    notifyUnit('dog', out, port, { args: ['--watchdog'], service: 'WatchdogSec=1\nRestart=on-watchdog\nRestartSec=100ms' });
    await m.daemonReload();
    await m.systemctl('start', 'dog.service');
    const first = await m.waitForJson(out);
    expect(first.watchdog).toEqual({ intervalMs: 1000, pingEveryMs: 500 });
    expect(first.env.WATCHDOG_USEC).toBe('1000000');
    rmSync(out);
    // Three intervals with pings: still the same process, no restart.
    await sleep(3000);
    expect(await m.show('dog.service', 'ActiveState', 'MainPID', 'NRestarts')).toEqual({ ActiveState: 'active', MainPID: String(first.pid), NRestarts: '0' });

    process.kill(first.pid, 'SIGUSR2');
    const second = await m.waitForJson(out, 20_000);
    expect(second.pid).not.toBe(first.pid);
    const unit = await m.waitForUnit('dog.service', { ActiveState: 'active', NRestarts: '1', MainPID: String(second.pid) });
    expect(unit.NRestarts).toBe('1');
    await m.systemctl('stop', 'dog.service');
  });

  it('fd store: a stored listener comes back by name after restart, and stop empties the store', async () => {
    const port = await freePort();
    const out = m.path('out', 'store.json');
    notifyUnit('store', out, port, { service: 'FileDescriptorStoreMax=4' });
    await m.daemonReload();
    await m.systemctl('start', 'store.service');
    const first = await m.waitForJson(out);
    expect(first).toMatchObject({ activated: false, source: 'bound' });
    await m.waitForUnit('store.service', { NFileDescriptorStore: '1' });
    rmSync(out);

    await m.systemctl('restart', 'store.service');
    const second = await m.waitForJson(out);
    expect(second).toMatchObject({ activated: true, names: ['kept-listener'], source: 'store' });
    expect(second.pid).not.toBe(first.pid);
    const client = await LineClient.connect(port);
    expect(await client.ask('hello')).toBe(`${second.pid} hello`);
    client.socket.destroy();
    // Storing the same socket again (the new run does) is ignored by systemd: still one entry.
    expect((await m.show('store.service', 'NFileDescriptorStore')).NFileDescriptorStore).toBe('1');

    await m.systemctl('stop', 'store.service');
    expect((await m.show('store.service', 'NFileDescriptorStore')).NFileDescriptorStore).toBe('0');
    rmSync(out);
    await m.systemctl('start', 'store.service');
    expect(await m.waitForJson(out)).toMatchObject({ activated: false, source: 'bound' });
    await m.systemctl('stop', 'store.service');
  });

  it('a kept TCP connection answers the same client after a restart, and closing it then really closes it', async () => {
    const port = await freePort();
    const out = m.path('out', 'conn.json');
    notifyUnit('conn', out, port, { service: 'FileDescriptorStoreMax=8' });
    await m.daemonReload();
    await m.systemctl('start', 'conn.service');
    const first = await m.waitForJson(out);
    rmSync(out);

    const a = await LineClient.connect(port);
    const b = await LineClient.connect(port);
    const localPorts = [a.socket.localPort, b.socket.localPort];
    expect(await a.ask('one')).toBe(`${first.pid} one`);
    expect(await b.ask('one')).toBe(`${first.pid} one`);

    await m.systemctl('restart', 'conn.service');
    const second = await m.waitForJson(out);
    expect(second.pid).not.toBe(first.pid);
    expect(second.restored.sort()).toEqual([...localPorts].sort());
    // The listener is back in the store; the two connections were taken out of it.
    expect((await m.show('conn.service', 'NFileDescriptorStore')).NFileDescriptorStore).toBe('1');

    // Same sockets, no reconnect: the next request is answered by the new process.
    expect(await a.ask('two')).toBe(`${second.pid} two`);
    expect(await b.ask('two')).toBe(`${second.pid} two`);
    expect([a.socket.localPort, b.socket.localPort]).toEqual(localPorts);

    // Closing after the hand-over sends a FIN: by end() ...
    expect(await a.ask('bye')).toBe(`${second.pid} bye`);
    await a.waitForEnd();
    // ... and by destroy(), which before the removal from the store would have sent nothing.
    b.socket.write('drop\n');
    await b.waitForEnd();
    await m.systemctl('stop', 'conn.service');
  });

  it('examples/echo/server.mjs under its socket unit: restarts keep the client connected, a half-sent line is not moved', async () => {
    const port = await freePort();
    m.writeUnit(
      'echo.socket',
      `[Socket]
      ListenStream=127.0.0.1:${port}
      FileDescriptorName=echo`,
    );
    m.writeUnit(
      'echo.service',
      `[Unit]
      StartLimitIntervalSec=0
      [Service]
      Type=notify
      ExecStart=${command(node, `${root}examples/echo/server.mjs`)}
      WorkingDirectory=${root}
      FileDescriptorStoreMax=16
      WatchdogSec=10
      StandardOutput=append:${m.path('logs', 'echo.log')}
      StandardError=inherit`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'echo.socket');
    const idle = await LineClient.connect(port);
    const first = Number(/^\[(\d+)\] a$/.exec(await idle.ask('a'))![1]);
    expect((await m.show('echo.service', 'MainPID')).MainPID).toBe(String(first));
    const busy = await LineClient.connect(port);
    expect(await busy.ask('x')).toBe(`[${first}] x`);
    busy.socket.write('half a li');
    await sleep(100);

    for (let i = 0; i < 3; i++) {
      await m.systemctl('restart', 'echo.service');
      const pid = Number((await m.waitForUnit('echo.service', { ActiveState: 'active', MainPID: (p) => p !== '0' && p !== String(first) })).MainPID);
      expect(await idle.ask(`after ${i}`)).toBe(`[${pid}] after ${i}`);
    }
    expect(idle.ended).toBe(false);
    // The connection with half a line in the old process was closed normally, not moved.
    await busy.waitForEnd();
    expect(await m.show('echo.service', 'StatusText')).toEqual({ StatusText: expect.stringMatching(/1 connections kept from the previous run$/) });
    idle.socket.destroy();
    await m.systemctl('stop', 'echo.service', 'echo.socket');
  });
});
