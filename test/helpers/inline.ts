// Runs a few lines of ESM as an activated process (the package imported as 'socket-activation'),
// for tests that need one call and a look at the fd table, without a fixture file of their own.
import { reportOf, type ActivatedOptions } from './activated.js';

/** Runs `code` activated with `options`; the last line it prints is parsed as JSON. */
export function runInline<T = any>(code: string, options: ActivatedOptions = {}): Promise<T> {
  return reportOf<T>('', { ...options, command: [process.execPath, '--input-type=module', '-e', code] });
}

/**
 * Code that defines `openFds()`: the fd numbers open in the process, as the kernel lists them.
 * It first makes libuv open what it opens once per process on first use (a stream handle
 * reserves a /dev/null fd for its EMFILE handling), so only the code under test moves them.
 * Left out: /proc/sys/vm/overcommit_memory, which glibc's malloc opens for a moment in whichever
 * thread shrinks a heap (seen once in CI: open in the first snapshot, gone in the second).
 */
export const OPEN_FDS = `
import { readdirSync as __readdir, readlinkSync as __readlink } from 'node:fs';
import __net from 'node:net';
const openFds = () => __readdir('/proc/self/fd').filter((fd) => { try { return __readlink('/proc/self/fd/' + fd) !== '/proc/sys/vm/overcommit_memory'; } catch { return false; } }).map(Number).sort((a, b) => a - b);
{
  const warm = __net.createServer();
  await new Promise((resolve) => warm.listen(0, '127.0.0.1', resolve));
  await new Promise((resolve) => warm.close(resolve));
}
`;
