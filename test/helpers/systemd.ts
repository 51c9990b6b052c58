// A private systemd user manager for one test file, driven with `systemctl --user`, so
// tests run real .socket and .service units. Needs root (a private mount namespace gives the
// manager its own /run/systemd/system, without which it refuses to start on a host not booted
// with systemd) and systemd's binaries. Nothing about the host is changed: the manager keeps its
// units, runtime dir and output under a temporary directory, runs in its own cgroup subtree
// (when the cgroup file systems are writable) and is stopped with every process it started.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const systemdBinary = '/usr/lib/systemd/systemd';

// Runs inside `unshare -m`: joins a private cgroup (best effort: cpuset and read-only cgroup
// mounts refuse), gives the manager a /run/systemd/system of its own, then becomes the manager.
// With no /run/systemd on the host, a private /run is used instead, so the host is not touched.
const startScript = `
for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
  [ -f "$h/cgroup.procs" ] || continue
  mkdir -p "$h$SA_TEST_CGROUP" 2>/dev/null && echo $$ > "$h$SA_TEST_CGROUP/cgroup.procs" 2>/dev/null || true
done
if [ -d /run/systemd ]; then
  mount -t tmpfs -o mode=755 tmpfs /run/systemd || exit 90
else
  mount -t tmpfs -o mode=755 tmpfs /run || exit 91
  mkdir /run/systemd || exit 92
fi
mkdir /run/systemd/system || exit 93
exec "$0" --user
`;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Manager {
  /** The temporary directory holding everything (units, runtime dir, outputs). */
  readonly dir: string;
  /** XDG_RUNTIME_DIR of the manager. */
  readonly runtimeDir: string;
  /** Where unit files go ($XDG_CONFIG_HOME/systemd/user). */
  readonly unitDir: string;
  /** pid of the manager process. */
  readonly pid: number;
  /** A path under the temporary directory (parent directories are created). */
  path(...parts: string[]): string;
  /** Writes a unit file (leading indentation of each line removed). Call daemonReload() after. */
  writeUnit(name: string, text: string): void;
  /** Runs `systemctl --user ARGS…` against this manager; throws on a non-zero exit. */
  systemctl(...args: string[]): Promise<string>;
  /** Same, but returns the exit code and output instead of throwing. */
  systemctlRun(...args: string[]): Promise<Run>;
  daemonReload(): Promise<void>;
  /** `systemctl --user show -p A,B UNIT` as an object. */
  show(unit: string, ...properties: string[]): Promise<Record<string, string>>;
  /** Polls `show` until every given property has the given value; returns the last answer. */
  waitForUnit(unit: string, want: Record<string, string | ((value: string) => boolean)>, timeoutMs?: number): Promise<Record<string, string>>;
  /** Waits until a file exists and parses it as JSON (fixtures write theirs atomically). */
  waitForJson<T = any>(file: string, timeoutMs?: number): Promise<T>;
  /** Everything unit output files under logs/ hold, for failure messages. */
  logs(): string;
  /** Stops the manager and every process it started, removes its cgroups and the directory. */
  stop(): Promise<void>;
}

/** A PATH for units and tools: this Node's directory first, then the test's own PATH. */
export function unitPath(): string {
  const dirs = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter), '/usr/local/bin', '/usr/bin', '/bin'];
  return [...new Set(dirs.filter((d) => d !== ''))].join(delimiter);
}

/**
 * An ExecStart= command line: every argument quoted, with systemd's specifier (`%`) and
 * variable (`$`) characters escaped, so any path works.
 */
export function command(...argv: string[]): string {
  return argv.map((a) => `"${a.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`).join(' ');
}

/** An Environment= line setting these variables (quoted and escaped like {@link command}). */
export function environment(vars: Record<string, string>): string {
  return `Environment=${command(...Object.entries(vars).map(([k, v]) => `${k}=${v}`))}`;
}

/** Finds a program on PATH (throws when missing: this tier never skips). */
export function which(program: string): string {
  for (const dir of unitPath().split(delimiter)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${program} is not installed (searched ${unitPath()})`);
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code === -1 ? String(err) : '') });
    });
  });
}

function dedent(text: string): string {
  return `${text
    .split('\n')
    .map((l) => l.trim())
    .join('\n')
    .trim()}\n`;
}

/** Directories of our private cgroup in every mounted hierarchy, deepest first. */
function cgroupDirs(name: string): string[] {
  const roots: string[] = [];
  const top = '/sys/fs/cgroup';
  if (existsSync(join(top, name))) roots.push(join(top, name));
  try {
    for (const h of readdirSync(top)) if (existsSync(join(top, h, name))) roots.push(join(top, h, name));
  } catch {
    // no cgroup file system
  }
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return;
    }
    for (const e of entries) walk(join(dir, e));
    out.push(dir);
  };
  for (const r of roots) walk(r);
  return out;
}

function pidsIn(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Processes whose environment carries the marker the manager passes to everything it starts. */
function markedPids(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0').includes(marker)) out.push(Number(entry));
    } catch {
      // gone, or a kernel thread
    }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// systemd --user exits 1 without a word when it cannot move itself into its init.scope
// cgroup (read-only /sys/fs/cgroup, as in unprivileged containers); unshare and mount need
// CAP_SYS_ADMIN. Said when the manager does not come up.
function environmentHint(): string {
  let mounts = '';
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((l) => / \/sys\/fs\/cgroup/.test(l))
      .join('\n');
  } catch {
    // no /proc
  }
  return (
    `Needs: root with CAP_SYS_ADMIN (unshare -m, mount), a writable /sys/fs/cgroup, ${systemdBinary}. ` +
    `uid ${process.getuid?.()}; cgroup mounts:\n${mounts || '(none)'}`
  );
}

/** Starts a private user manager; call stop() in afterAll. */
export async function startManager(options: { startTimeoutMs?: number } = {}): Promise<Manager> {
  if (process.platform !== 'linux') throw new Error('the systemd tier runs on Linux only');
  if (!existsSync(systemdBinary)) throw new Error(`${systemdBinary} is missing: install the systemd package`);
  const unshare = which('unshare');
  const systemctlBinary = which('systemctl');

  const dir = mkdtempSync(join(tmpdir(), 'sa-systemd-'));
  const runtimeDir = join(dir, 'run');
  const configHome = join(dir, 'config');
  const unitDir = join(configHome, 'systemd', 'user');
  mkdirSync(runtimeDir, { mode: 0o700 });
  mkdirSync(unitDir, { recursive: true });
  // Short stop timeouts, so a test that leaves a stubborn service does not stall the teardown.
  writeFileSync(join(configHome, 'systemd', 'user.conf'), '[Manager]\nDefaultTimeoutStopSec=3s\nDefaultTimeoutStartSec=15s\n');
  mkdirSync(join(dir, 'data'));
  mkdirSync(join(dir, 'home'));
  mkdirSync(join(dir, 'logs'));
  const cgroup = `sa-test-${basename(dir)}`;
  const marker = `SA_TEST_MANAGER=${dir}`;

  const managerEnv: NodeJS.ProcessEnv = {
    PATH: unitPath(),
    HOME: join(dir, 'home'),
    LANG: 'C.UTF-8',
    XDG_RUNTIME_DIR: runtimeDir,
    XDG_CONFIG_HOME: configHome,
    XDG_DATA_HOME: join(dir, 'data'),
    SA_TEST_CGROUP: cgroup,
    SA_TEST_MANAGER: dir,
  };
  const clientEnv: NodeJS.ProcessEnv = { PATH: unitPath(), XDG_RUNTIME_DIR: runtimeDir, LANG: 'C.UTF-8', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' };

  const logFd = openSync(join(dir, 'manager.log'), 'a');
  let child: ChildProcess;
  try {
    // detached: the manager gets its own session (setsid), away from the test's terminal.
    child = spawn(unshare, ['-m', '--propagation', 'private', '/bin/sh', '-c', startScript, systemdBinary], {
      env: managerEnv,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      cwd: '/',
    });
  } finally {
    closeSync(logFd);
  }
  child.unref();
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = once(child, 'exit').then(
    ([code, signal]) => {
      exited = { code: code as number | null, signal: signal as NodeJS.Signals | null };
    },
    (err: Error) => {
      exited = { code: null, signal: null };
      writeFileSync(join(dir, 'manager.log'), `could not start ${unshare}: ${err.message}\n`, { flag: 'a' });
    },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the systemd manager');
  // Safety net if the test process dies without afterAll.
  const onExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  process.once('exit', onExit);

  const systemctlRun = (...args: string[]) => run(systemctlBinary, ['--user', '--no-pager', ...args], clientEnv);
  const systemctl = async (...args: string[]) => {
    const r = await systemctlRun(...args);
    if (r.code !== 0) throw new Error(`systemctl --user ${args.join(' ')} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  };
  const show = async (unit: string, ...properties: string[]) => {
    const out = await systemctl('show', ...(properties.length > 0 ? ['-p', properties.join(',')] : []), unit);
    const result: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) result[line.slice(0, i)] = line.slice(i + 1);
    }
    return result;
  };
  const logs = () => {
    const parts: string[] = [];
    for (const f of [join(dir, 'manager.log'), ...readdirSync(join(dir, 'logs')).map((f) => join(dir, 'logs', f))]) {
      try {
        const text = readFileSync(f, 'utf8').trim();
        if (text) parts.push(`--- ${basename(f)}\n${text}`);
      } catch {
        // removed
      }
    }
    return parts.join('\n');
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', onExit);
    if (!exited) {
      try {
        process.kill(pid, 'SIGTERM'); // a user manager stops its units and exits
      } catch {
        // gone
      }
      await Promise.race([exit, sleep(10_000)]);
      if (!exited) {
        onExit();
        await Promise.race([exit, sleep(2_000)]);
      }
    }
    // Whatever the manager left behind: processes in its cgroups, or carrying its marker.
    for (let attempt = 0; attempt < 50; attempt++) {
      const dirs = cgroupDirs(cgroup);
      const left = [...new Set([...dirs.flatMap(pidsIn), ...markedPids(marker)])];
      killAll(left);
      for (const d of dirs) {
        try {
          rmdirSync(d);
        } catch {
          // still busy: next round
        }
      }
      if (left.length === 0 && cgroupDirs(cgroup).length === 0) break;
      await sleep(100);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const manager: Manager = {
    dir,
    runtimeDir,
    unitDir,
    pid,
    path(...parts) {
      const p = join(dir, ...parts);
      mkdirSync(dirname(p), { recursive: true });
      return p;
    },
    writeUnit(name, text) {
      writeFileSync(join(unitDir, name), dedent(text));
    },
    systemctl,
    systemctlRun,
    async daemonReload() {
      await systemctl('daemon-reload');
    },
    show,
    async waitForUnit(unit, want, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let last: Record<string, string> = {};
      for (;;) {
        last = await show(unit, ...Object.keys(want));
        const ok = Object.entries(want).every(([k, v]) => (typeof v === 'function' ? v(last[k] ?? '') : last[k] === v));
        if (ok) return last;
        if (Date.now() > deadline) {
          throw new Error(`${unit}: wanted ${JSON.stringify(Object.fromEntries(Object.entries(want).map(([k, v]) => [k, typeof v === 'function' ? String(v) : v])))}, last saw ${JSON.stringify(last)}\n${logs()}`);
        }
        await sleep(50);
      }
    },
    async waitForJson(file, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
        if (Date.now() > deadline) throw new Error(`no ${file} within ${timeoutMs} ms\n${logs()}`);
        await sleep(25);
      }
    },
    logs,
    stop,
  };

  // Ready when it answers on its private bus socket.
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  for (;;) {
    const r = await systemctlRun('show', '-p', 'Version');
    if (r.code === 0 && /^Version=\S/m.test(r.stdout)) break;
    if (exited || Date.now() > deadline) {
      const why = exited ? `exited (code ${exited.code}, signal ${exited.signal})` : 'did not answer in time';
      const text = logs();
      await stop();
      throw new Error(`systemd --user ${why}; last systemctl: ${r.stderr.trim()}\n${text}\n${environmentHint()}`);
    }
    await sleep(50);
  }
  return manager;
}

/** A port that was free a moment ago on `host` (TCP or UDP). */
export async function freePort(host = '127.0.0.1', type: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (type === 'udp') {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, host, () => resolve());
    });
    const { port } = s.address();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A UDP port free on both 127.0.0.1 and ::1. */
export async function freeUdpPortBoth(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort('127.0.0.1', 'udp');
    const s = dgram.createSocket('udp6');
    const free = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port, '::1', () => resolve(true));
    });
    try {
      s.close();
    } catch {
      // never bound
    }
    if (free) return port;
  }
  throw new Error('no UDP port free on both 127.0.0.1 and ::1');
}
