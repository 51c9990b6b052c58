// Stop signals that reach the launcher while it is still loading (before the supervisor runs):
// as PID 1 the kernel drops a signal without a handler, so the CLI entry catches them on its
// first line and the supervisor acts on them. What is left is Node's own start-up (README).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { killAll, start } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-early-'));
afterEach(() => killAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const canUnshare = spawnSync('unshare', ['-fp', '--mount-proc', 'true']).status === 0;

/**
 * Checks as often as the event loop turns (the window looked for lasts a few milliseconds)
 * until `check` is true or `s` has exited, which the loop's turns let it see; at most 20 s.
 */
async function until(s: { exit?: unknown }, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!s.exit && !check()) {
    if (Date.now() > deadline) throw new Error('the launcher never got to the state looked for within 20 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Whether `pid` has a handler for `signal` (SigCgt in /proc/PID/status), false once it is gone. */
function catches(pid: number, signal: NodeJS.Signals): boolean {
  try {
    const mask = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`);
    return ((mask >> BigInt(constants.signals[signal] - 1)) & 1n) === 1n;
  } catch {
    return false;
  }
}

describe('stop signals while the launcher loads', () => {
  // Node itself catches SIGTERM from its start (to restore the terminal, then re-raise it, which
  // PID 1 ignores), so the entry's handlers are seen by SIGHUP, which plain Node leaves alone;
  // the supervisor's by SIGUSR2, which only it catches. Frozen in between (SIGSTOP reaches PID 1
  // from outside its namespace), the launcher gets SIGTERM before it could start anything.
  it('as PID 1: a SIGTERM between the entry and the supervisor ends it with 143, and the command never starts', async () => {
    expect(canUnshare).toBe(true);
    for (let attempt = 0; attempt < 20; attempt++) {
      const marker = join(dir, `started-${attempt}`);
      const s = start('unshare', ['-fp', '--mount-proc', process.execPath, cli, '-l', '127.0.0.1:0', '--', '/bin/sh', '-c', `: > ${marker}; exec sleep 30`], { cwd: root });
      let launcher = 0;
      await until(s, () => {
        try {
          launcher = Number(readFileSync(`/proc/${s.pid}/task/${s.pid}/children`, 'utf8').trim().split(' ')[0]);
        } catch {
          launcher = 0;
        }
        return launcher > 0 && catches(launcher, 'SIGHUP');
      });
      expect(s.exit).toBeUndefined();
      process.kill(launcher, 'SIGSTOP');
      if (catches(launcher, 'SIGUSR2')) {
        // Already supervising: this round says nothing about the loading window.
        process.kill(launcher, 'SIGKILL');
        await s.finish();
        continue;
      }
      process.kill(launcher, 'SIGTERM');
      process.kill(launcher, 'SIGCONT');
      expect(await s.finish()).toEqual({ code: 143, signal: null });
      expect(existsSync(marker)).toBe(false);
      return;
    }
    throw new Error('the launcher was never seen with its stop handlers in place before the supervisor ran');
  });

  it('not PID 1: the launcher dies of the SIGTERM it got while loading, and the command never starts', async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const marker = join(dir, `plain-${attempt}`);
      const s = start(process.execPath, [cli, '-l', '127.0.0.1:0', '--', '/bin/sh', '-c', `: > ${marker}; exec sleep 30`], { cwd: root });
      await until(s, () => catches(s.pid, 'SIGHUP'));
      expect(s.exit).toBeUndefined();
      process.kill(s.pid, 'SIGSTOP');
      if (catches(s.pid, 'SIGUSR2')) {
        process.kill(s.pid, 'SIGKILL');
        await s.finish();
        continue;
      }
      process.kill(s.pid, 'SIGTERM');
      process.kill(s.pid, 'SIGCONT');
      expect(await s.finish()).toEqual({ code: null, signal: 'SIGTERM' });
      expect(existsSync(marker)).toBe(false);
      return;
    }
    throw new Error('the launcher was never seen with its stop handlers in place before the supervisor ran');
  });
});
