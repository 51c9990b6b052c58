import net from 'node:net';
import { constants } from 'node:os';
import { describeFd, type ConnectionDescriptor, type Descriptor } from './descriptor.js';
import { errnoException, SocketActivationError } from './errors.js';
import { native } from './native.js';

/**
 * Gives Node a close-on-exec duplicate of `d.fd`, after checking that the fd number still
 * refers to the file that was inspected (st_dev/st_ino). Node then owns the duplicate:
 * `server.close()` closes it, and the original stays open for later hand-offs.
 *
 * @throws ERR_FD_CHANGED when the fd was closed or now refers to something else; a
 * system error (`syscall: 'fcntl'`) when the duplicate cannot be made.
 */
export function duplicateForNode(d: Descriptor): number {
  checkUnchanged(d);
  const fd = native().dup(d.fd);
  if (fd < 0) throw errnoException(fd, 'fcntl', d.fd, `F_DUPFD_CLOEXEC${outOfFds(fd) ?? ''}`);
  return fd;
}

/**
 * What to do when a duplicate failed for want of fds (EMFILE, ENFILE), to follow the
 * syscall in the message; undefined for other errors. Alone, "EMFILE: too many open files,
 * fcntl fd 3" reads as if fd 3 were at fault.
 * @internal
 */
export function outOfFds(errno: number): string | undefined {
  // Not the limit itself: reading /proc/self/limits needs the fd there is none of.
  if (errno === -constants.errno.EMFILE) {
    return ': this process has as many files open as it may (RLIMIT_NOFILE), so no duplicate could be made; close fds it no longer needs, or raise the limit (LimitNOFILE=, ulimit -n)';
  }
  if (errno === -constants.errno.ENFILE) return ': the system-wide limit of open files is reached (fs.file-max), so no duplicate could be made';
  return undefined;
}

/**
 * Hands the inherited fd itself to Node, once per process (ESM and CJS copies and threads
 * included). For connections: a duplicate left behind would keep the TCP connection open
 * after Node closes its socket, so no FIN would ever reach the client.
 *
 * @throws ERR_FD_TAKEN when an earlier call took it; ERR_FD_CHANGED as {@link duplicateForNode}.
 */
export function takeOver(d: Descriptor): number {
  // Taken first: the socket it went to may have closed it since, which is not a change.
  if (!native().claimed(d.fd)) checkUnchanged(d);
  if (!native().claim(d.fd)) {
    throw new SocketActivationError(
      'ERR_FD_TAKEN',
      `fd ${d.fd}${d.name !== undefined ? ` (${JSON.stringify(d.name)})` : ''} was already handed to Node as a connection by an earlier call in this process; ` +
        'a connection can be wrapped in one net.Socket only. Keep the socket from the first call.',
      { fd: d.fd, listenerName: d.name },
    );
  }
  return d.fd;
}

/**
 * A net.Socket on the inherited connection itself ({@link takeOver}).
 * @throws as takeOver; a system error with the `fd` when Node refuses the fd (EEXIST: a Node
 * object of this process polls it already), which leaves the fd untaken.
 */
export function connectionSocket(d: ConnectionDescriptor, allowHalfOpen = false): net.Socket {
  const fd = takeOver(d);
  try {
    return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen });
  } catch (err) {
    native().unclaim(fd);
    const e = err as NodeJS.ErrnoException;
    if (typeof e.errno !== 'number' || !e.syscall) throw err;
    throw errnoException(e.errno, e.syscall, fd, e.code === 'EEXIST' ? 'a Node socket of this process owns this fd already; pass an fd no Node object holds' : 'Node refused the fd');
  }
}

/**
 * Throws ERR_FD_CHANGED unless `d.fd` is still open as the file `d` describes.
 * @internal
 */
export function checkUnchanged(d: Pick<Descriptor, 'fd' | 'name' | 'dev' | 'ino'>): void {
  const now = describeFd(d.fd);
  if (typeof now === 'number' || now.dev !== d.dev || now.ino !== d.ino) {
    throw new SocketActivationError(
      'ERR_FD_CHANGED',
      `fd ${d.fd}${d.name !== undefined ? ` (${JSON.stringify(d.name)})` : ''} ${typeof now === 'number' ? 'was open when inspected and is no longer open' : 'now refers to a different file than when it was inspected'}; ` +
        'something in this process closed it (and the number may have been reused). Do not close inherited fds yourself: close the server instead.',
      { fd: d.fd, listenerName: d.name },
    );
  }
}

/** Closes a duplicate that never reached Node. */
export function closeDuplicate(fd: number): void {
  native().close(fd);
}
