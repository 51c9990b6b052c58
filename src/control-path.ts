import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the upgrade control socket of process `pid` lives (see hotUpgrade()): the service and
 * its reload command (`socket-activation reload PID`, run by ExecReload= with the same
 * environment) compute the same path. Kept apart so the reload command loads nothing else.
 */
export function controlPath(pid: number, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.RUNTIME_DIRECTORY?.split(':')[0] || env.XDG_RUNTIME_DIR || tmpdir();
  return join(dir, `socket-activation-${pid}.ctl`);
}
