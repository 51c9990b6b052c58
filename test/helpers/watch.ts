// Child processes under watch: all output kept, wait for tagged JSON lines at any time
// (lines printed before the wait are found too), and every child still running is killed
// by killAll() (its whole process group when started detached).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Watched {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly child: ChildProcess,
    readonly group: boolean,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.poke();
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.poke();
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        this.poke();
        resolve(this.exit);
      });
      child.once('error', (err) => {
        this.stderr += `\nspawn error: ${err.message}`;
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  private poke(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Resolves with the first match of `pattern` in stdout (or stderr with `stream`). */
  waitFor(pattern: RegExp, options: { timeoutMs?: number; stream?: 'stdout' | 'stderr' } = {}): Promise<RegExpMatchArray> {
    const { timeoutMs = 15_000, stream = 'stdout' } = options;
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = this[stream].match(pattern);
        if (m) {
          done();
          resolve(m);
        } else if (this.exit) {
          done();
          reject(new Error(`exited (${this.exit.code ?? this.exit.signal}) before printing ${pattern}\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`nothing matching ${pattern} within ${timeoutMs} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The JSON after `TAG ` on a line of its own. */
  async json<T = any>(tag: string, timeoutMs?: number): Promise<T> {
    const m = await this.waitFor(new RegExp(`^${tag} (.*)$`, 'm'), { timeoutMs });
    return JSON.parse(m[1]!) as T;
  }

  /** Waits for the exit (SIGKILL after `timeoutMs`). */
  async finish(timeoutMs = 15_000): Promise<Exit> {
    const timer = setTimeout(() => this.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exit) return;
    try {
      if (this.group) process.kill(-this.pid, signal);
      else this.child.kill(signal);
    } catch {
      // already gone
    }
  }
}

const live = new Set<Watched>();

/** Watches a child started elsewhere (e.g. startActivated). */
export function watch(child: ChildProcess, group = false): Watched {
  const w = new Watched(child, group);
  live.add(w);
  return w;
}

/** Spawns in its own process group (so helpers it starts die with it on cleanup). */
export function start(command: string, args: readonly string[], options: SpawnOptions = {}): Watched {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
  return watch(child, true);
}

/** Every descendant of `pid` (by /proc parent links), deepest last. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, ppid] of parent) {
      if (ppid === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

/**
 * Kills every watched child still running, and everything they started (a supervisor runs
 * its command in a session of its own, which killing the supervisor's group does not reach),
 * and waits for them.
 */
export async function killAll(): Promise<void> {
  const all = [...live];
  for (const w of all) {
    const below = w.exit ? [] : descendants(w.pid);
    w.kill('SIGKILL');
    for (const pid of below) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  await Promise.all(all.map((w) => w.exited));
}
