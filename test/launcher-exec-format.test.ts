// Commands that exist but that execve() refuses for their format: a #! line naming an
// interpreter that is missing (also one ending in a carriage return, a CRLF script), a broken
// ELF header, an executable text file without a #! line (ENOEXEC: a shell would run it as a
// script, systemd does not). The first start ends the launcher at once, saying why; a shell's
// error at a later start is the shell's, not dressed as the supervisor's.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { killAll, start } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-exec-format-'));
afterEach(() => killAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function executable(name: string, content: string | Buffer): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  chmodSync(file, 0o755);
  return file;
}

const launch = (command: string[]) => {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
  for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'NODE_OPTIONS']) delete env[v];
  return start(process.execPath, [cli, '-l', '127.0.0.1:0', '--', ...command], { cwd: dir, env });
};

describe('a command execve() refuses fails the first start at once', () => {
  const elf = Buffer.alloc(208);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(elf); // ELF, 64-bit, little-endian, e_type 0
  it.each([
    { label: 'a #! line naming a missing interpreter', name: 'badshebang', content: '#!/nonexistent/interp\necho hi\n', code: 127, why: 'interpreter /nonexistent/interp of ./badshebang was not found' },
    {
      label: 'a script with CRLF line ends',
      name: 'crlf',
      content: '#!/bin/sh\r\necho hi\r\n',
      code: 127,
      why: 'interpreter "/bin/sh\\r" of ./crlf was not found (the #! line ends in a carriage return: the script has Windows line endings; convert it with dos2unix)',
    },
    { label: 'a broken ELF header', name: 'fakeelf', content: elf, code: 126, why: './fakeelf is not an executable format (its ELF header is broken or not of a program' },
    { label: 'a text file without #!', name: 'noshebang', content: 'echo "I ran as a shell script"\n', code: 126, why: './noshebang is not an executable format: neither a program nor a script with a #! line' },
  ])('$label: status $code and why', async ({ name, content, code, why }) => {
    executable(name, content);
    const s = launch([`./${name}`]);
    expect(await s.finish()).toEqual({ code, signal: null });
    expect(s.stderr).toContain(`socket-activation: cannot start the command: ${why}`);
    expect(s.stderr).not.toMatch(/restarting in/);
    expect(s.stdout).toBe('');
  });

  // binfmt_misc is not mounted here (as in most containers), yet the host's entries would
  // still apply: a binary of an unknown format, or a text file named with an extension, may be
  // one an entry takes, so only execve() can judge it.
  it.each([
    { label: 'a binary of a format the kernel may know through binfmt_misc', name: 'unknown.bin', content: Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00]) },
    { label: 'a text file with an extension (binfmt_misc matches names too)', name: 'script.py', content: 'print("hi")\n' },
  ])('binfmt_misc unreadable: $label is left to execve(), not refused', async ({ name, content }) => {
    expect(existsSync('/proc/sys/fs/binfmt_misc/status')).toBe(false);
    executable(name, content);
    const s = start(process.execPath, [cli, '-l', '127.0.0.1:0', '--restart', 'no', '--', `./${name}`], { cwd: dir, env: { ...process.env, LISTEN_PID: undefined, LISTEN_FDS: undefined, LISTEN_FDNAMES: undefined, NOTIFY_SOCKET: undefined } });
    await s.finish();
    expect(s.stderr).not.toContain('cannot start the command');
  });

  it('an interpreter that exists but cannot be executed: status 126', async () => {
    const data = join(dir, 'data-file');
    writeFileSync(data, 'not a program');
    executable('plaininterp', `#!${data}\n`);
    const s = launch(['./plaininterp']);
    expect(await s.finish()).toEqual({ code: 126, signal: null });
    expect(s.stderr).toContain(`cannot start the command: interpreter ${data} of ./plaininterp is not an executable file`);
  });

  it('a working script, a PATH command and a node program still start', async () => {
    executable('good', '#!/bin/sh\necho GOOD\n');
    for (const command of [['./good'], ['true'], [process.execPath, '-e', 'console.log("GOOD")']]) {
      const s = launch(['/bin/sh', '-c', '"$@"; exit 0', 'sh', ...command]);
      const exit = await s.finish();
      expect({ command, exit, stderr: s.stderr.replace(/^socket-activation: \S+ listens on .*\n/gm, '') }).toEqual({ command, exit: { code: 0, signal: null }, stderr: '' });
    }
  });
});

describe('a later start', () => {
  it('the shell error of a command broken after the first start is the shell’s, not prefixed socket-activation:', async () => {
    // Runs once, then turns itself into a script with a missing interpreter and fails.
    executable('breaks', `#!/bin/sh\nprintf '#!/nonexistent/interp\\n' > "$0"\necho RAN\nexit 1\n`);
    const s = launch(['./breaks']);
    await s.waitFor(/started \d times in 10 s, giving up/, { stream: 'stderr' });
    expect(await s.finish()).toEqual({ code: 127, signal: null });
    expect(s.stdout.match(/RAN/g)).toHaveLength(1);
    const shellLines = s.stderr.split('\n').filter((l) => l.includes('not found'));
    expect(shellLines.length).toBeGreaterThan(0);
    for (const line of shellLines) expect(line).toMatch(/^sh: /);
  });
});
