import { isUtf8 } from 'node:buffer';
import { chmodSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { addressException, errnoException } from '../errors.js';
import { MESSAGE_MAX } from '../notify-message.js';
import { native, type NativeWatcher } from '../native.js';
import { constants } from 'node:os';

/** One notify datagram: its assignments (the last of a key wins, as in systemd), sender and fds. */
export interface NotifyMessage {
  readonly pid: number;
  readonly fields: ReadonlyMap<string, string>;
  /** The keys whose (last) value is not valid UTF-8: in `fields` it has U+FFFD in their place. */
  readonly notUtf8: ReadonlySet<string>;
  /** Received fds; the handler owns them (close what it does not keep). */
  readonly fds: number[];
}

const EAGAIN = -constants.errno.EAGAIN;

/** Splits `KEY=VALUE` lines; lines without `=` are ignored, as systemd does. */
export function parseAssignments(data: Buffer): { fields: Map<string, string>; notUtf8: Set<string> } {
  const fields = new Map<string, string>();
  const notUtf8 = new Set<string>();
  for (let start = 0; start <= data.length; ) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    // Line by line: systemd checks the UTF-8 of single fields (STATUS=), not of the message.
    const line = data.subarray(start, end);
    start = end + 1;
    const eq = line.indexOf(0x3d);
    if (eq <= 0) continue;
    const key = line.subarray(0, eq).toString('utf8');
    fields.set(key, line.subarray(eq + 1).toString('utf8'));
    if (isUtf8(line)) notUtf8.delete(key);
    else notUtf8.add(key);
  }
  return { fields, notUtf8 };
}

/**
 * The supervisor's NOTIFY_SOCKET: a unix datagram socket with SO_PASSCRED, so every message
 * carries the sender's pid as the kernel saw it; read from the event loop, never blocking.
 */
export class NotifyServer {
  readonly path: string;
  private readonly fd: number;
  private readonly watcher: NativeWatcher;
  private readonly credentials: boolean;
  private closed = false;

  /** `onIgnored` hears of each message dropped whole, with the sender's pid and why. */
  constructor(
    dir: string,
    private readonly onMessage: (m: NotifyMessage) => void,
    private readonly onIgnored: (pid: number, why: string) => void,
  ) {
    const n = native();
    const c = n.constants;
    this.path = join(dir, 'notify');
    const fd = n.socket(c.AF_UNIX, c.SOCK_DGRAM);
    if (fd < 0) throw errnoException(fd, 'socket', -1, 'the notify socket');
    const fail = (r: number, syscall: string, why?: string): never => {
      n.close(fd);
      throw addressException(r, syscall, this.path, why);
    };
    const bound = n.bindUnix(fd, Buffer.from(this.path));
    if (bound < 0) {
      fail(bound, 'bind', bound === -constants.errno.ENAMETOOLONG || bound === -constants.errno.EINVAL ? `a unix socket path holds at most 107 bytes: set TMPDIR to a shorter directory than ${dirname(dir)}` : 'the notify socket');
    }
    const passCredentials = c.SO_PASSCRED;
    const credentials = passCredentials !== undefined;
    if (passCredentials !== undefined) {
      const r = n.setIntOption(fd, c.SOL_SOCKET, passCredentials, 1);
      if (r < 0) fail(r, 'setsockopt', 'SO_PASSCRED on the notify socket');
    }
    // Writable by a child that dropped privileges (see the supervisor's directory).
    try {
      chmodSync(this.path, 0o777);
    } catch (err) {
      n.close(fd);
      throw err;
    }
    this.fd = fd;
    this.credentials = credentials;
    this.watcher = new n.Watcher(fd, () => this.readPending());
    // Never the reason the supervisor stays alive: its children are.
    this.watcher.unref();
  }

  /**
   * Reads every message waiting in the socket now, as the watcher does when it is readable.
   * A timeout calls it before it acts: after the supervisor was stopped (Ctrl-Z, SIGSTOP) its
   * timers fire before the event loop polls the socket, where the pings sent meanwhile wait
   * (systemd reads its notify socket before its timers too: the source's priority is higher).
   */
  readPending(): void {
    if (this.closed) return;
    const n = native();
    const { fd, onMessage, onIgnored, credentials } = this;
    for (;;) {
      const got = n.receive(fd);
      if (typeof got === 'number') {
        if (got !== EAGAIN) process.emitWarning(errnoException(got, 'recvmsg', fd, 'the notify socket'));
        return;
      }
      // Longer than systemd takes: ignored here too.
      if (got.truncated || got.data.length > MESSAGE_MAX) {
        // systemd drops such messages too: a cut-off message could mean something else.
        for (const f of got.fds) n.close(f);
        onIgnored(
          got.pid,
          got.truncated ? 'it did not fit in one read (over 64 KiB, too many fds, or this supervisor is out of fds: see RLIMIT_NOFILE, ulimit -n)' : `${got.data.length} bytes, over systemd's ${MESSAGE_MAX}`,
        );
        continue;
      }
      // With SO_PASSCRED the kernel names every sender it can: pid 0 is one in a pid namespace
      // this supervisor cannot see (outside its container, say), never one of its children.
      // systemd ignores a message without valid credentials too.
      if (credentials && got.pid === 0) {
        for (const f of got.fds) n.close(f);
        onIgnored(0, 'no sender pid came with it: the sender is outside this pid namespace, so not a process of the service');
        continue;
      }
      onMessage({ pid: got.pid, ...parseAssignments(got.data), fds: got.fds });
    }
  }

  close(): void {
    this.closed = true;
    this.watcher.close();
    native().close(this.fd);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
