// A stand-in notify socket (test/fixtures/notify-receiver.py) for tests that need to see the
// exact datagrams, fds and credentials a process sends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { fixtures } from './activated.js';
import { start, type Watched } from './watch.js';

export interface ReceivedFd {
  mode: 'socket' | 'fifo' | 'other';
  ino: number;
  listening?: boolean;
  type?: number;
  local?: string;
}

export interface Received {
  text: string;
  /** The sender's pid from SCM_CREDENTIALS (the kernel fills it in). */
  pid: number | null;
  fds: ReceivedFd[];
}

export interface Receiver {
  /** What to put in NOTIFY_SOCKET. */
  readonly address: string;
  readonly process: Watched;
  /** Every message received so far. */
  messages(): Received[];
  /** Waits until `count` messages have arrived; returns all of them. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  /** Starts reading (for `paused`). */
  resume(): void;
  stop(): void;
}

// Removed when the test file is done, not when a receiver stops: a test may need the socket
// file of a stopped receiver (ECONNREFUSED, not ENOENT).
const made: string[] = [];
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts a receiver on a fresh path (or abstract name) and waits until it is bound. */
export async function startReceiver(options: { abstract?: boolean; paused?: boolean; keepFds?: boolean } = {}): Promise<Receiver> {
  const dir = options.abstract ? undefined : mkdtempSync(join(tmpdir(), 'sa-notify-'));
  const address = dir ? join(dir, 'notify') : `@sa-test-notify-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const flags = [...(options.paused ? ['--paused'] : []), ...(options.keepFds ? ['--keep-fds'] : [])];
  const p = start('python3', [join(fixtures, 'notify-receiver.py'), address, ...flags]);
  if (dir) made.push(dir);
  await p.waitFor(/^BOUND$/m);
  const messages = (): Received[] =>
    p.stdout
      .split('\n')
      .filter((l) => l.startsWith('MSG '))
      .map((l) => JSON.parse(l.slice(4)) as Received);
  return {
    address,
    process: p,
    messages,
    async waitFor(count, timeoutMs = 10_000) {
      await p.waitFor(new RegExp(`(^MSG .*\\n){${count}}`, 'm'), { timeoutMs });
      return messages();
    },
    resume: () => p.kill('SIGUSR1'),
    stop: () => p.kill('SIGTERM'),
  };
}
