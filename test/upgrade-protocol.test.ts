// The protocol between the two processes of a hot upgrade, across versions: the predecessor
// names the one it speaks (SOCKET_ACTIVATION_SUCCESSOR); a successor that does not speak it
// refuses on the channel and exits, and the predecessor rolls back at once with that reason
// instead of waiting for a READY=1 that cannot come. Real processes, no service manager.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import { fixtures, reportOf, root } from './helpers/activated.js';
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

describe('the predecessor', () => {
  // One upgrade of an activated service to `command`, which runs in the successor's place.
  const upgradeTo = (command: string[]): Promise<{ ok: boolean; reason?: string; ms: number }> =>
    reportOf('upgrade-once.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, args: [JSON.stringify(command)] });

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
