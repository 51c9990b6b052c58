import { spawnActivated } from '../spawn.js';
import type { BoundSocket } from './bind.js';

const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/** How the command ended. */
export type CommandExit = { readonly code: number; readonly signal?: undefined } | { readonly code?: undefined; readonly signal: NodeJS.Signals };

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
    const child = spawnActivated(
      [command, ...args],
      sockets.map((s) => ({ fd: s.fd, name: s.address.name })),
      { env: extraEnv, detached: true },
    );
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
