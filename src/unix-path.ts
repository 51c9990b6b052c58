import { lstatSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * Whether `path` is a unix socket file that nothing is bound to any more (left by a process
 * that died): a connect is refused. A live socket of another type answers EPROTOTYPE and
 * counts as in use; a file that is not a socket is never stale.
 */
export function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}
