// The launcher's messages about its addresses and arguments: the address and its name apart,
// one address given twice, EMFILE, the longest unix socket path, an empty command, the
// largest backlog.
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { freePort } from './helpers/raw-sockets.js';
import { killAll, start } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-messages-'));
afterEach(() => killAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const launch = (args: string[]) => start(process.execPath, [cli, ...args], { cwd: dir });
const usageError = async (args: string[]): Promise<string> => {
  const s = launch(args);
  expect(await s.finish()).toEqual({ code: 2, signal: null });
  expect(s.stderr).toContain('[ERR_LAUNCHER_USAGE]');
  return s.stderr;
};

describe('strings exec() cannot take', () => {
  // 32 pages (MAX_ARG_STRLEN) per string: 131072 bytes with 4 KiB pages.
  const names = (n: number) => Array.from({ length: n }, (_, i) => `n${String(i).padStart(3, '0')}${'x'.repeat(246)}`);
  it('-l names that make LISTEN_FDNAMES longer than one exec() string are a usage error, before anything is bound', async () => {
    const stderr = await usageError([...names(600).flatMap((name, i) => ['-l', `${name}=@sa-e2big-${process.pid}-${i}`]), '--', 'true']);
    expect(stderr).toContain('The names of the 600 sockets make LISTEN_FDNAMES 150615 bytes, more than exec() takes for one variable (131072, 32 pages)');
  });

  it('names that fit start the command', async () => {
    const s = launch([...names(400).flatMap((name, i) => ['-l', `${name}=@sa-fits-${process.pid}-${i}`]), '--restart', 'no', '--', '/bin/sh', '-c', 'echo ${#LISTEN_FDNAMES}']);
    expect(await s.finish()).toEqual({ code: 0, signal: null });
    expect(s.stdout.trim()).toBe(String(400 * 250 + 399));
  });
});

describe('bind errors', () => {
  it('name the address and its NAME= apart', async () => {
    const s = launch(['-l', 'u=/nonexistent/d.sock', '--', 'true']);
    expect(await s.finish()).toEqual({ code: 1, signal: null });
    expect(s.stderr).toContain('ENOENT: no such file or directory, bind /nonexistent/d.sock (name "u": the directory /nonexistent does not exist: create it first)');
  });

  it('the advice escapes the path as the address is escaped: control characters, and a backslash doubled', async () => {
    const s = launch(['-l', 'u=/nonexistent/\\x1b\u001b/d.sock', '--', 'true']);
    expect(await s.finish()).toEqual({ code: 1, signal: null });
    expect(s.stderr).toContain('bind /nonexistent/\\\\x1b\\x1b/d.sock (name "u": the directory /nonexistent/\\\\x1b\\x1b does not exist: create it first)');
    expect(s.stderr).not.toContain('\u001b');
  });

  it('a unix socket path of 108 bytes (all of sun_path, no NUL) is refused as the message says, 107 bound', async () => {
    const path = (n: number): string => join(dir, 'p'.repeat(n - dir.length - 1));
    const long = launch(['-l', path(108), '--', 'true']);
    expect(await long.finish()).toEqual({ code: 1, signal: null });
    expect(long.stderr).toContain(`bind ${path(108)} (a unix socket name holds at most 107 bytes, this one 108: choose a shorter one)`);
    const fits = launch(['-l', path(107), '--restart', 'no', '--', 'true']);
    expect(await fits.finish()).toEqual({ code: 0, signal: null });
  });

  it('EMFILE says to raise ulimit -n', async () => {
    const args = Array.from({ length: 40 }, () => ['-l', '127.0.0.1:0']).flat();
    const s = start('/bin/sh', ['-c', 'ulimit -n 32 && exec "$@"', 'sh', process.execPath, cli, ...args, '--', 'true'], { cwd: dir });
    expect(await s.finish()).toEqual({ code: 1, signal: null });
    expect(s.stderr).toContain('EMFILE: too many open files, socket 127.0.0.1:0 (this process may have only 32 files open (RLIMIT_NOFILE), one per socket: raise the limit with `ulimit -n`');
  });
});

describe('the same address twice is a usage error naming both arguments', () => {
  const covers = ' (a wildcard, dual-stack or IPv4-mapped address covers the other on its port)';
  it.each([
    { args: ['-l', '127.0.0.1:P', '-l', '127.0.0.1:P'], named: '-l 127.0.0.1:P and -l 127.0.0.1:P', note: '' },
    { args: ['-l', 'P', '-l', 'web=127.0.0.1:P'], named: '-l P and -l web=127.0.0.1:P', note: covers },
    { args: ['-l', '0.0.0.0:P', '--listen=127.0.0.1:P'], named: '-l 0.0.0.0:P and --listen 127.0.0.1:P', note: covers },
    { args: ['-d', '[::1]:P', '-d', '[0:0::1]:P'], named: '-d [::1]:P and -d [0:0::1]:P', note: '' },
    { args: ['-l', './s.sock', '-d', './s.sock'], named: '-l ./s.sock and -d ./s.sock', note: '' },
  ])('$named', async ({ args, named, note }) => {
    const port = String(await freePort());
    const stderr = await usageError([...args.map((a) => a.replace('P', port)), '--', 'true']);
    expect(stderr).toContain(`${named.replaceAll('P', port)} bind the same address${note}: give each address once.`);
  });

  it('different protocols, port 0 twice, and an abstract name for two socket types are fine', async () => {
    const port = await freePort();
    const s = launch(['-l', `127.0.0.1:${port}`, '-d', `127.0.0.1:${port}`, '-l', '127.0.0.1:0', '-l', '127.0.0.1:0', '-l', `@sa-messages-${port}`, '-d', `@sa-messages-${port}`, '--restart', 'no', '--', 'true']);
    expect(await s.finish()).toEqual({ code: 0, signal: null });
  });
});

describe('arguments that are not UTF-8', () => {
  // Node decodes them with U+FFFD: the launcher would bind, or pass on, other bytes.
  const viaShell = (args: string) => start('/bin/sh', ['-c', `exec "$0" "$1" ${args}`, process.execPath, cli], { cwd: dir });

  it('a socket path with byte 0xff is a usage error naming the bytes, and no socket file of another name is made', async () => {
    const s = viaShell(`-l "$(printf 'u=${dir}/a\\377.sock')" -- true`);
    expect(await s.finish()).toEqual({ code: 2, signal: null });
    expect(s.stderr).toContain(`The argument u=${dir}/a\\xff.sock is not valid UTF-8`);
    expect(readdirSync(dir).filter((f) => f.startsWith('a'))).toEqual([]);
  });

  it('a path that holds U+FFFD itself is bound as given', async () => {
    const s = viaShell(`-l "$(printf 'u=${dir}/b\\357\\277\\275.sock')" -- true`);
    expect(await s.finish()).toEqual({ code: 0, signal: null });
  });
});

describe('other usage errors', () => {
  it("-- '' is a usage error, not a command that was not found", async () => {
    expect(await usageError(['-l', '127.0.0.1:0', '--', ''])).toContain('The command is an empty string ("")');
  });

  it('-b 2147483648 states the maximum', async () => {
    expect(await usageError(['-b', '2147483648', '-l', '127.0.0.1:0', '--', 'true'])).toContain('--backlog must be a whole number from 1 to 2147483647');
  });
});

describe('journald priorities: <N> prefixes where stderr is the journal (JOURNAL_STREAM names its device and inode)', () => {
  let runs = 0;
  /** Runs the CLI with stderr on a file; JOURNAL_STREAM names that file, or (journal: false) another inode. */
  const run = (args: string[], journal: boolean): { status: number | null; lines: string[] } => {
    const file = join(dir, `stderr-${runs++}`);
    const fd = openSync(file, 'w');
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const env: NodeJS.ProcessEnv = { ...process.env, JOURNAL_STREAM: `${dev}:${journal ? ino : ino + 1n}` };
    for (const v of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET']) delete env[v];
    const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, env, stdio: ['ignore', 'ignore', fd] });
    closeSync(fd);
    return { status: r.status, lines: readFileSync(file, 'utf8').split('\n').slice(0, -1) };
  };

  it('errors at err (<3>), restarts after a failure at warning (<4>), the rest at info (<6>); every line of a message', () => {
    const missing = run(['-l', 'web=127.0.0.1:0', '--', './missing'], true);
    expect(missing.status).toBe(127);
    expect(missing.lines).toEqual([
      expect.stringMatching(/^<6>socket-activation: web listens on 127\.0\.0\.1:[1-9][0-9]*$/),
      `<3>socket-activation: cannot start the command: ./missing does not exist (looked for in ${dir})`,
    ]);

    const crashing = run(['-l', '127.0.0.1:0', '--', '/bin/sh', '-c', 'exit 3'], true);
    expect(crashing.status).toBe(3);
    expect(crashing.lines.slice(1, 5)).toEqual(Array(4).fill(expect.stringMatching(/^<4>socket-activation: pid \d+ exited with status 3; restarting in \d+ ms \(the sockets stay open\)$/)));
    expect(crashing.lines[5]).toMatch(/^<3>socket-activation: pid \d+ exited with status 3; started 5 times in 10 s, giving up$/);

    // Two lines: the second must not go to the journal at info.
    expect(run(['-b', 'x', '-l', '127.0.0.1:0', '--', 'true'], true)).toEqual({
      status: 2,
      lines: ['<3>socket-activation: --backlog must be a whole number from 1 to 2147483647 (the kernel caps it at net.core.somaxconn); found "x".', '<3>Run socket-activation --help for usage. [ERR_LAUNCHER_USAGE]'],
    });
    const reload = run(['reload', '2147483646'], true);
    expect(reload.status).toBe(1);
    expect(reload.lines[0]).toMatch(/^<3>socket-activation: there is no process 2147483646 to ask for an upgrade/);
  });

  it('no prefix where stderr is not the journal (a terminal, docker logs, another stream)', () => {
    expect(run(['-l', '127.0.0.1:0', '--', './missing'], false).lines[1]).toBe(`socket-activation: cannot start the command: ./missing does not exist (looked for in ${dir})`);
  });
});
