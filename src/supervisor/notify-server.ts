import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { errnoException } from '../errors.js';
import { native, type NativeWatcher } from '../native.js';
import { constants } from 'node:os';

/** One notify datagram: its assignments (the last of a key wins, as in systemd), sender and fds. */
export interface NotifyMessage {
  readonly pid: number;
  readonly fields: ReadonlyMap<string, string>;
  /** Received fds; the handler owns them (close what it does not keep). */
  readonly fds: number[];
}

const EAGAIN = -constants.errno.EAGAIN;

/** Splits `KEY=VALUE` lines; lines without `=` are ignored, as systemd does. */
export function parseAssignments(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return fields;
}

/**
 * The supervisor's NOTIFY_SOCKET: a unix datagram socket with SO_PASSCRED, so every message
 * carries the sender's pid as the kernel saw it; read from the event loop, never blocking.
 */
export class NotifyServer {
  readonly path: string;
  private readonly fd: number;
  private readonly watcher: NativeWatcher;

  constructor(dir: string, onMessage: (m: NotifyMessage) => void) {
    const n = native();
    const c = n.constants;
    this.path = join(dir, 'notify');
    const fd = n.socket(c.AF_UNIX, c.SOCK_DGRAM);
    if (fd < 0) throw errnoException(fd, 'socket', -1, 'the notify socket');
    let r = n.bindUnix(fd, Buffer.from(this.path));
    if (r >= 0 && c.SO_PASSCRED !== undefined) r = n.setIntOption(fd, c.SOL_SOCKET, c.SO_PASSCRED, 1);
    if (r < 0) {
      n.close(fd);
      throw errnoException(r, r === -constants.errno.EADDRINUSE ? 'bind' : 'setsockopt', fd, this.path);
    }
    this.fd = fd;
    this.watcher = new n.Watcher(fd, () => {
      for (;;) {
        const got = n.receive(fd);
        if (typeof got === 'number') {
          if (got !== EAGAIN) process.emitWarning(errnoException(got, 'recvmsg', fd, 'the notify socket'));
          return;
        }
        if (got.truncated) {
          // systemd drops such messages too: a cut-off message could mean something else.
          for (const f of got.fds) n.close(f);
          continue;
        }
        onMessage({ pid: got.pid, fields: parseAssignments(got.data.toString('utf8')), fds: got.fds });
      }
    });
    // Never the reason the supervisor stays alive: its children are.
    this.watcher.unref();
  }

  close(): void {
    this.watcher.close();
    native().close(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
