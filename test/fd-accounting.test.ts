// fd accounting: every public call leaves the process's fd table as it found it, on success and
// on every error path (test/fixtures/fd-accounting.mjs snapshots /proc/self/fd and fdinfo
// around each call in a real activated process), and the launcher's command gets exactly the
// fds it was meant to get.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../src/native.js';
import { cli, fixtures, runActivated, slowdown } from './helpers/activated.js';
import { startByteReceiver } from './helpers/harness.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { closeAllSockets, makeSocket } from './helpers/raw-sockets.js';
import { killAll } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-fd-accounting-'));
afterAll(async () => {
  closeAllSockets();
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

interface Scenario {
  name: string;
  outcome: string;
  expected: string;
  changes: { fd: number; change: string }[];
  expectedChanges: { fd: number; change: string }[] | 'cloexec-only';
  nonblocking: number[];
  sharedStdio: boolean;
}

describe('fd accounting', () => {
  it('every public call, success and error paths, leaves the fd table as it found it', async () => {
    const web = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const dns = makeSocket({ family: 'inet', type: 'dgram', host: '127.0.0.1' });
    const sock = makeSocket({ family: 'unix', path: join(dir, 'sock') });
    const multi = [makeSocket({ family: 'inet', host: '127.0.0.1' }), makeSocket({ family: 'inet', host: '127.0.0.1' })];
    const ends = native().pipe() as [number, number];
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const [accepted] = (await once(server, 'connection')) as [net.Socket];
    const closing = await startByteReceiver(join(dir, 'notify'));
    const keeping = await startReceiver({ keepFds: true });
    try {
      const conn = (accepted as unknown as { _handle: { fd: number } })._handle.fd;
      const r = await runActivated('fd-accounting.mjs', {
        fds: [web.fd, dns.fd, sock.fd, ends[0], conn, multi[0]!.fd, multi[1]!.fd],
        env: { LISTEN_FDNAMES: 'web:dns:sock:pipe:conn:multi:multi', NOTIFY_SOCKET: join(dir, 'notify'), KEEPING_SOCKET: keeping.address },
      });
      const last = r.stdout.trim().split('\n').pop() ?? '';
      expect(last.startsWith('{'), `the fixture printed no report (exit ${r.code}):\n${r.stdout}\n${r.stderr}`).toBe(true);
      const { scenarios } = JSON.parse(last) as { scenarios: Scenario[] };
      const wrong = scenarios.flatMap((s) => {
        const problems: string[] = [];
        if (s.outcome !== s.expected) problems.push(`${s.name}: ended ${s.outcome}, expected ${s.expected}`);
        const allowed =
          s.expectedChanges === 'cloexec-only'
            ? s.changes.filter((c) => c.change !== 'cloexec set' || c.fd < 3 || c.fd > 9)
            : s.changes.filter((c) => !(s.expectedChanges as Scenario['changes']).some((e) => e.fd === c.fd && e.change === c.change));
        if (allowed.length > 0) problems.push(`${s.name}: ${JSON.stringify(allowed)}`);
        if (Array.isArray(s.expectedChanges)) {
          for (const e of s.expectedChanges) if (!s.changes.some((c) => c.fd === e.fd && c.change === e.change)) problems.push(`${s.name}: expected ${JSON.stringify(e)}`);
        }
        // O_NONBLOCK is shared by every copy of a socket: only inherited sockets Node adopted may
        // show it, and stdio when a Node child shares it.
        const odd = s.nonblocking.filter((fd) => (fd < 3 && !s.sharedStdio) || fd > 9);
        if (odd.length > 0) problems.push(`${s.name}: O_NONBLOCK changed on ${odd}`);
        return problems;
      });
      expect(wrong).toEqual([]);
      // Every call the fixture makes was counted: none ended the run early.
      expect(scenarios.length).toBe(readFileSync(join(fixtures, 'fd-accounting.mjs'), 'utf8').match(/^await account\(/gm)!.length);
      console.log(`fd accounting: ${scenarios.length} calls (${scenarios.filter((s) => s.expected !== 'ok').length} error paths), 0 unexpected fd changes`);
    } finally {
      client.destroy();
      accepted.destroy();
      server.close();
      closing.stop();
      keeping.stop();
      native().close(ends[0]);
      native().close(ends[1]);
    }
  }, 60_000 * slowdown);

  it("the launcher's command gets 0, 1, 2, its sockets at 3.. and the hand-over channel after them, nothing else of the launcher's", () => {
    // fds this test process holds without FD_CLOEXEC pass to any child; they are not the launcher's.
    const passedThrough = readdirSync('/proc/self/fd')
      .map(Number)
      .filter((fd) => {
        try {
          return fd >= 3 && !(parseInt(/^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))![1]!, 8) & 0o2000000);
        } catch {
          return false;
        }
      });
    const out = execFileSync(process.execPath, [cli, '-l', '127.0.0.1:0', '-d', '127.0.0.1:0', '--seqpacket', `${dir}/seq`, '--', '/bin/sh', '-c', 'echo $SOCKET_ACTIVATION_HANDOFF_FD; ls /proc/$$/fd'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const [channel, ...listed] = out.split(/\s+/).filter(Boolean).map(Number);
    const fds = listed.sort((a, b) => a - b);
    // Every child has the channel a stopping child's idle connections come by (see the supervisor).
    expect(channel).toBe(6);
    expect(fds.filter((fd) => !passedThrough.includes(fd) || fd < 7)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
