// startActivated(): posix_spawn() on the thread pool (native/spawn.cc), the way a hot upgrade
// starts its successor while it serves. Checked in the child the kernel made: which file sits at
// each fd and its flags, LISTEN_* with the child's own pid, signal dispositions and mask, the
// working directory; and the errors, with no fd left behind.
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import { startActivated } from '../src/spawn.js';
import { root, runActivated } from './helpers/activated.js';
import { closeAll, inetSocket } from './helpers/sockets.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

// What the spawned shell reports about itself ($$ is the trampoline's pid: it execs, never forks).
// Its signal masks are read with builtins, before it forks anything: dash blocks every signal
// while it waits for a child, so a grep of its status could catch that.
const REPORT = [
  'while read -r key value; do case $key in SigIgn:|SigBlk:) echo "$key $value";; esac; done < /proc/$$/status',
  'for fd in 3 4 5; do echo "fd $fd $(stat -L -c %i /proc/$$/fd/$fd) $(sed -n "s/^flags:[[:space:]]*//p" /proc/$$/fdinfo/$fd)"; done',
  'echo "env $$ $LISTEN_PID $LISTEN_FDS $LISTEN_FDNAMES"',
  'echo "cwd $PWD $(pwd -P)"',
].join('; ');

const O_CLOEXEC = 0o2000000;

describe('startActivated', () => {
  it('puts each fd at 3.. in order, without FD_CLOEXEC, even where a source sits at another one\'s target; LISTEN_PID is its own pid; signals are reset and unblocked; the directory keeps its symlinked name', async () => {
    const fds = [inetSocket().fd, inetSocket().fd, inetSocket().fd];
    cleanup.push(closeAll);
    const dir = mkdtempSync(join(tmpdir(), 'sa-spawn-'));
    symlinkSync(dir, join(dir, 'current'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = (path: string): string => JSON.stringify(pathToFileURL(join(root, path)).href);
    // A parent with the three listeners at 3, 4, 5, all close-on-exec (as after listeners()),
    // and SIGPIPE ignored (as in every Node process), passing them as 4, 3, 5.
    const parent = `
      import { fstatSync } from 'node:fs';
      const { startActivated } = await import(${url('dist/spawn.js')});
      const { native } = await import(${url('dist/native.js')});
      for (const fd of [3, 4, 5]) if (native().setCloexec(fd, true) !== 0) throw new Error('setCloexec ' + fd);
      const pid = await startActivated(['/bin/sh', '-c', ${JSON.stringify(REPORT)}], [{ fd: 4, name: 'b' }, { fd: 3, name: 'a' }, { fd: 5, name: 'c' }], { cwd: ${JSON.stringify(join(dir, 'current'))}, listenFdCount: 2 });
      let status;
      while ((status = native().reap(pid)) === 0) await new Promise((r) => setTimeout(r, 10));
      console.log(JSON.stringify({ pid, status, inodes: [3, 4, 5].map((fd) => fstatSync(fd).ino) }));`;
    const r = await runActivated('', { fds, command: [process.execPath, '--input-type=module', '-e', parent] });
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    const { pid, status, inodes } = JSON.parse(lines.pop()!) as { pid: number; status: object; inodes: number[] };
    expect(status, r.stdout).toEqual({ code: 0 });
    const field = (key: string): string[] => lines.find((l) => l.startsWith(key))!.split(/\s+/).slice(1);
    // Signals 1-31 as a fresh program has them. glibc's posix_spawn() leaves its two internal
    // signals (32, 33: SIGRTMIN is 34) ignored in every program it starts; glibc reinstalls them.
    expect(BigInt(`0x${field('SigIgn:')[0]}`) & 0x7fffffffn).toBe(0n);
    expect(field('SigBlk:')).toEqual(['0000000000000000']);
    const child = [3, 4, 5].map((fd) => field(`fd ${fd} `).slice(1));
    expect(child.map(([ino]) => Number(ino))).toEqual([inodes[1], inodes[0], inodes[2]]);
    for (const [, flags] of child) expect(parseInt(flags!, 8) & O_CLOEXEC).toBe(0);
    expect(field('env ')).toEqual([String(pid), String(pid), '2', 'b:a']);
    expect(field('cwd ')).toEqual([join(dir, 'current'), dir]);
  });

  it('a directory that is not there: the shell says so and exits non-zero', async () => {
    const pid = await startActivated(['/bin/true'], [], { cwd: '/nonexistent/socket-activation' });
    let status: ReturnType<ReturnType<typeof native>['reap']>;
    while ((status = native().reap(pid)) === 0) await new Promise((r) => setTimeout(r, 10));
    expect(status).toMatchObject({ code: 2 });
  });

  it('errors come back as -errno, and leave no fd behind: a program that is not there (ENOENT), an fd that is not open (EBADF)', async () => {
    const before = readdirSync('/proc/self/fd').length;
    const spawn = (path: string, fds: number[]): Promise<number> => new Promise((resolve) => native().spawn(path, [path], [], Int32Array.from(fds), resolve));
    expect(await spawn('/nonexistent/program', [])).toBe(-constants.errno.ENOENT);
    expect(await spawn('/bin/true', [0, 1_000_000])).toBe(-constants.errno.EBADF);
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });
});
