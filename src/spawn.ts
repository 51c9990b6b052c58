import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { getSystemErrorName } from 'node:util';
import { LISTEN_VARIABLES } from './environment.js';
import { native } from './native.js';

// child_process has no hook between fork and exec, and posix_spawn() none either, so
// LISTEN_PID (and WATCHDOG_PID, which must also be the child's own pid) are set by a shell
// that then execs the command in the same process.
const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; if [ -n "$WATCHDOG_USEC" ]; then WATCHDOG_PID=$$; export WATCHDOG_PID; fi; exec "$@"';
// The same, after changing to the directory in $1 (posix_spawn's chdir needs glibc 2.29;
// the prebuilds load on 2.28). The shell sets $PWD to that path, symlinks kept.
const CD_TRAMPOLINE = `cd -- "$1" || exit; shift; ${TRAMPOLINE}`;
const SHELL = '/bin/sh';
// The trampoline's $0, which the shell puts before its own errors (`sh: 1: exec: ./app: not
// found`): not the launcher's name, or they would read as the supervisor's messages.
const SHELL_NAME = 'sh';

/** An fd to pass at 3, 4, … with its LISTEN_FDNAMES name. */
export interface PassedFd {
  readonly fd: number;
  readonly name: string;
}

/** Options for {@link spawnActivated} and {@link startActivated}. */
export interface SpawnActivatedOptions {
  /** Variables to add (LISTEN_* are always replaced). */
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Own session and process group (spawnActivated only). */
  readonly detached?: boolean;
  /** How many of `fds` LISTEN_FDS counts (the rest follow it, e.g. a private channel). @default fds.length */
  readonly listenFdCount?: number;
}

function activatedEnvironment(fds: readonly PassedFd[], options: SpawnActivatedOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of [...LISTEN_VARIABLES, 'WATCHDOG_PID']) delete env[v];
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const listened = fds.slice(0, options.listenFdCount ?? fds.length);
  env.LISTEN_FDS = String(listened.length);
  env.LISTEN_FDNAMES = listened.map((f) => f.name).join(':');
  return env;
}

/**
 * Starts `command` socket-activated, the way a service manager would: `fds` at 3, 4, …,
 * LISTEN_FDS/LISTEN_FDNAMES for them, LISTEN_PID (and WATCHDOG_PID when WATCHDOG_USEC is set)
 * equal to the command's own pid.
 * @internal
 */
export function spawnActivated(command: readonly string[], fds: readonly PassedFd[], options: SpawnActivatedOptions = {}): ChildProcess {
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', ...fds.map((f) => f.fd)];
  return spawn(SHELL, ['-c', TRAMPOLINE, SHELL_NAME, ...command], { stdio, env: activatedEnvironment(fds, options), cwd: options.cwd, detached: options.detached ?? false });
}

/**
 * {@link spawnActivated} for a process that serves while it starts another: posix_spawn() on
 * the thread pool (native/spawn.cc) instead of a fork of this whole process, which stops its
 * event loop for milliseconds. Resolves to the pid; the child is not libuv's, so its exit is
 * collected with the addon's reap(), and it has no IPC channel. A failure to start rejects
 * with the errno's name (a command that cannot run makes the shell exit 127).
 * @internal
 */
export function startActivated(command: readonly string[], fds: readonly PassedFd[], options: SpawnActivatedOptions = {}): Promise<number> {
  const env = Object.entries(activatedEnvironment(fds, options)).map(([k, v]) => `${k}=${v}`);
  const argv = options.cwd === undefined ? [SHELL, '-c', TRAMPOLINE, SHELL_NAME, ...command] : [SHELL, '-c', CD_TRAMPOLINE, SHELL_NAME, options.cwd, ...command];
  return new Promise((resolve, reject) => {
    native().spawn(SHELL, argv, env, Int32Array.from(fds, (f) => f.fd), (pid) => {
      if (pid > 0) resolve(pid);
      else reject(new Error(`posix_spawn ${SHELL}: ${getSystemErrorName(pid)}`));
    });
  });
}
