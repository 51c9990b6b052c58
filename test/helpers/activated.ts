// Runs fixture programs as socket-activated processes with real fds, the way a service
// manager would: chosen fds at 3, 4, … and LISTEN_PID equal to the child's own pid (set by
// a shell that then execs node in the same process).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
export const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const cli = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/**
 * SA_TEST_WRAP (a JSON array, set by scripts/valgrind.sh): a program every fixture process runs
 * under, e.g. valgrind. Timeouts of fixture processes grow with it.
 */
export const testWrap: readonly string[] = process.env.SA_TEST_WRAP ? (JSON.parse(process.env.SA_TEST_WRAP) as string[]) : [];
/** How much longer things take under the wrapper: timeouts are multiplied by it. */
export const slowdown = testWrap.length > 0 ? 30 : 1;

export interface ActivatedOptions {
  /** fds of this process to place at 3, 4, … in the child. */
  fds?: number[];
  /** Extra environment (LISTEN_FDS defaults to fds.length; pass undefined values to remove). */
  env?: Record<string, string | undefined>;
  /** 'self' (default): LISTEN_PID is the child's pid; a number: that pid; 'none': unset. */
  listenPid?: 'self' | 'none' | number;
  /** Arguments after the fixture path. */
  args?: string[];
  /** Program to exec instead of `node FIXTURE` (argv[0] and args). */
  command?: string[];
  cwd?: string;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function environment(options: ActivatedOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NODE_OPTIONS']) delete env[v];
  if (options.fds && options.fds.length > 0) env.LISTEN_FDS = String(options.fds.length);
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts `node test/fixtures/NAME args…` activated with the given fds. */
export function startActivated(fixture: string, options: ActivatedOptions = {}): ChildProcess {
  const listenPid = options.listenPid ?? 'self';
  const script =
    listenPid === 'self' ? 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"' : listenPid === 'none' ? 'exec "$@"' : `LISTEN_PID=${listenPid}; export LISTEN_PID; exec "$@"`;
  const command = [...testWrap, ...(options.command ?? [process.execPath, fixtures + fixture, ...(options.args ?? [])])];
  return spawn('/bin/sh', ['-c', script, 'sh', ...command], {
    stdio: ['ignore', 'pipe', 'pipe', ...(options.fds ?? [])],
    env: environment(options),
    cwd: options.cwd ?? root,
  });
}

/** Collects a child's output until it exits (killing it after `timeoutMs`). */
export async function finish(child: ChildProcess, timeoutMs = 20_000): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs * slowdown);
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}

/** Runs a fixture activated and returns its output. */
export function runActivated(fixture: string, options: ActivatedOptions = {}): Promise<Finished> {
  return finish(startActivated(fixture, options));
}

/** Runs a fixture and parses the last line of its stdout as JSON. */
export async function reportOf<T = any>(fixture: string, options: ActivatedOptions = {}): Promise<T> {
  const r = await runActivated(fixture, options);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`fixture ${fixture} printed no JSON (exit ${r.code} ${r.signal ?? ''}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** Waits until a child prints a line matching `pattern` on stdout; returns the match. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  timeoutMs *= slowdown;
  return new Promise((resolve, reject) => {
    let buffer = '';
    let errors = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stdout: ${buffer}; stderr: ${errors}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => (errors += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      const m = buffer.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before printing ${pattern}; stdout: ${buffer}; stderr: ${errors}`));
    });
  });
}
