// Port 0: the kernel chooses the port, and the launcher says which, one line per such socket,
// so that a client can find the service.
import { afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { tryConnect } from './helpers/clients.js';
import { killAll, start } from './helpers/watch.js';

afterEach(() => killAll());

describe('port 0', () => {
  it('each socket on port 0 gets a line with the port the kernel chose, and a client reaches it there', async () => {
    const s = start(process.execPath, [cli, '-l', 'web=127.0.0.1:0', '-l', '0', '-d', 'dns=127.0.0.1:0', '--', '/bin/sh', '-c', 'echo UP; exec sleep 30'], { cwd: root });
    await s.waitFor(/^UP$/m);
    const web = /^socket-activation: web listens on 127\.0\.0\.1:(\d+)$/m.exec(s.stderr);
    const any = /^socket-activation: 0 listens on \[::\]:(\d+)$/m.exec(s.stderr);
    const dns = /^socket-activation: dns is bound to 127\.0\.0\.1:(\d+)$/m.exec(s.stderr);
    expect([web, any, dns].every((m) => m !== null && Number(m[1]) > 0)).toBe(true);
    expect(s.stderr.match(/listens on|is bound to/g)).toHaveLength(3);
    expect(await tryConnect({ host: '127.0.0.1', port: Number(web![1]) })).toBe('connected');
    expect(await tryConnect({ host: '127.0.0.1', port: Number(any![1]) })).toBe('connected');
    process.kill(s.pid, 'SIGTERM');
    await s.finish();
  });
});
