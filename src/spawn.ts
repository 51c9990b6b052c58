import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { LISTEN_VARIABLES } from './environment.js';

// child_process has no hook between fork and exec, so LISTEN_PID (and WATCHDOG_PID, which
// must also be the child's own pid) are set by a shell that then execs the command in the
// same process.
const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; if [ -n "$WATCHDOG_USEC" ]; then WATCHDOG_PID=$$; export WATCHDOG_PID; fi; exec "$@"';

/** An fd to pass at 3, 4, … with its LISTEN_FDNAMES name. */
export interface PassedFd {
  readonly fd: number;
  readonly name: string;
}

/** Options for {@link spawnActivated}. */
export interface SpawnActivatedOptions {
  /** Variables to add (LISTEN_* are always replaced). */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Put a Node IPC channel after the passed fds (fd 3 + fds.length). */
  readonly ipc?: boolean;
  /** Own session and process group. */
  readonly detached?: boolean;
  /** How many of `fds` LISTEN_FDS counts (the rest follow it, e.g. a private channel). @default fds.length */
  readonly listenFdCount?: number;
}

/**
 * Starts `command` socket-activated, the way a service manager would: `fds` at 3, 4, …,
 * LISTEN_FDS/LISTEN_FDNAMES for them, LISTEN_PID (and WATCHDOG_PID when WATCHDOG_USEC is set)
 * equal to the command's own pid.
 * @internal
 */
export function spawnActivated(command: readonly string[], fds: readonly PassedFd[], options: SpawnActivatedOptions = {}): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of [...LISTEN_VARIABLES, 'WATCHDOG_PID']) delete env[v];
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const listened = fds.slice(0, options.listenFdCount ?? fds.length);
  env.LISTEN_FDS = String(listened.length);
  env.LISTEN_FDNAMES = listened.map((f) => f.name).join(':');
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', ...fds.map((f) => f.fd), ...(options.ipc ? (['ipc'] as const) : [])];
  return spawn('/bin/sh', ['-c', TRAMPOLINE, 'socket-activation', ...command], { stdio, env, cwd: options.cwd, detached: options.detached ?? false });
}
