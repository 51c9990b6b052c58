// The protocol between the two processes of a hot upgrade, across versions: the predecessor
// names the one it speaks (SOCKET_ACTIVATION_SUCCESSOR); a successor that does not speak it
// refuses on the channel and exits, and the predecessor rolls back at once with that reason
// instead of waiting for a READY=1 that cannot come. Real processes, no service manager.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { hotUpgrade, type HotUpgradeOptions } from '../src/index.js';
import { askToUpgrade } from '../src/control-path.js';
import { native } from '../src/native.js';
import { finish, fixtures, reportOf, root, runActivated, startActivated, waitForLine } from './helpers/activated.js';
import { runInline } from './helpers/inline.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { closeAll, inetSocket } from './helpers/sockets.js';

afterAll(closeAll);

describe('a successor started by a predecessor that speaks another protocol', () => {
  it('sends SOCKET_ACTIVATION_REFUSED= with the reason up the channel, says it on stderr and exits 1 before serving', async () => {
    const pair = native().socketPair(native().constants.SOCK_SEQPACKET);
    if (typeof pair === 'number') throw new Error(`socketpair: ${pair}`);
    const child = spawn(process.execPath, ['--input-type=module', '-e', "await import('socket-activation'); console.log('went on');"], {
      cwd: root,
      env: { ...process.env, SOCKET_ACTIVATION_SUCCESSOR: '2', SOCKET_ACTIVATION_HANDOFF_FD: '3' },
      stdio: ['ignore', 'pipe', 'pipe', pair[1]],
    });
    native().close(pair[1]);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      expect((await once(child, 'exit'))[0]).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toContain('socket-activation: cannot take over from the process that started this one: it speaks hot-upgrade protocol "2", this copy of socket-activation 1');
      let got = native().receive(pair[0]);
      for (let i = 0; got === -constants.errno.EAGAIN && i < 100; i++, got = native().receive(pair[0])) await sleep(10);
      if (typeof got === 'number') throw new Error(`receive: ${got}`);
      expect(got.data.toString()).toMatch(/^SOCKET_ACTIVATION_REFUSED=it speaks hot-upgrade protocol "2", this copy of socket-activation 1: restart the service/);
    } finally {
      child.kill();
      native().close(pair[0]);
    }
  });
});

describe('hotUpgrade() arguments', () => {
  // Checked at the call: found at upgrade time, a bad drain option left the old process
  // serving beside its successor after the hand-over.
  it.each([
    [undefined, {}, /hotUpgrade\(\) servers must be a net\.Server .*found undefined/],
    [5, {}, /servers must be .*found 5/],
    [['server', 5], {}, /servers must be .*or an array of them, found 5/],
    ['server', { drainTimeout: 'x' }, /hotUpgrade\(\) drainTimeout must be a number of milliseconds from 0 to 2147483647/],
    ['server', { readyTimeout: 3e9 }, /readyTimeout must be a number of milliseconds/],
    ['server', { drainLinger: -1 }, /drainLinger must be/],
    ['server', { signal: 'SIGFOO' }, /signal must be a signal name such as SIGHUP, or null, found "SIGFOO"/],
    ['server', { command: ['node'] }, /command must be a function/],
    ['server', { exit: 'no' }, /exit must be true or false/],
    ['server', 7, /options must be an object, found 7/],
    // A successor cannot be ready in no time: every upgrade failed.
    ['server', { readyTimeout: 0 }, /hotUpgrade\(\) readyTimeout must be a number of milliseconds from 1 to 2147483647, found 0/],
  ])('%j with %j: ERR_INVALID_ARGUMENT', (servers, options, message) => {
    const server = http.createServer();
    const given = Array.isArray(servers) ? servers.map((s) => (s === 'server' ? server : s)) : servers === 'server' ? server : servers;
    expect(() => hotUpgrade(given as http.Server, options as HotUpgradeOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });
});

describe('hotUpgrade() set-up', () => {
  it('null for a duration is its default, as drain() takes it', () => {
    const upgrader = hotUpgrade(http.createServer(), { signal: null, readyTimeout: null, drainTimeout: null, drainLinger: null } as unknown as HotUpgradeOptions);
    upgrader.stop();
  });

  it('upgrade() in a process that was not activated: the outcome says why and what to do, not only the reason code', async () => {
    const upgrader = hotUpgrade(http.createServer(), { signal: null, onOutcome: () => {} });
    try {
      expect(await upgrader.upgrade()).toEqual({
        ok: false,
        reason: expect.stringMatching(/^A hot upgrade passes the inherited listeners to the successor, but this process was not socket-activated \(absent\): LISTEN_PID is not set: .*Start it from a \.socket unit/),
      });
    } finally {
      upgrader.stop();
    }
  });

  it('stop() takes back everything it added: many set-ups and stops leave no exit listener behind', () => {
    const before = { exit: process.listenerCount('exit'), hup: process.listenerCount('SIGHUP') };
    for (let i = 0; i < 20; i++) hotUpgrade(http.createServer()).stop();
    expect({ exit: process.listenerCount('exit'), hup: process.listenerCount('SIGHUP') }).toEqual(before);
  });
});

describe('control sockets left by killed processes', () => {
  /** A process that listens on `dir`/socket-activation-`name`.ctl (its own pid unless given) and is killed with SIGKILL: the socket file stays. */
  async function killedListener(dir: string, name?: number): Promise<number> {
    const code = `const p = process.argv[1] + '/socket-activation-' + (process.argv[2] || process.pid) + '.ctl'; require('node:net').createServer().listen(p, () => console.log('UP'));`;
    const child = spawn(process.execPath, ['-e', code, dir, name ? String(name) : ''], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForLine(child, /UP/);
    child.kill('SIGKILL');
    await once(child, 'exit');
    return child.pid!;
  }
  /** A pid that is gone. */
  async function deadPid(): Promise<number> {
    const child = spawn('true');
    await once(child, 'exit');
    return child.pid!;
  }

  it('hotUpgrade() removes those of processes that are gone (30 crashes leave 30), and keeps any other', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-upgrade-stale-'));
    const servers: net.Server[] = [];
    try {
      for (let i = 0; i < 30; i++) await killedListener(dir);
      // Someone accepts on it (a process of another pid namespace, say): kept.
      const foreign = await deadPid();
      const accepting = net.createServer();
      servers.push(accepting);
      await new Promise<void>((resolve) => accepting.listen(join(dir, `socket-activation-${foreign}.ctl`), resolve));
      // Not a socket: kept.
      const plain = await deadPid();
      writeFileSync(join(dir, `socket-activation-${plain}.ctl`), '');
      // Its pid is alive: kept.
      await killedListener(dir, process.pid);
      expect(readdirSync(dir)).toHaveLength(33);
      const r = await runInline<{ pid: number; files: string[] }>(
        `import http from 'node:http'; import { readdirSync } from 'node:fs'; import { hotUpgrade } from 'socket-activation';
         const u = hotUpgrade(http.createServer(), { signal: null });
         // Removed once each refused connection is seen: up to 5 s for the 30.
         for (let i = 0; i < 50 && readdirSync(process.env.RUNTIME_DIRECTORY).length > 4; i++) await new Promise((resolve) => setTimeout(resolve, 100));
         const files = readdirSync(process.env.RUNTIME_DIRECTORY).sort();
         u.stop();
         console.log(JSON.stringify({ pid: process.pid, files }));`,
        { env: { RUNTIME_DIRECTORY: dir } },
      );
      expect(r.files).toEqual([`socket-activation-${foreign}.ctl`, `socket-activation-${plain}.ctl`, `socket-activation-${r.pid}.ctl`, `socket-activation-${process.pid}.ctl`].sort());
    } finally {
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the predecessor', () => {
  // One upgrade of an activated service to `command`, which runs in the successor's place.
  const upgradeTo = (command: string[]): Promise<{ ok: boolean; reason?: string; ms: number }> =>
    reportOf('upgrade-once.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, args: [JSON.stringify(command)] });

  it('once it has handed over, it refuses another upgrade (it only drains): no second lineage', async () => {
    const r = await runActivated('upgrade-once.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, args: [JSON.stringify([process.execPath, `${fixtures}successor-web.mjs`]), 'twice'] });
    const [first, second] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(first).toMatchObject({ ok: true });
    expect(second).toEqual({ ok: false, reason: `this process has already handed over to pid ${first.pid} and only drains; upgrade that one` });
  });

  // A service with a hot upgrade whose stop has begun (`stop`: module code run after the set-up,
  // `server` and `upgrader` in scope), asked to upgrade over the control socket: the reply the
  // reload command would get.
  const reloadWhileStopping = async (stop: string): Promise<string> => {
    const service = `import http from 'node:http'; import net from 'node:net';
      import { drain, drainOnSignal, hotUpgrade, listen } from 'socket-activation';
      const server = http.createServer((req, res) => res.end()); await listen(server, 'web');
      const upgrader = hotUpgrade(server, { signal: null, exit: false, command: () => [process.execPath, ${JSON.stringify(`${fixtures}successor-web.mjs`)}], onOutcome: () => {} });
      ${stop}
      const reply = await new Promise((resolve) => {
        const s = net.connect(upgrader.controlPath, () => s.write('upgrade\\n')); // not end(): the reply comes before its close
        let text = ''; s.setEncoding('utf8').on('data', (d) => (text += d)).on('close', () => resolve(text));
      });
      console.log(JSON.stringify({ reply }));
      const taken = /^ok (\\d+)/.exec(reply); if (taken) process.kill(Number(taken[1]), 'SIGKILL');
      process.exit(0);`;
    const r = await runActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, '--input-type=module', '-e', service] });
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { reply: string }).reply;
  };

  it.each([
    ['drainOnSignal() has had its SIGTERM', "drainOnSignal(server, { exit: false, notify: false }); const stopped = new Promise((r) => process.once('SIGTERM', r)); process.kill(process.pid, 'SIGTERM'); await stopped;"],
    ['drain() has begun', 'void drain(server, { notify: false });'],
  ])('a reload request once %s is refused (no successor the manager would not stop): the reload command gets failed', async (_, stop) => {
    expect(await reloadWhileStopping(stop)).toBe('failed this process is stopping (its drain has begun): it starts no successor; the service is upgraded by the start that follows, if any\n');
  });

  it('requests during an upgrade make one more upgrade after it (not joined to it: its successor was started before them)', async () => {
    // The first successor fails; the one more upgrade starts a second one, which takes over.
    const service = `import http from 'node:http'; import { hotUpgrade, listen } from 'socket-activation';
      const server = http.createServer((req, res) => res.end()); await listen(server, 'web');
      let started = 0;
      const command = () => (++started === 1 ? ['/bin/sh', '-c', 'exit 3'] : [process.execPath, ${JSON.stringify(`${fixtures}successor-web.mjs`)}]);
      const upgrader = hotUpgrade(server, { signal: null, exit: false, command, onOutcome: () => {} });
      const outcomes = await Promise.all([upgrader.upgrade(), upgrader.upgrade(), upgrader.upgrade()]);
      console.log(JSON.stringify({ started, outcomes: outcomes.map((o) => ({ ok: o.ok, reason: o.reason })), same: outcomes[1] === outcomes[2] }));
      for (const o of new Set(outcomes)) if (o.ok) process.kill(o.pid, 'SIGKILL');
      process.exit(0);`;
    const r = await runActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, '--input-type=module', '-e', service] });
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({
      started: 2,
      outcomes: [{ ok: false, reason: 'the successor exited (status 3) before READY=1' }, { ok: true }, { ok: true }],
      same: true,
    });
  });

  // Two upgrade requests at once to a process whose successor is `successor`: the outcomes.
  const twoAtOnce = async (successor: string): Promise<{ ok: boolean; pid?: number; reason?: string }[]> => {
    const service = `import http from 'node:http'; import { hotUpgrade, listen } from 'socket-activation';
      const server = http.createServer((req, res) => res.end()); await listen(server, 'web');
      const upgrader = hotUpgrade(server, { signal: null, exit: false, command: () => [process.execPath, ${JSON.stringify(`${fixtures}${successor}`)}], onOutcome: () => {} });
      const outcomes = await Promise.all([upgrader.upgrade(), upgrader.upgrade()]);
      console.log(JSON.stringify(outcomes.map((o) => ({ ok: o.ok, pid: o.pid, reason: o.reason }))));
      for (const o of outcomes) if (o.ok) try { process.kill(o.pid, 'SIGKILL'); } catch {}
      process.exit(0);`;
    const r = await runActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, '--input-type=module', '-e', service] });
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };

  it('a request during an upgrade that succeeds goes on to the successor, which upgrades in turn (a second kill -HUP during one does not drop its release)', async () => {
    const [first, second] = await twoAtOnce('successor-upgrading.mjs');
    expect(first).toEqual({ ok: true, pid: expect.any(Number) });
    // The successor's own successor, started by it.
    expect(second).toEqual({ ok: true, pid: expect.any(Number) });
    expect(second!.pid).not.toBe(first!.pid);
  });

  it('the successor loads --env-file anew: what this process\'s start-up loaded is not passed on (Node would not override it), what the app changed since is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-env-file-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'GREETING=v1\nCHANGED=v1\n');
    try {
      const successor = `import http from 'node:http'; import { listen, ready } from 'socket-activation';
        console.log(JSON.stringify({ successor: { GREETING: process.env.GREETING, CHANGED: process.env.CHANGED } }));
        await listen(http.createServer(), 'web'); await ready();`;
      const service = `import http from 'node:http'; import { writeFileSync } from 'node:fs'; import { hotUpgrade, listen } from 'socket-activation';
        const server = http.createServer((req, res) => res.end()); await listen(server, 'web');
        const command = () => [process.execPath, '--env-file=${file}', '--input-type=module', '-e', ${JSON.stringify(successor)}];
        const upgrader = hotUpgrade(server, { signal: null, exit: false, command, onOutcome: () => {} });
        process.env.CHANGED = 'by the app';
        writeFileSync(${JSON.stringify(file)}, 'GREETING=v2\\nCHANGED=v2\\n');
        const o = await upgrader.upgrade();
        console.log(JSON.stringify({ ok: o.ok, reason: o.reason }));
        if (o.ok) process.kill(o.pid, 'SIGKILL');
        process.exit(0);`;
      const r = await runActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, `--env-file=${file}`, '--input-type=module', '-e', service] });
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toEqual([{ successor: { GREETING: 'v2', CHANGED: 'by the app' } }, { ok: true }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a process that exits after its drain waits for the answer to a request it passed on (the reload command gets it)', async () => {
    // Drained at once (drainLinger 0): without the wait it exited before the successor answered.
    const service = `import http from 'node:http'; import { hotUpgrade, listen } from 'socket-activation';
      const server = http.createServer((req, res) => res.end()); await listen(server, 'web');
      hotUpgrade(server, { signal: null, drainLinger: 0, command: () => [process.execPath, ${JSON.stringify(`${fixtures}successor-upgrading.mjs`)}], onOutcome: () => {} });
      console.log('LISTENING');`;
    const child = startActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, '--input-type=module', '-e', service] });
    const exited = once(child, 'exit'); // not 'close': the successors share its stdout
    await waitForLine(child, /LISTENING/);
    // Two reload commands at once, as the tests' process.
    const replies = await Promise.all([askToUpgrade(child.pid!, 30_000), askToUpgrade(child.pid!, 30_000)]);
    const [code] = await exited;
    for (const m of replies.join(' ').matchAll(/ok (\d+)/g)) try { process.kill(Number(m[1]), 'SIGKILL'); } catch {}
    expect(code).toBe(0);
    expect(replies).toEqual([expect.stringMatching(/^ok \d+$/), expect.stringMatching(/^ok \d+$/)]);
    expect(replies[0]).not.toBe(replies[1]);
  });

  it('a request passed on to a successor that takes none (no hotUpgrade()) fails, saying so', async () => {
    const [first, second] = await twoAtOnce('successor-web.mjs');
    expect(first).toEqual({ ok: true, pid: expect.any(Number) });
    expect(second).toEqual({ ok: false, reason: `pid ${first!.pid}, the main process since the upgrade before, was asked to upgrade for a request made during that one, but its control socket gave ENOENT (does it call hotUpgrade()?)` });
  });

  it('a successor that exits right after READY=1, while it is made the main process: the upgrade fails and this process takes the role back', async () => {
    // A stand-in manager that never completes a barrier (it keeps the fd): the hand-over then
    // takes the barrier's 5 s, and the successor is gone by its end.
    const address = join(tmpdir(), `sa-upgrade-manager-${process.pid}-${Date.now()}`);
    const manager = spawn('python3', [join(fixtures, 'notify-receiver.py'), address, '--keep-fds'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let messages = '';
    manager.stdout!.setEncoding('utf8').on('data', (d: string) => (messages += d));
    try {
      while (!messages.includes('BOUND')) await sleep(10);
      const successor = `import http from 'node:http'; import { listen, ready } from 'socket-activation';
        await listen(http.createServer(), 'web'); await ready(); setTimeout(() => process.exit(3), 50);`;
      const r = await reportOf('upgrade-once.mjs', {
        fds: [inetSocket().fd],
        env: { LISTEN_FDNAMES: 'web', NOTIFY_SOCKET: address },
        args: [JSON.stringify([process.execPath, '--input-type=module', '-e', successor])],
      });
      expect(r).toMatchObject({ ok: false, reason: 'the successor exited (status 3) while it was made the main process, right after READY=1' });
      // MAINPID=<successor>, then this process's own pid back.
      while (!messages.includes('STATUS=upgrade failed')) await sleep(10);
      const mainPids = [...messages.matchAll(/MAINPID=(\d+)/g)].map((m) => Number(m[1]));
      expect(mainPids).toHaveLength(2);
      expect(mainPids[1]).not.toBe(mainPids[0]);
    } finally {
      manager.kill();
      rmSync(address, { force: true });
    }
  });

  it('MAINPID= that cannot be sent (no fd left for the socket): the upgrade fails, the successor is killed and this process serves on, the manager told nothing', async () => {
    // Without this, the upgrade was reported done and this process drained and exited 0: the
    // manager, never told of the successor, took the service as ended.
    const manager = await startReceiver();
    const successor = `import http from 'node:http'; import { listen, ready } from 'socket-activation';
      await listen(http.createServer((req, res) => res.end(String(process.pid))), 'web'); process.on('SIGUSR2', () => void ready()); console.log(JSON.stringify({ successor: process.pid }));`;
    // A low limit, so that filling it is quick; the successor inherits it, and needs far fewer.
    const service = startActivated('', {
      fds: [inetSocket().fd],
      env: { LISTEN_FDNAMES: 'web', NOTIFY_SOCKET: manager.address },
      command: ['/bin/sh', '-c', 'ulimit -n 512 && exec "$@"', 'sh', process.execPath, `${fixtures}upgrade-fd-pressure.mjs`, JSON.stringify([process.execPath, '--input-type=module', '-e', successor])],
    });
    const done = finish(service);
    try {
      const successorPid = Number((await waitForLine(service, /"successor":(\d+)/))[1]);
      const filled = waitForLine(service, /"filled":\d+,"code":"(\w+)"/);
      service.kill('SIGUSR1');
      expect((await filled)[1]).toBe('EMFILE');
      const outcome = waitForLine(service, /\{"outcome":(.*)\}\n/);
      process.kill(successorPid, 'SIGUSR2'); // its READY=1, up the channel: no new fd needed
      expect(JSON.parse((await outcome)[1]!)).toEqual({
        ok: false,
        reason: expect.stringMatching(new RegExp(`^the service manager could not be told that the successor is the main process \\(MAINPID=${successorPid}: EMFILE: too many open files, socket \\S+ \\(no fd for a socket to NOTIFY_SOCKET\\)\\); the successor was stopped and this process serves on$`)),
      });
      const r = await done;
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ answeredBy: service.pid });
      expect(() => process.kill(successorPid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      expect(manager.messages().map((m) => m.text).join('\n')).not.toMatch(/^MAINPID=/m);
    } finally {
      service.kill('SIGKILL');
      manager.stop();
    }
  });

  it('a working directory that is gone: rolled back at once, and the reason names the directory (not the shell\'s exit status)', async () => {
    const gone = join(tmpdir(), `sa-upgrade-gone-${process.pid}`);
    const r = await reportOf('upgrade-once.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web', UPGRADE_CWD: gone }, args: [JSON.stringify([process.execPath, `${fixtures}successor-web.mjs`])] });
    expect(r).toMatchObject({ ok: false, reason: `the successor could not be started: its working directory ${gone} does not exist (the cwd option named it)` });
  });

  it.each([
    [['/nonexistent/app'], 'the successor could not be started: /nonexistent/app does not exist (the command option named it)'],
    [[], 'the successor could not be started: the command option returned []; expected the program and its arguments, a non-empty array of strings'],
    [5, 'the successor could not be started: the command option returned 5; expected the program and its arguments, a non-empty array of strings'],
  ])('a command option returning %j: rolled back at once, the reason naming the command (not "exited (status 127)", "status 0" or "not iterable")', async (command, reason) => {
    const r = await reportOf('upgrade-once.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, args: [JSON.stringify(command)] });
    expect(r).toMatchObject({ ok: false, reason });
  });

  /**
   * Runs `service` (an activated module given one listener named web, which upgrades itself)
   * under a stand-in manager that, like systemd, is a subreaper: the only way it learns of its
   * main process's exit once that is a child of the old process. Reports the upgrade's outcome,
   * the service's exit (ms after the outcome) and the successor's status as the manager reaped it.
   */
  async function underSubreaper(service: string): Promise<{ ok: boolean; serviceExit: { code: number; ms: number }; successor: unknown; stderr: string }> {
    const manager = `import { spawn } from 'node:child_process';
      const { native } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'native.js')).href)});
      if (native().becomeSubreaper() !== 0) throw new Error('becomeSubreaper');
      const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', ${JSON.stringify(service)}],
        { stdio: ['ignore', 'pipe', 'inherit', 3], env: { ...process.env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' } });
      // Lines: the successor's { successor: pid } when it is ready, the upgrade's outcome.
      let outcome, serviceExit, successor, successorPid, handedOverAt, exitedAt;
      child.stdout.setEncoding('utf8').on('data', (d) => {
        for (const line of d.trim().split('\\n')) {
          const m = JSON.parse(line);
          if (m.successor) successorPid = m.successor;
          else { outcome = m; handedOverAt = Date.now(); }
        }
      });
      child.on('exit', (code) => { exitedAt = Date.now(); serviceExit = { code, ms: exitedAt - (handedOverAt ?? exitedAt) }; });
      const timer = setInterval(() => {
        // Ours once the service has exited (ECHILD before, or if the service reaped it).
        if (serviceExit && successorPid && successor === undefined) { const r = native().reap(successorPid); if (r !== 0) successor = r; }
        if ((serviceExit && successor !== undefined) || (exitedAt && Date.now() - exitedAt > 3000)) {
          clearInterval(timer);
          console.log(JSON.stringify({ ok: outcome?.ok, serviceExit, successor }));
        }
      }, 20);`;
    const r = await runActivated('', { fds: [inetSocket().fd], command: [process.execPath, '--input-type=module', '-e', manager] });
    return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; serviceExit: { code: number; ms: number }; successor: unknown }), stderr: r.stderr };
  }

  // A service that upgrades itself to `successor` (module code) and prints the outcome.
  const upgradingTo = (successor: string, handler = '(req, res) => res.end()', before = '') => `import http from 'node:http'; import { hotUpgrade, listen } from 'socket-activation';
    const server = http.createServer(${handler});
    await listen(server, 'web');
    ${before}
    hotUpgrade(server, { signal: null, command: () => [process.execPath, '--input-type=module', '-e', ${JSON.stringify(successor)}], onOutcome: (o) => console.log(JSON.stringify(o)) }).upgrade();`;

  it('a successor that dies after the hand-over, while this process drains, is left for the manager to collect (its status, not ECHILD), and this process exits at once', async () => {
    const service = upgradingTo(
      "import http from 'node:http'; import { listen, ready } from 'socket-activation'; await listen(http.createServer(), 'web'); await ready(); console.log(JSON.stringify({ successor: process.pid })); setTimeout(() => process.exit(5), 300);",
      "(req, res) => setTimeout(() => res.end('slow'), 4000)",
      `http.get({ host: '127.0.0.1', port: server.address().port }).on('error', () => {}); // in flight: the drain waits for it
      await new Promise((r) => server.once('request', r));`,
    );
    const { ok, serviceExit, successor, stderr } = await underSubreaper(service);
    expect(ok).toBe(true);
    expect(successor).toEqual({ code: 5 });
    expect(serviceExit.code).toBe(1);
    expect(serviceExit.ms).toBeLessThan(3000); // not after its 4 s request
    expect(stderr).toMatch(/the main process since the upgrade, exited \(status 5\) while this process drained; exiting now/);
  });

  it('a successor that dies right after READY=1: the upgrade fails, and this process exits, leaving the successor for the manager (which may have taken it as its main process already)', async () => {
    const { ok, serviceExit, successor, stderr } = await underSubreaper(
      upgradingTo("import http from 'node:http'; import { listen, ready } from 'socket-activation'; await listen(http.createServer(), 'web'); await ready(); console.log(JSON.stringify({ successor: process.pid })); process.exit(4);"),
    );
    expect(ok).toBeUndefined(); // it exited before the outcome
    expect(successor).toEqual({ code: 4 });
    expect(serviceExit.code).toBe(1);
    expect(stderr).toMatch(/upgrade failed: the successor exited \(status 4\) while it was made the main process, right after READY=1; exiting/);
  });

  it('a successor killed on rollback leaves no control socket behind (it made one, and could not remove it)', async () => {
    const runtime = mkdtempSync(join(tmpdir(), 'sa-upgrade-runtime-'));
    try {
      const successor = `import http from 'node:http'; import { hotUpgrade, listen } from 'socket-activation';
        const server = http.createServer(); await listen(server, 'web'); hotUpgrade(server); console.error('CONTROL'); setInterval(() => {}, 1000);`;
      const r = await reportOf('upgrade-once.mjs', {
        fds: [inetSocket().fd],
        env: { LISTEN_FDNAMES: 'web', XDG_RUNTIME_DIR: runtime, RUNTIME_DIRECTORY: undefined, READY_TIMEOUT: '1500' },
        args: [JSON.stringify([process.execPath, '--input-type=module', '-e', successor])],
      });
      expect(r).toMatchObject({ ok: false, reason: 'the successor did not send READY=1 within 1500 ms' });
      // The service's own socket went at its exit; the killed successor's too.
      expect(readdirSync(runtime)).toEqual([]);
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  });

  it('a successor of this package told another protocol: rolled back at once with its reason, not after the READY timeout', async () => {
    const r = await upgradeTo(['/bin/sh', '-c', `SOCKET_ACTIVATION_SUCCESSOR=9 exec "${process.execPath}" "${fixtures}upgrade-once.mjs" '[]'`]);
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/^the successor refused to take over: it speaks hot-upgrade protocol "9", this copy of socket-activation 1/) });
    expect(r.ms).toBeLessThan(10_000); // the READY timeout is 20 s
  });

  it('a refusal line from any successor (a later version) is reported as it came, and that successor is killed', async () => {
    // The channel is fd 4 (after the one listener); the refusing program then hangs.
    const r = await upgradeTo(['/bin/sh', '-c', 'printf "SOCKET_ACTIVATION_REFUSED=speaks protocol 7 and up" >&4; exec sleep 60']);
    expect(r).toMatchObject({ ok: false, reason: 'the successor refused to take over: speaks protocol 7 and up' });
    expect(r.ms).toBeLessThan(10_000);
  });

  it('a successor that closes the channel and keeps running: rolled back about a second later, not after the READY timeout', async () => {
    const r = await upgradeTo(['/bin/sh', '-c', 'exec 4>&-; exec sleep 60']);
    expect(r).toMatchObject({ ok: false, reason: expect.stringContaining('the successor closed its channel to this process before READY=1 and keeps running') });
    expect(r.ms).toBeLessThan(10_000);
  });
});
