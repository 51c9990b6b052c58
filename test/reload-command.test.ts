// The reload command of ExecReload= in its three forms: the Node command
// (`socket-activation reload`), the native program (native/reload-command.c, built into
// build/Release by `npm run build`) and bin/socket-activation-reload, which picks one of the
// two. Each case runs all three against a real control socket served here, with the
// protocol of hotUpgrade() (`upgrade\n`, then `ok PID` or `failed …`), and expects the same
// exit status, output and request from each. The systemd side (a real reload, a rollback) is
// in upgrade-systemd.test.ts.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { controlPath } from '../src/control-path.js';
import { isAlive } from '../src/processes.js';
import { native as native_ } from '../src/native.js';
import { cli, root } from './helpers/activated.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-reload-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const native = join(root, 'build/Release/socket-activation-reload');
const wrapper = join(root, 'bin/socket-activation-reload');
const commands = {
  node: [process.execPath, cli, 'reload'],
  native: [native],
  wrapper: [wrapper],
} as const;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: readonly string[], args: readonly string[], env: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** An environment with only what the case sets for the control path (and PATH, HOME). */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...extra };
}

let unique = 0;
/** A runtime directory of its own and the pid whose control socket it would hold. */
function place(): { runtime: string; pid: number; path: string } {
  const runtime = join(dir, `run-${++unique}`);
  mkdirSync(runtime);
  // One no process has: after a service that closes without an answer, the command waits
  // for that pid to be gone.
  let pid = 40_000 + unique;
  while (isAlive(pid)) pid += 1000;
  return { runtime, pid, path: join(runtime, `socket-activation-${pid}.ctl`) };
}

/** A control socket that answers each request with `answer` (null: close without one; 'never': stay silent). */
async function controlSocket(path: string, answer: string | null | 'never'): Promise<{ requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      text += d;
      if (!text.endsWith('\n')) return;
      requests.push(text);
      if (answer === 'never') return;
      if (answer === null) socket.end();
      else socket.end(answer);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    requests,
    close: () => {
      for (const s of open) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs the three forms with the same arguments and environment; expects them to agree. */
async function allThree(args: readonly string[], env: NodeJS.ProcessEnv): Promise<Result> {
  const results = [];
  for (const command of Object.values(commands)) results.push(await run(command, args, env));
  expect(results[1], 'native program').toEqual(results[0]);
  expect(results[2], 'bin/socket-activation-reload').toEqual(results[0]);
  return results[0]!;
}

it('npm run build made the native program (the form ExecReload= should run)', () => {
  expect(existsSync(native)).toBe(true);
});

describe('the outcome of an upgrade', () => {
  it('ok PID: exit 0, says which pid is the main process; the request is exactly "upgrade\\n"', async () => {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'ok 5151\n');
    try {
      const r = await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({ code: 0, stdout: 'socket-activation: upgraded; pid 5151 is the main process now\n', stderr: '' });
      expect(control.requests).toEqual(['upgrade\n', 'upgrade\n', 'upgrade\n']);
    } finally {
      await control.close();
    }
  });

  it('failed …: exit 1 with the reason the service gave', async () => {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'failed the successor exited (status 3) before READY=1\n');
    try {
      const r = await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({ code: 1, stdout: '', stderr: `socket-activation: upgrade of pid ${pid} failed: the successor exited (status 3) before READY=1\n` });
    } finally {
      await control.close();
    }
  });

  it('closed without an answer: exit 1, "no answer"', async () => {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, null);
    try {
      const r = await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({ code: 1, stdout: '', stderr: `socket-activation: upgrade of pid ${pid} failed: no answer\n` });
    } finally {
      await control.close();
    }
  });

  it.each(Object.entries(commands))('closed without an answer by a service that then exits (%s): the command exits only after the service is collected, and a moment more', async (_, command) => {
    // A hot upgrade's old process exits without answering when its successor died: systemd must
    // collect that successor (re-parented to it) before this control process's exit ends the reload.
    const service = spawn('sleep', ['0.4'], { stdio: 'ignore' });
    let collectedAt = 0;
    service.on('exit', () => (collectedAt = Date.now()));
    const runtime = join(dir, `run-${++unique}`);
    mkdirSync(runtime);
    const control = await controlSocket(join(runtime, `socket-activation-${service.pid}.ctl`), null);
    try {
      const r = await run(command, [String(service.pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      const endedAt = Date.now();
      expect(r).toEqual({ code: 1, stdout: '', stderr: `socket-activation: upgrade of pid ${service.pid} failed: no answer\n` });
      expect(collectedAt).toBeGreaterThan(0);
      expect(endedAt - collectedAt).toBeGreaterThanOrEqual(150);
    } finally {
      await control.close();
    }
  });

  it('a control path longer than a unix socket address holds: refused, not cut (the cut can name another pid\'s socket)', async () => {
    const runtime = join(dir, `run-${++unique}-${'d'.repeat(80 - dir.length)}`);
    mkdirSync(runtime);
    const pid = 40_000 + unique;
    const path = join(runtime, `socket-activation-${pid}.ctl`);
    expect(Buffer.byteLength(path)).toBeGreaterThan(108);
    expect(Buffer.byteLength(runtime)).toBeLessThan(100);
    // The socket a cut path would have reached: another process's, for all it can tell.
    const control = await controlSocket(path, 'ok 6161\n');
    try {
      const r = await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `socket-activation: the control socket path ${path} is ${Buffer.byteLength(path)} bytes, over the 107 a unix socket path holds; ` +
          "cut, it could name another process's control socket: give the service and this command a shorter $RUNTIME_DIRECTORY\n",
      });
      expect(control.requests).toEqual([]);
    } finally {
      await control.close();
    }
  });

  it('no answer within --timeout: exit 1, the upgrade may still be running', async () => {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'never');
    try {
      const started = Date.now();
      const r = await allThree([String(pid), '--timeout', '0.4'], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 400);
      expect(r).toEqual({ code: 1, stdout: '', stderr: `socket-activation: no outcome from pid ${pid} within 0.4 s; the upgrade may still be running\n` });
    } finally {
      await control.close();
    }
  });
});

describe('who serves the control socket', () => {
  it.runIf(process.getuid?.() === 0)('a socket another user (nobody) created at the path first, in a shared directory: refused before any request, exit 1', async () => {
    const { runtime, pid, path } = place();
    // A shared temp dir (the fallback without $RUNTIME_DIRECTORY): any user may create there.
    chmodSync(dir, 0o711);
    chmodSync(runtime, 0o1777);
    const script = "const s = require('net').createServer((c) => c.once('data', () => { console.log('REQUEST'); c.end('ok 1\\n'); })); process.umask(0); s.listen(process.argv[1], () => console.log('LISTENING'));";
    const impostor = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    impostor.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      while (!out.includes('LISTENING')) {
        if (impostor.exitCode !== null) throw new Error(`the impostor server exited (${impostor.exitCode})`);
        await sleep(20);
      }
      const r = await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({
        code: 1,
        stdout: '',
        stderr:
          `socket-activation: refusing ${path}: it is served by uid 65534, which is neither pid ${pid}'s owner, this command's user nor root ` +
          '(another user created it first in a shared directory): give the service a directory of its own (RuntimeDirectory=, or $XDG_RUNTIME_DIR) and restart it\n',
      });
      expect(out).not.toContain('REQUEST');
    } finally {
      impostor.kill();
    }
  });
});

describe('a signal while waiting for the outcome', () => {
  /** Starts one form against a service that never answers, and sends `signal` once the service has the request. */
  async function signalled(command: readonly string[], signal: NodeJS.Signals): Promise<Result & { signal: NodeJS.Signals | null; pid: number }> {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'never');
    try {
      const child = spawn(command[0]!, [...command.slice(1), String(pid)], { env: environment({ RUNTIME_DIRECTORY: runtime }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])));
      for (const started = Date.now(); control.requests.length === 0; ) {
        if (Date.now() - started > 10_000) throw new Error(`no request within 10 s; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      child.kill(signal);
      const [code, sig] = await closed;
      return { code, signal: sig, stdout, stderr, pid };
    } finally {
      await control.close();
    }
  }

  // systemctl stop or restart during a reload sends the control process SIGTERM: dying of it
  // would make systemd mark the unit failed ("Failed with result 'signal'").
  it.each(Object.entries(commands))('SIGTERM (%s): exit 0 and one line saying the reload was interrupted', async (_, command) => {
    const r = await signalled(command, 'SIGTERM');
    expect(r).toEqual({
      code: 0,
      signal: null,
      stdout: '',
      stderr: `socket-activation: reload of pid ${r.pid} interrupted by SIGTERM: the service manager is stopping or restarting the service\n`,
      pid: r.pid,
    });
  });

  // systemd sends SIGINT only with KillSignal=SIGINT; from a terminal, Ctrl-C must not read as success.
  it.each(Object.entries(commands))('SIGINT (%s) keeps its default: killed by it, nothing printed', async (_, command) => {
    const r = await signalled(command, 'SIGINT');
    expect(r).toEqual({ code: null, signal: 'SIGINT', stdout: '', stderr: '', pid: r.pid });
  });
});

describe('no service to ask', () => {
  const noRequests = (pid: number, code: string, path: string) =>
    `socket-activation: pid ${pid} takes no upgrade requests (${code} on ${path}): did it call hotUpgrade()? ` +
    "The control socket lives in $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR, else the temp dir: run the reload with the service's environment.\n";
  const noProcess = (pid: number) =>
    `socket-activation: there is no process ${pid} to ask for an upgrade: start the service, or give its main process's pid (ExecReload=socket-activation reload $MAINPID).\n`;

  /** A socket file nobody listens on at `path` (what a killed service leaves). */
  function deadSocket(path: string): void {
    const n = native_();
    const fd = n.socket(n.constants.AF_UNIX, n.constants.SOCK_STREAM);
    expect(n.bindUnix(fd, Buffer.from(path))).toBe(0);
    n.close(fd);
  }

  // A process that exists (this one) and serves no control socket.
  const live = process.pid;

  it('a running process without a control socket: ENOENT, naming the path', async () => {
    const { runtime } = place();
    const path = join(runtime, `socket-activation-${live}.ctl`);
    expect(await allThree([String(live)], environment({ RUNTIME_DIRECTORY: runtime }))).toEqual({ code: 1, stdout: '', stderr: noRequests(live, 'ENOENT', path) });
  });

  it('a running process whose control socket file nobody listens on: ECONNREFUSED', async () => {
    const { runtime } = place();
    const path = join(runtime, `socket-activation-${live}.ctl`);
    deadSocket(path);
    expect(await allThree([String(live)], environment({ RUNTIME_DIRECTORY: runtime }))).toEqual({ code: 1, stdout: '', stderr: noRequests(live, 'ECONNREFUSED', path) });
  });

  it('no process with that pid: says so, whether there is no socket (ENOENT) or one a killed service left (ECONNREFUSED)', async () => {
    const { runtime, pid, path } = place();
    expect(isAlive(pid)).toBe(false);
    expect(await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }))).toEqual({ code: 1, stdout: '', stderr: noProcess(pid) });
    deadSocket(path);
    expect(await allThree([String(pid)], environment({ RUNTIME_DIRECTORY: runtime }))).toEqual({ code: 1, stdout: '', stderr: noProcess(pid) });
  });

  it('where the socket is looked for: RUNTIME_DIRECTORY (first of several), XDG_RUNTIME_DIR, then TMPDIR, TMP, TEMP, /tmp', async () => {
    const cases: Record<string, string>[] = [
      { RUNTIME_DIRECTORY: '/run/web:/run/web-extra', XDG_RUNTIME_DIR: '/run/user/1' },
      { RUNTIME_DIRECTORY: '/run/web///' },
      { RUNTIME_DIRECTORY: ':/run/web', XDG_RUNTIME_DIR: '/run/user/1/' },
      { XDG_RUNTIME_DIR: '/run/user/1', TMPDIR: '/var/tmp' },
      { TMPDIR: '/var/tmp/' },
      { TMP: '/var/tmp2', TEMP: '/var/tmp3' },
      { TEMP: '/var/tmp3' },
      { TMPDIR: '/' },
      {},
    ];
    const expected = [
      '/run/web',
      '/run/web',
      '/run/user/1',
      '/run/user/1',
      '/var/tmp',
      '/var/tmp2',
      '/var/tmp3',
      '',
      '/tmp',
    ];
    for (const [i, extra] of cases.entries()) {
      const path = `${expected[i]}/socket-activation-${live}.ctl`;
      const r = await allThree([String(live)], environment(extra));
      expect(r.stderr, JSON.stringify(extra)).toBe(noRequests(live, 'ENOENT', path));
      // the service side computes it with the same environment
      const saved = { ...process.env };
      try {
        for (const v of ['RUNTIME_DIRECTORY', 'XDG_RUNTIME_DIR', 'TMPDIR', 'TMP', 'TEMP']) delete process.env[v];
        Object.assign(process.env, extra);
        expect(controlPath(live)).toBe(path);
      } finally {
        for (const v of ['RUNTIME_DIRECTORY', 'XDG_RUNTIME_DIR', 'TMPDIR', 'TMP', 'TEMP']) delete process.env[v];
        Object.assign(process.env, saved);
      }
    }
  });
});

describe('arguments', () => {
  const usage = (message: string) => `socket-activation: ${message}\nRun socket-activation reload --help for usage. [ERR_LAUNCHER_USAGE]\n`;
  const env = environment({ RUNTIME_DIRECTORY: dir });

  it('--help and -h: the usage text on stdout, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await allThree([flag], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: socket-activation reload PID \[--timeout SECONDS\]\n/);
      expect(r.stdout).toContain('ExecReload=socket-activation reload $MAINPID');
    }
  });

  it('usage errors: exit 2, what was found, how to get help', async () => {
    const pidNeeded = 'reload needs the pid of the service process (ExecReload=socket-activation reload $MAINPID).';
    const unexpected = (arg: string) => `Unexpected argument ${JSON.stringify(arg)}: expected a pid (ExecReload=socket-activation reload $MAINPID).`;
    const secondPid = (arg: string, first: string) => `Unexpected argument ${JSON.stringify(arg)}: reload takes one pid, and ${first} came before it (ExecReload=socket-activation reload $MAINPID).`;
    const timeout = (text: string) => `--timeout needs seconds > 0 (at most 2147483); found ${JSON.stringify(text)}.`;
    const cases: [string[], string][] = [
      [[], pidNeeded],
      [['--timeout', '5'], pidNeeded],
      [['x'], unexpected('x')],
      [['0'], unexpected('0')],
      [['012'], unexpected('012')],
      [['-5'], unexpected('-5')],
      [['2147483648'], unexpected('2147483648')],
      [['12', '13'], secondPid('13', '12')],
      [['2147483647', '--timeout', '5', '1'], secondPid('1', '2147483647')],
      [['12', 'x'], unexpected('x')],
      [['a"b\\c\td\u0001'], unexpected('a"b\\c\td\u0001')],
      [['12', '--timeout'], timeout('')],
      [['12', '--timeout', '0'], timeout('0')],
      [['12', '--timeout', '1e3'], timeout('1e3')],
      [['12', '--timeout', '.5'], timeout('.5')],
      [['12', '--timeout', '2147484'], timeout('2147484')],
    ];
    for (const [args, message] of cases) {
      expect(await allThree(args, env), JSON.stringify(args)).toEqual({ code: 2, stdout: '', stderr: usage(message) });
    }
  });

  it('the largest pid and timeout are accepted', async () => {
    const r = await allThree(['2147483647', '--timeout', '2147483'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^socket-activation: there is no process 2147483647 to ask for an upgrade/);
  });
});

describe('bin/socket-activation-reload picks the form', () => {
  // A `node` first on PATH that notes each start, then runs the real one.
  const spy = join(dir, 'spy-bin');
  const started = join(dir, 'node-started');
  mkdirSync(spy);
  writeFileSync(join(spy, 'node'), `#!/bin/sh\necho "$@" >> '${started}'\nexec '${process.execPath}' "$@"\n`);
  chmodSync(join(spy, 'node'), 0o755);
  const env = (extra: Record<string, string>) => ({ ...environment(extra), PATH: `${spy}:${process.env.PATH ?? ''}` });

  it('the native program when it is built: no Node process starts', async () => {
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'ok 99\n');
    try {
      rmSync(started, { force: true });
      const r = await run([wrapper], [String(pid)], env({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({ code: 0, stdout: 'socket-activation: upgraded; pid 99 is the main process now\n', stderr: '' });
      expect(existsSync(started)).toBe(false);
    } finally {
      await control.close();
    }
  });

  it('the Node command in a package without a native build (reached through a symlink, as node_modules/.bin does)', async () => {
    const pkg = join(dir, 'package-without-build');
    mkdirSync(join(pkg, 'bin'), { recursive: true });
    cpSync(wrapper, join(pkg, 'bin/socket-activation-reload'));
    symlinkSync(join(root, 'dist'), join(pkg, 'dist'));
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    writeFileSync(join(pkg, 'package.json'), readFileSync(join(root, 'package.json')));
    mkdirSync(join(pkg, 'node_modules-bin'));
    symlinkSync(join(pkg, 'bin/socket-activation-reload'), join(pkg, 'node_modules-bin/socket-activation-reload'));
    const { runtime, pid, path } = place();
    const control = await controlSocket(path, 'ok 98\n');
    try {
      rmSync(started, { force: true });
      const r = await run([join(pkg, 'node_modules-bin/socket-activation-reload')], [String(pid)], env({ RUNTIME_DIRECTORY: runtime }));
      expect(r).toEqual({ code: 0, stdout: 'socket-activation: upgraded; pid 98 is the main process now\n', stderr: '' });
      expect(readFileSync(started, 'utf8')).toBe(`${join(pkg, 'dist/cli/main.js')} reload ${pid}\n`);
    } finally {
      await control.close();
    }
  });
});

describe("hotUpgrade()'s side of the control socket", () => {
  it('a control path longer than a unix socket address holds: no control socket (a cut one could be another pid\'s), and stderr says why', async () => {
    const runtime = join(dir, `run-${++unique}-${'d'.repeat(90 - dir.length)}`);
    mkdirSync(runtime);
    const script = "import { hotUpgrade } from 'socket-activation'; const u = hotUpgrade([], { signal: null }); console.log(u.controlPath); setTimeout(() => process.exit(0), 300);";
    const r = await run([process.execPath, '--input-type=module', '-e', script], [], environment({ RUNTIME_DIRECTORY: runtime }));
    const path = r.stdout.trim();
    expect(Buffer.byteLength(path)).toBeGreaterThan(107);
    expect(r.stderr).toBe(
      `socket-activation: no upgrade control socket: the control socket path ${path} is ${Buffer.byteLength(path)} bytes, over the 107 a unix socket path holds; ` +
        "cut, it could name another process's control socket: give the service and this command a shorter $RUNTIME_DIRECTORY; SIGHUP still upgrades\n",
    );
    expect(readdirSync(runtime)).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)('a symlink another user left at the control path: the service (not root) cannot replace it, and does not change the mode of the file it names', async () => {
    const runtime = join(dir, `run-${++unique}`);
    mkdirSync(runtime);
    chmodSync(dir, 0o711);
    chmodSync(runtime, 0o1777);
    const victim = join(runtime, 'victim');
    writeFileSync(victim, '');
    chownSync(victim, 65534, 65534);
    chmodSync(victim, 0o644);
    // The shell's pid is the service's after exec; the symlink is root's, so nobody cannot unlink it.
    const service = `ln -s ${victim} ${runtime}/socket-activation-$$.ctl; exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"`;
    const script = "import { hotUpgrade } from 'socket-activation'; hotUpgrade([], { signal: null }); setTimeout(() => process.exit(0), 300);";
    const r = await run(['/bin/sh', '-c', service, 'sh'], [process.execPath, '--input-type=module', '-e', script], environment({ RUNTIME_DIRECTORY: runtime }));
    expect(r.stderr).toMatch(/EADDRINUSE: the reload command cannot reach this process/);
    expect(statSync(victim).mode & 0o777).toBe(0o644);
  });

  it('a runtime directory that is not there: the service goes on and says why the reload command will fail', async () => {
    const runtime = join(dir, 'not-there');
    const script = "import { hotUpgrade } from 'socket-activation'; const u = hotUpgrade([], { signal: null }); setTimeout(() => console.log(u.controlPath), 300);";
    const r = await new Promise<Result>((resolve, reject) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, env: environment({ RUNTIME_DIRECTORY: runtime }), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    const path = r.stdout.trim();
    expect(path).toMatch(new RegExp(`^${runtime}/socket-activation-\\d+\\.ctl$`));
    expect(r).toEqual({
      code: 0,
      stdout: `${path}\n`,
      stderr: `socket-activation: upgrade control socket ${path}: EACCES (the directory does not exist): the reload command cannot reach this process; SIGHUP still upgrades\n`,
    });
  });
});
