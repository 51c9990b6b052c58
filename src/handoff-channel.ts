import net from 'node:net';
import { constants } from 'node:os';
import { describeWithArticle, inspect } from './descriptor.js';
import { stopReading } from './kept-connections.js';
import { isConnection } from './select.js';
import { native, nativeSupported, PollState } from './native.js';
import { serverFor } from './served.js';
import { attachPredecessor, becomeMain, MAIN_MESSAGE, otherProtocol, predecessorClosed, REFUSED_FIELD, UPGRADE_PROTOCOL } from './successor.js';
import { startWarmUp } from './warm-up.js';
import { stderrLines } from './journal.js';

/**
 * Set on a process started to take over from another one — by the supervisor (`socket-activation`
 * launcher) for a reload, or by `hotUpgrade()` for its successor: the fd of a datagram or
 * seqpacket channel on which it receives the other process's idle keep-alive connections (and a
 * successor talks to its predecessor, see successor.ts).
 */
export const HANDOFF_FD_VARIABLE = 'SOCKET_ACTIVATION_HANDOFF_FD';

const EAGAIN = -constants.errno.EAGAIN;
// The kernel's limit on fds in one SCM_RIGHTS message (SCM_MAX_FD).
const MAX_FDS = 253;
const MESSAGE = Buffer.from('connections');
const MAIN = Buffer.from(MAIN_MESSAGE);

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

// Adopting a connection costs about 0.1 ms here (mostly Node's net.Socket for an fd), so a
// batch of 32 took 3-5 ms; a request already waiting on the last one waited for all of them.
// The connections with bytes to read are adopted first; the others once this process has
// had a turn to read (the second setImmediate runs after the next poll phase).
function adoptWaitingFirst(fds: readonly number[]): void {
  const states = native().pollNow(Int32Array.from(fds), true);
  if (typeof states === 'number') {
    for (const f of fds) adopt(f);
    return;
  }
  const later: number[] = [];
  fds.forEach((f, i) => (states[i]! & PollState.READABLE ? adopt(f) : later.push(f)));
  if (later.length > 0) setImmediate(() => setImmediate(() => later.forEach(adopt)));
}

function listen(fd: number): void {
  const n = native();
  const watcher = new n.Watcher(fd, () => {
    for (;;) {
      const got = n.receive(fd);
      if (got === EAGAIN) return;
      // EOF, or an EOF-like error: the other end is gone.
      if (typeof got === 'number' || (got.data.length === 0 && got.fds.length === 0)) {
        watcher.close();
        n.close(fd);
        becomeMain();
        // After the connections of the last message, which may wait two turns (adoptWaitingFirst()).
        setImmediate(() => setImmediate(() => setImmediate(predecessorClosed)));
        return;
      }
      if (got.fds.length === 0 && got.data.equals(MAIN)) becomeMain();
      else adoptWaitingFirst(got.fds);
    }
  });
  watcher.unref();
}

interface Pending {
  readonly socket: net.Socket;
  readonly fd: number;
  readonly resumeReading: () => void;
  readonly resolve: (sent: boolean) => void;
}

/**
 * A hand-off target for `drain()` that passes idle connections to the process holding the
 * other end of `channel` (which reads it as {@link HANDOFF_FD_VARIABLE}). The connections
 * offered in one tick go in one datagram (up to the kernel's 253 fds each): during a drain
 * every idle connection is offered at once, and each one moved separately would keep the
 * requests arriving on the last ones waiting for all the others. A socket given away is
 * destroyed here (our fd only: no FIN); one that cannot be sent stays here, reading again.
 * @internal
 */
export function channelHandOff(channel: number): (socket: net.Socket) => Promise<boolean> {
  let batch: Pending[] = [];
  const flush = (): void => {
    const taken = batch;
    batch = [];
    for (let i = 0; i < taken.length; i += MAX_FDS) {
      const part = taken.slice(i, i + MAX_FDS);
      const sent = native().sendOn(channel, MESSAGE, Int32Array.from(part, (p) => p.fd)) >= 0;
      for (const p of part) {
        // The message holds its own references: closing ours sends nothing to the client.
        if (sent) p.socket.destroy();
        else p.resumeReading();
        p.resolve(sent);
      }
    }
  };
  return (socket) =>
    new Promise((resolve) => {
      const fd = (socket as { _handle?: { fd?: number } | null })._handle?.fd;
      // TLS state stays in this process; unsent response bytes would be lost with our fd.
      if ((socket as { encrypted?: boolean }).encrypted || typeof fd !== 'number' || fd < 0 || socket.writableLength > 0) return resolve(false);
      // From here on no byte may enter Node: the other process reads them from the kernel.
      const resumeReading = stopReading(socket);
      if (socket.readableLength > 0) {
        resumeReading();
        return resolve(false);
      }
      batch.push({ socket, fd, resumeReading, resolve });
      if (batch.length === 1) queueMicrotask(flush);
    });
}

// Started to take over by a copy of this package that speaks another protocol: taking over
// would misread the channel, and serving beside the predecessor until it gives up would have
// requests cut when it kills this process. So: say why, on the channel (the predecessor
// reports it and rolls back at once) and on stderr, and exit before serving anything.
function refuse(fd: number, protocol: string): never {
  const reason = `it speaks hot-upgrade protocol ${JSON.stringify(protocol)}, this copy of socket-activation ${UPGRADE_PROTOCOL}: restart the service to move between them`;
  native().sendOn(fd, Buffer.from(`${REFUSED_FIELD}=${reason}`), new Int32Array(0));
  process.stderr.write(stderrLines(`socket-activation: cannot take over from the process that started this one: ${reason}`, 'err'));
  process.exit(1);
}

// The channel is an unnamed unix datagram or seqpacket socket (a socketpair end). The variable
// can outlive the fd: a process started by the service before it loaded this package inherits
// it, and the number may then be one of Node's own fds, which must not be touched.
function isChannel(fd: number): boolean {
  let d;
  try {
    d = inspect(fd);
  } catch {
    d = undefined;
  }
  const channel = d?.kind === 'socket' && d.family === 'unix' && (d.type === 'seqpacket' || d.type === 'dgram') && 'unnamed' in d.local;
  if (!channel) {
    process.stderr.write(
      stderrLines(
        `socket-activation: ${HANDOFF_FD_VARIABLE}=${fd} ignored: fd ${fd} is ${d ? describeWithArticle(d) : 'not open'}, not a hand-over channel (an unnamed unix datagram or seqpacket socket); was the variable inherited without the fd?`,
        'warning',
      ),
    );
  }
  return channel;
}

const text = process.env[HANDOFF_FD_VARIABLE];
if (text !== undefined && nativeSupported) {
  delete process.env[HANDOFF_FD_VARIABLE];
  const fd = /^[0-9]+$/.test(text) ? Number(text) : -1;
  // Not for this process's own children.
  if (fd >= 3 && isChannel(fd) && native().setCloexec(fd, true) === 0) {
    if (otherProtocol !== undefined) refuse(fd, otherProtocol);
    attachPredecessor(fd);
    listen(fd);
    startWarmUp();
  }
}
