// Unix socket files the launcher creates get systemd's SocketMode= default, 0666, from bind()
// on (not the umask's 0755), or the mode given with --socket-mode: what decides whether a
// client running as another user may connect.
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { killAll, start } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-socket-mode-'));
// nobody must reach the sockets in it.
chmodSync(dir, 0o755);
afterEach(() => killAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** connect() to the unix stream socket at `path` as nobody: 'ok' or the errno's name. */
function connectAsNobody(path: string): string {
  const script = `import errno, socket, sys\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect(sys.argv[1]); print("ok")\nexcept OSError as e:\n    print(errno.errorcode[e.errno])`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c', script, path], { encoding: 'utf8' });
  return r.stdout.trim() || r.stderr;
}

let unique = 0;
describe('unix socket file mode', () => {
  it.runIf(process.getuid?.() === 0)('by default 0666 under umask 022: another user (nobody) connects, to stream and datagram files alike', async () => {
    const stream = join(dir, `s-${++unique}.sock`);
    const dgram = join(dir, `d-${unique}.sock`);
    const s = start('/bin/sh', ['-c', `umask 022; exec "$@"`, 'sh', process.execPath, cli, '-l', stream, '-d', dgram, '--', '/bin/sh', '-c', 'echo UP; exec sleep 30'], { cwd: root });
    await s.waitFor(/^UP$/m);
    expect(lstatSync(stream).mode & 0o777).toBe(0o666);
    expect(lstatSync(dgram).mode & 0o777).toBe(0o666);
    expect(connectAsNobody(stream)).toBe('ok');
    process.kill(s.pid, 'SIGTERM');
    await s.finish();
  });

  it.runIf(process.getuid?.() === 0)('--socket-mode 0600: nobody gets EACCES', async () => {
    const path = join(dir, `p-${++unique}.sock`);
    const s = start(process.execPath, [cli, '--socket-mode', '0600', '-l', path, '--', '/bin/sh', '-c', 'echo UP; exec sleep 30'], { cwd: root });
    await s.waitFor(/^UP$/m);
    expect(lstatSync(path).mode & 0o777).toBe(0o600);
    expect(connectAsNobody(path)).toBe('EACCES');
    process.kill(s.pid, 'SIGTERM');
    await s.finish();
  });

  it.each(['999', '0o600', '1777', ''])('--socket-mode %j is a usage error naming the value', async (mode) => {
    const s = start(process.execPath, [cli, '--socket-mode', mode, '-l', join(dir, 'x.sock'), '--', 'true'], { cwd: root });
    expect(await s.finish()).toEqual({ code: 2, signal: null });
    expect(s.stderr).toContain(`--socket-mode must be an octal file mode from 0000 to 0777 (e.g. 0660); found ${JSON.stringify(mode)}.`);
  });
});
