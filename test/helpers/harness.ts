// The libsystemd reference harness (fuzz/harness.c): built on first use into build/fuzz/, fed
// cases on stdin by one or more harness processes at once, answers collected by case id.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './activated.js';

const source = join(root, 'fuzz', 'harness.c');
const binary = join(root, 'build', 'fuzz', 'harness');

/** One case: fds to place at 3.. (fuzz/harness.c lists the kinds), and variables as bytes. */
export interface HarnessCase {
  readonly id: number;
  readonly kinds: string;
  readonly unset: boolean;
  /** Byte values; bytes 1–4 stand for this process's pid (decimal, hex, octal) and pidfd id. */
  readonly env: Readonly<Record<string, Uint8Array | undefined>>;
}

/** Compiles the harness against libsystemd when it is missing or older than its source. */
export function buildHarness(): string {
  let fresh = false;
  try {
    fresh = statSync(binary).mtimeMs >= statSync(source).mtimeMs;
  } catch {
    // not built yet
  }
  if (fresh) return binary;
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libsystemd'], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    throw new Error('The fuzz harness needs libsystemd-dev and pkg-config (test dependencies only; .ci/run installs them): apt-get install libsystemd-dev pkg-config');
  }
  mkdirSync(join(root, 'build', 'fuzz'), { recursive: true });
  execFileSync('cc', ['-O1', '-g', '-Wall', '-Wextra', '-Werror', '-o', binary, source, ...flags], { stdio: 'inherit' });
  return binary;
}

/** The line fuzz/harness.c reads for a case. */
export function caseLine(c: HarnessCase): string {
  const vars = Object.entries(c.env)
    .filter((e): e is [string, Uint8Array] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${Buffer.from(v).toString('hex')}`);
  return [c.id, c.kinds || '-', c.unset ? 1 : 0, ...vars].join(' ');
}

/** Replaces the placeholder bytes the way the harness does for a process with this pid and pidfd id. */
export function instantiate(value: Uint8Array, pid: number, pidfdId: string): Buffer {
  const parts: Buffer[] = [];
  for (const b of value) {
    if (b === 1) parts.push(Buffer.from(String(pid)));
    else if (b === 2) parts.push(Buffer.from(pid.toString(16)));
    else if (b === 3) parts.push(Buffer.from(pid.toString(8)));
    else if (b === 4) parts.push(Buffer.from(pidfdId));
    else parts.push(Buffer.from([b]));
  }
  return Buffer.concat(parts);
}

/** What Node's process.env holds for these bytes (invalid UTF-8 becomes U+FFFD). */
export function asEnvString(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes);
}

export type HarnessMode = 'listen' | 'watchdog' | 'notify' | 'exec';

/**
 * Runs the cases through `parallel` harness processes (each takes every parallel-th case) and
 * returns every JSON line, grouped by case id. `exec` mode runs `command` per case instead of
 * libsystemd; its stdout lines are collected the same way.
 */
export async function runHarness(
  mode: HarnessMode,
  cases: readonly HarnessCase[],
  options: { command?: string[]; parallel?: number; timeoutMs?: number } = {},
): Promise<Map<number, Record<string, unknown>[]>> {
  const exe = buildHarness();
  const parallel = Math.max(1, Math.min(options.parallel ?? 1, cases.length));
  const results = new Map<number, Record<string, unknown>[]>();
  const runs = Array.from({ length: parallel }, (_, p) => {
    const share = cases.filter((_, i) => i % parallel === p);
    return new Promise<void>((resolve, reject) => {
      const child = spawn(exe, [mode, ...(options.command ?? [])], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, HARNESS_TIMEOUT_MS: String(options.timeoutMs ?? 20_000) },
      });
      let buffered = '';
      let errors = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        let nl;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() === '') continue;
          let value: Record<string, unknown>;
          try {
            value = JSON.parse(line) as Record<string, unknown>;
          } catch {
            value = { id: -1, unparsable: line };
          }
          const id = value.id as number;
          if (!results.has(id)) results.set(id, []);
          results.get(id)!.push(value);
        }
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => (errors += d));
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`harness ${mode} exited ${code}: ${errors}`))));
      child.stdin.end(share.map((c) => `${caseLine(c)}\n`).join(''));
    });
  });
  await Promise.all(runs);
  return results;
}

/** A datagram the harness receiver got. */
export interface Datagram {
  readonly bytes: Buffer;
  readonly fds: number;
  readonly truncated: boolean;
}

/** A notify socket (fuzz/harness.c receive) that reports every datagram byte for byte. */
export interface ByteReceiver {
  readonly datagrams: Datagram[];
  waitFor(count: number, timeoutMs?: number): Promise<Datagram[]>;
  stop(): void;
}

/** Binds the receiver at `address` (a path, or @name) and waits until it is bound. */
export function startByteReceiver(address: string): Promise<ByteReceiver> {
  const child = spawn(buildHarness(), ['receive', address], { stdio: ['pipe', 'pipe', 'inherit'] });
  const datagrams: Datagram[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`harness receive exited ${code}`)));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffered.slice(0, nl)) as { bound?: boolean; bytes?: string; fds?: number; truncated?: number };
        buffered = buffered.slice(nl + 1);
        if (line.bound) {
          resolve({
            datagrams,
            waitFor(count, timeoutMs = 30_000) {
              return new Promise((done, fail) => {
                const timer = setTimeout(() => fail(new Error(`${datagrams.length} of ${count} datagrams within ${timeoutMs} ms`)), timeoutMs);
                const check = () => {
                  if (datagrams.length < count) return waiters.push(check);
                  clearTimeout(timer);
                  done(datagrams);
                };
                check();
              });
            },
            stop: () => child.stdin.end(),
          });
          continue;
        }
        datagrams.push({ bytes: Buffer.from(line.bytes!, 'hex'), fds: line.fds!, truncated: line.truncated === 1 });
        for (const w of waiters.splice(0)) w();
      }
    });
  });
}
