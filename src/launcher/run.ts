import { spawn } from 'node:child_process';
import { LISTEN_VARIABLES } from '../environment.js';
import type { BoundSocket } from './bind.js';

// child_process has no hook between fork and exec, so LISTEN_PID (which must be the
// child's own pid) is set by a shell that then execs the command in the same process.
const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"';

const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** How the command ended. */
export type CommandExit = { readonly code: number; readonly signal?: undefined } | { readonly code?: undefined; readonly signal: NodeJS.Signals };

/** Environment for the command: ours without stale LISTEN_*, plus LISTEN_FDS and LISTEN_FDNAMES (LISTEN_PID comes from the trampoline). */
export function commandEnvironment(sockets: readonly BoundSocket[], extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const v of LISTEN_VARIABLES) delete env[v];
  env.LISTEN_FDS = String(sockets.length);
  env.LISTEN_FDNAMES = sockets.map((s) => s.address.name).join(':');
  return env;
}

/**
 * Runs the command with the sockets at fds 3, 4, … and LISTEN_PID equal to its own pid,
 * forwards termination and user signals to it, and resolves with how it exited.
 *
 * The command runs in a session and process group of its own, so a terminal's Ctrl-C
 * reaches only the launcher, which passes it on exactly once (to the whole group, as a
 * terminal would); in the launcher's group it would get every such signal twice.
 */
export function runCommand(command: string, args: readonly string[], sockets: readonly BoundSocket[], extraEnv: Record<string, string> = {}): Promise<CommandExit> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', TRAMPOLINE, 'socket-activation', command, ...args], {
      stdio: ['inherit', 'inherit', 'inherit', ...sockets.map((s) => s.fd)],
      env: commandEnvironment(sockets, extraEnv),
      detached: true,
    });
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const signal of FORWARDED) {
      const handler = () => {
        try {
          process.kill(-child.pid!, signal);
        } catch {
          child.kill(signal);
        }
      };
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    const stopForwarding = () => {
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    };
    child.once('error', (err) => {
      stopForwarding();
      reject(err);
    });
    child.once('exit', (code, signal) => {
      stopForwarding();
      resolve(signal ? { signal } : { code: code ?? 1 });
    });
  });
}
