// The real-systemd tier: a private systemd user manager (test/helpers/systemd.ts) runs real
// .socket and .service units whose services are the fixtures under test/fixtures/systemd-*.mjs.
// Never skipped: a machine that cannot run it fails here, with the manager's output.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from './helpers/activated.js';
import { command, environment, freePort, freeUdpPortBoth, startManager, unitPath, which, type Manager } from './helpers/systemd.js';

let m: Manager;

beforeAll(async () => {
  m = await startManager();
});

afterAll(async () => {
  await m?.stop();
});

const node = process.execPath;

/** The [Service] lines every fixture service shares: output to a log file under the manager's dir. */
function serviceLines(unit: string): string {
  return `
    StandardOutput=append:${m.path('logs', `${unit}.log`)}
    StandardError=inherit
  `;
}

/** Quotes one word for sh (npm runs scripts with sh -c). */
const sh = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

interface Answer {
  status: number;
  body: any;
}

/** One HTTP GET on a fresh connection (no keep-alive), over TCP or a unix socket. */
function get(target: { port: number; host?: string } | { socketPath: string }, path = '/', timeoutMs = 5000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...target, path, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (err) {
          reject(new Error(`not JSON: ${text}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
  });
}

/** Sends one datagram and waits for the reply. */
function echo(host: string, port: number, payload: Buffer, timeoutMs = 5000): Promise<Buffer> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no UDP reply from ${host}:${port}`)), timeoutMs);
    socket.once('error', reject);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    socket.send(payload, port, host);
  }).finally(() => socket.close());
}

/** `ss -ltn` Send-Q (the backlog limit of a listener) for a local port; undefined without `ss`. */
async function ssBacklog(port: number): Promise<number | undefined> {
  let ss: string;
  try {
    ss = which('ss');
  } catch {
    return undefined;
  }
  const out = await new Promise<string>((resolve, reject) =>
    execFile(ss, ['-Hltn', `sport = :${port}`], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  const fields = out.trim().split(/\s+/);
  // State Recv-Q Send-Q Local Peer
  return Number(fields[2]);
}

describe('systemd socket units', () => {
  it('ListenStream TCP with FileDescriptorName=web and Backlog=77: served, named, backlog kept', async () => {
    const port = await freePort();
    const out = m.path('out', 'web.json');
    m.writeUnit(
      'web.socket',
      `[Socket]
      ListenStream=127.0.0.1:${port}
      FileDescriptorName=web
      Backlog=77`,
    );
    m.writeUnit(
      'web.service',
      `[Service]
      ExecStart=${command(node, `${fixtures}systemd-serve.mjs`, '--name', 'web', '--out', out)}
      ${serviceLines('web')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'web.socket');
    await m.waitForUnit('web.socket', { ActiveState: 'active', SubState: 'listening' });

    // The first connection starts the service.
    const answer = await get({ port, host: '127.0.0.1' }, '/hello');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ url: '/hello', port });
    const unit = await m.waitForUnit('web.service', { ActiveState: 'active', SubState: 'running', MainPID: (pid) => pid !== '0' });
    expect(Number(unit.MainPID)).toBe(answer.body.pid);

    const report = await m.waitForJson(out);
    expect(report.activated).toBe(true);
    expect(report.descriptors).toHaveLength(1);
    expect(report.descriptors[0]).toMatchObject({
      fd: 3,
      name: 'web',
      kind: 'socket',
      type: 'stream',
      family: 'inet',
      protocol: 'tcp',
      listening: true,
      cloexec: true,
      backlog: 77,
      local: { address: '127.0.0.1', port },
    });
    expect(report.addresses).toEqual([{ address: '127.0.0.1', port, family: 'IPv4' }]);
    // After Node listened on its duplicate, the kernel still has systemd's Backlog=.
    expect(report.after[0]).toMatchObject({ ok: true, value: { fd: 3, listening: true, backlog: 77 } });
    const ss = await ssBacklog(port);
    if (ss !== undefined) expect(ss).toBe(77);
  });

  it('two Listen lines, no FileDescriptorName=: both named after the unit; listener() is ambiguous, listen() serves both', async () => {
    const p4 = await freePort('127.0.0.1');
    const p6 = await freePort('::1');
    const out = m.path('out', 'app.json');
    m.writeUnit(
      'app.socket',
      `[Socket]
      ListenStream=127.0.0.1:${p4}
      ListenStream=[::1]:${p6}`,
    );
    m.writeUnit(
      'app.service',
      `[Service]
      ExecStart=${command(node, `${fixtures}systemd-serve.mjs`, '--name', 'app.socket', '--probe', '--out', out)}
      ${serviceLines('app')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'app.socket');
    await m.waitForUnit('app.socket', { ActiveState: 'active' });

    const a = await get({ port: p4, host: '127.0.0.1' }, '/v4');
    const b = await get({ port: p6, host: '::1' }, '/v6');
    expect(a).toMatchObject({ status: 200, body: { url: '/v4', port: p4 } });
    expect(b).toMatchObject({ status: 200, body: { url: '/v6', port: p6 } });
    expect(b.body.pid).toBe(a.body.pid); // one process serves both

    const report = await m.waitForJson(out);
    expect(report.probe).toMatchObject({ ok: false, code: 'ERR_LISTENER_AMBIGUOUS', fields: { listenerName: 'app.socket', found: [3, 4] } });
    expect(report.descriptors.map((d: any) => [d.fd, d.name, d.family])).toEqual([
      [3, 'app.socket', 'inet'],
      [4, 'app.socket', 'inet6'],
    ]);
    expect(report.addresses).toMatchObject([
      { address: '127.0.0.1', port: p4, family: 'IPv4' },
      { address: '::1', port: p6, family: 'IPv6' },
    ]);
    // The unit's default Backlog= is SOMAXCONN; every listener keeps it.
    for (const r of report.after) expect(r.value.backlog).toBe(report.descriptors[0].backlog);
  });

  it('ListenStream on a unix path: served, and the reported address is the path', async () => {
    const path = m.path('sock', 'web.sock');
    const out = m.path('out', 'local.json');
    m.writeUnit(
      'local.socket',
      `[Socket]
      ListenStream=${path}
      FileDescriptorName=local`,
    );
    m.writeUnit(
      'local.service',
      `[Service]
      ExecStart=${command(node, `${fixtures}systemd-serve.mjs`, '--name', 'local', '--out', out)}
      ${serviceLines('local')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'local.socket');
    await m.waitForUnit('local.socket', { ActiveState: 'active' });

    const answer = await get({ socketPath: path }, '/unix');
    expect(answer).toMatchObject({ status: 200, body: { url: '/unix' } });
    const report = await m.waitForJson(out);
    expect(report.descriptors[0]).toMatchObject({ name: 'local', family: 'unix', type: 'stream', listening: true, local: { path } });
    expect(report.addresses[0].path).toBe(path);
  });

  it('ListenDatagram UDP on 127.0.0.1 and [::1]: bindDatagram(name) echoes over IPv4 and IPv6', async () => {
    const port = await freeUdpPortBoth();
    const out = m.path('out', 'echo.json');
    m.writeUnit(
      'dns4.socket',
      `[Socket]
      ListenDatagram=127.0.0.1:${port}
      FileDescriptorName=dns4
      Service=echo.service`,
    );
    m.writeUnit(
      'dns6.socket',
      `[Socket]
      ListenDatagram=[::1]:${port}
      FileDescriptorName=dns6
      Service=echo.service`,
    );
    m.writeUnit(
      'echo.service',
      `[Service]
      ExecStart=${command(node, `${fixtures}systemd-echo.mjs`, '--names', 'dns4,dns6', '--out', out)}
      ${serviceLines('echo')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'dns4.socket', 'dns6.socket');
    await m.waitForUnit('dns6.socket', { ActiveState: 'active' });

    // The first datagram starts the service; it waits in the socket until the service reads it.
    const v4 = Buffer.from([0, 1, 2, 0xff, 0x34]);
    expect(await echo('127.0.0.1', port, v4)).toEqual(v4);
    const v6 = Buffer.from('over IPv6 \u{1f310}');
    expect(await echo('::1', port, v6)).toEqual(v6);

    const report = await m.waitForJson(out);
    const byName = Object.fromEntries(report.sockets.map((s: any) => [s.name, s]));
    expect(byName.dns4).toMatchObject({ type: 'udp4', descriptor: { type: 'dgram', family: 'inet', protocol: 'udp', listening: false }, address: { address: '127.0.0.1', port } });
    expect(byName.dns6).toMatchObject({ type: 'udp6', descriptor: { type: 'dgram', family: 'inet6', protocol: 'udp' }, address: { address: '::1', port } });
  });

  // FileDescriptorName= does not name an instance's connection: connection('echo') takes it all the same.
  it.each(['listen', 'connections', 'connection'])('Accept=yes with a template service and FileDescriptorName=echo: one instance per connection, fds named "connection" (%s)', async (mode) => {
    const port = await freePort();
    const dir = m.path('out', `accept-${mode}`);
    mkdirSync(dir);
    const base = `conn-${mode}`;
    m.writeUnit(
      `${base}.socket`,
      `[Socket]
      ListenStream=127.0.0.1:${port}
      FileDescriptorName=echo
      Accept=yes`,
    );
    m.writeUnit(
      `${base}@.service`,
      `[Unit]
      StartLimitIntervalSec=0
      [Service]
      ExecStart=${command(node, `${fixtures}systemd-accept.mjs`, '--mode', mode, '--dir', dir)}
      ${serviceLines(base)}`,
    );
    await m.daemonReload();
    await m.systemctl('start', `${base}.socket`);
    await m.waitForUnit(`${base}.socket`, { ActiveState: 'active' });

    const first = await get({ port, host: '127.0.0.1' }, '/one');
    const second = await get({ port, host: '127.0.0.1' }, '/two');
    expect(first).toMatchObject({ status: 200, body: { url: '/one' } });
    expect(second).toMatchObject({ status: 200, body: { url: '/two' } });
    expect(second.body.pid).not.toBe(first.body.pid);

    for (const answer of [first, second]) {
      const report = await m.waitForJson(join(dir, `${answer.body.pid}.json`));
      expect(report.served).toBe(1);
      expect(report.activation.activated).toBe(true);
      expect(report.activation.descriptors).toHaveLength(1);
      expect(report.activation.descriptors[0]).toMatchObject({
        fd: 3,
        name: 'connection',
        type: 'stream',
        family: 'inet',
        protocol: 'tcp',
        listening: false,
        local: { address: '127.0.0.1', port },
        remote: { address: '127.0.0.1' },
      });
    }
    const accepted = await m.show(`${base}.socket`, 'NAccepted');
    expect(Number(accepted.NAccepted)).toBe(2);
  });
});

describe('systemd services', () => {
  it('`npm start` as ExecStart: not activated, reason "wrapper"; listener() throws ERR_NOT_ACTIVATED', async () => {
    const port = await freePort();
    const out = m.path('out', 'npm.json');
    // A tiny app package whose start script runs the fixture (which finds the package by
    // self-reference in this repository).
    const pkg = m.path('npm-app');
    mkdirSync(pkg);
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'sa-npm-app', private: true, scripts: { start: ['node', `${fixtures}systemd-report.mjs`, '--name', 'web', '--out', out].map(sh).join(' ') } }),
    );
    m.writeUnit(
      'npm.socket',
      `[Socket]
      ListenStream=127.0.0.1:${port}
      FileDescriptorName=web`,
    );
    m.writeUnit(
      'npm.service',
      `[Service]
      WorkingDirectory=${pkg}
      ${environment({ PATH: unitPath(), HOME: m.path('home'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' })}
      ExecStart=${command(which('npm'), 'start')}
      ${serviceLines('npm')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'npm.socket');
    await m.systemctl('start', 'npm.service');

    const report = await m.waitForJson(out, 20_000);
    // systemd did pass the fd and its name, to npm.
    expect(report.env).toMatchObject({ LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' });
    expect(Number(report.env.LISTEN_PID)).not.toBe(report.pid);
    expect(report.activation).toMatchObject({ ok: true, value: { activated: false, reason: 'wrapper', listenPid: Number(report.env.LISTEN_PID) } });
    expect(report.listener).toMatchObject({ ok: false, code: 'ERR_NOT_ACTIVATED', fields: { listenerName: 'web', reason: 'wrapper' } });
  });

  it('restart keeps the socket: connections made during the restart gap are served', async () => {
    const port = await freePort();
    const out = m.path('out', 'keep.json');
    m.writeUnit(
      'keep.socket',
      `[Socket]
      ListenStream=127.0.0.1:${port}
      FileDescriptorName=web`,
    );
    m.writeUnit(
      'keep.service',
      `[Unit]
      StartLimitIntervalSec=0
      [Service]
      ExecStart=${command(node, `${fixtures}systemd-serve.mjs`, '--name', 'web', '--delay', '400', '--out', out)}
      ${serviceLines('keep')}`,
    );
    await m.daemonReload();
    await m.systemctl('start', 'keep.socket');
    const before = await get({ port, host: '127.0.0.1' }, '/before');
    expect(before.status).toBe(200);
    expect((await m.waitForJson(out)).pid).toBe(before.body.pid);
    rmSync(out);

    // Requests every 40 ms from the restart until well after the new process listens (it
    // sleeps 400 ms first): those sent after the old process is gone and before the new one
    // listens wait in the socket's queue.
    let restarted = Infinity;
    const restart = m.systemctl('restart', 'keep.service').then(() => (restarted = Date.now()));
    const sent: { at: number; answer: Promise<Answer> }[] = [];
    const start = Date.now();
    while (sent.length < 25 || (Date.now() < restarted + 200 && Date.now() < start + 10_000)) {
      sent.push({ at: Date.now(), answer: get({ port, host: '127.0.0.1' }, `/during-${sent.length}`, 10_000) });
      await sleep(40);
    }
    await restart;
    const settled = await Promise.allSettled(sent.map((s) => s.answer));
    const failures = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason));
    expect(failures).toEqual([]);
    const answers = settled.map((s) => (s as PromiseFulfilledResult<Answer>).value);
    const report = await m.waitForJson(out);
    const after = await get({ port, host: '127.0.0.1' }, '/after');
    expect(after.body.pid).toBe(report.pid);
    expect(after.body.pid).not.toBe(before.body.pid);
    for (const a of answers) expect([before.body.pid, after.body.pid]).toContain(a.body.pid);
    const gap = sent.map((s, i) => ({ ...s, pid: answers[i]!.body.pid })).filter((s) => s.at > restarted && s.at < report.listeningAt);
    expect(gap.length).toBeGreaterThan(0);
    for (const s of gap) expect(s.pid).toBe(after.body.pid);
    expect(await m.show('keep.socket', 'ActiveState', 'SubState')).toEqual({ ActiveState: 'active', SubState: 'running' });
    expect(Number((await m.show('keep.service', 'MainPID')).MainPID)).toBe(after.body.pid);
  });
});
