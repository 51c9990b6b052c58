import net from 'node:net';
import { constants } from 'node:os';
import { inspect } from './descriptor.js';
import { isConnection } from './listen.js';
import { native, nativeSupported } from './native.js';
import { serverFor } from './served.js';

/**
 * Set by the supervisor (`socket-activation` launcher) on a child started for a reload: the fd of
 * a datagram channel on which it passes the old child's idle keep-alive connections (which that
 * child put in the fd store while draining) to this one.
 */
export const HANDOFF_FD_VARIABLE = 'SOCKET_ACTIVATION_HANDOFF_FD';

const EAGAIN = -constants.errno.EAGAIN;

function adopt(fd: number): void {
  let d;
  try {
    d = inspect(fd);
  } catch {
    native().close(fd);
    return;
  }
  const server = isConnection(d) ? serverFor(d) : undefined;
  const socket = new net.Socket({ fd, readable: true, writable: true });
  // A connection for a listener nobody serves here is closed properly, not leaked.
  if (server) server.emit('connection', socket);
  else socket.end();
}

function listen(fd: number): void {
  const n = native();
  const watcher = new n.Watcher(fd, () => {
    for (;;) {
      const got = n.receive(fd);
      if (typeof got === 'number') {
        // EOF-like errors: the supervisor is gone; stop watching.
        if (got !== EAGAIN) watcher.close();
        return;
      }
      if (got.data.length === 0 && got.fds.length === 0) {
        watcher.close();
        return;
      }
      for (const f of got.fds) adopt(f);
    }
  });
  watcher.unref();
}

const text = process.env[HANDOFF_FD_VARIABLE];
if (text !== undefined && nativeSupported) {
  delete process.env[HANDOFF_FD_VARIABLE];
  const fd = /^[0-9]+$/.test(text) ? Number(text) : -1;
  if (fd >= 3) listen(fd);
}
