// The successor side of a hot upgrade (see upgrade.ts). A process started by hotUpgrade()
// talks to the service manager through its predecessor until the predecessor has handed it
// the main-process role (systemd accepts notifications only from the main pid under the default
// NotifyAccess=main). Both directions use the channel named by HANDOFF_FD_VARIABLE
// (handoff-channel.ts): the successor's notify messages go up as they are, the predecessor's
// idle keep-alive connections and its MAIN_MESSAGE come down.
import { channel } from 'node:diagnostics_channel';
import { constants } from 'node:os';
import { now } from './clock.js';
import { errnoException } from './errors.js';
import { native } from './native.js';

/** Set in the successor's environment by the predecessor, to the protocol it speaks. */
export const SUCCESSOR_VARIABLE = 'SOCKET_ACTIVATION_SUCCESSOR';

/**
 * The protocol between the two processes of a hot upgrade (this file, handoff-channel.ts and
 * upgrade.ts: notify lines up the channel, MAIN_MESSAGE and connections down), given to the
 * successor as the value of SUCCESSOR_VARIABLE. A successor that does not speak the one it is
 * given sends REFUSED_FIELD and exits, so that the predecessor rolls back at once instead of
 * waiting for a READY=1 that cannot come; a later version that speaks several picks one by
 * this value. @internal
 */
export const UPGRADE_PROTOCOL = '1';

/** The line a successor sends up the channel, instead of READY=1, when it cannot take over. @internal */
export const REFUSED_FIELD = 'SOCKET_ACTIVATION_REFUSED';

/** What the predecessor sends on the channel once the manager knows the successor as its main process. */
export const MAIN_MESSAGE = 'main';

// Published (with { pid }) when this process becomes the main process. Tests use it to act at
// that moment; a service could too.
const becameMain = channel('socket-activation:main');

const { EAGAIN, ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT } = constants.errno;
const NO_FDS = new Int32Array(0);
const announced = process.env[SUCCESSOR_VARIABLE];
const asSuccessor = announced === UPGRADE_PROTOCOL;
/** The protocol a predecessor that this copy cannot take over from speaks. @internal */
export const otherProtocol = announced !== undefined && !asSuccessor ? announced : undefined;
// Our own children are not successors.
delete process.env[SUCCESSOR_VARIABLE];

let role: 'none' | 'successor' | 'main' = 'none';
let predecessor = -1;

/** Called with the channel from HANDOFF_FD_VARIABLE: in a successor, the way to its predecessor. @internal */
export function attachPredecessor(fd: number): void {
  if (!asSuccessor) return;
  role = 'successor';
  predecessor = fd;
}

let channelClosed = false;
let handOver: Promise<void> | undefined;
let endHandOver: () => void = () => undefined;

/**
 * In a hot upgrade's successor: settles once the predecessor has closed the channel (its drain
 * is over, or it exited), after which nothing more comes down it; undefined in any other
 * process, and once the channel has closed. @internal
 */
export function predecessorHandingOver(): Promise<void> | undefined {
  if (predecessor < 0 || channelClosed) return undefined;
  return (handOver ??= new Promise((resolve) => (endHandOver = resolve)));
}

/** The predecessor closed the channel. @internal */
export function predecessorClosed(): void {
  channelClosed = true;
  endHandOver();
}

/** The predecessor said so (MAIN_MESSAGE) or is gone (the channel closed). @internal */
export function becomeMain(): void {
  if (role !== 'successor') return;
  role = 'main';
  if (becameMain.hasSubscribers) becameMain.publish({ pid: process.pid });
}

/** Whether notify messages must go through the predecessor now. @internal */
export function throughPredecessor(): boolean {
  return role === 'successor';
}

interface Pending {
  readonly message: Buffer;
  /** The end of the retries of EAGAIN, by now() (src/clock.ts). */
  readonly deadline: number;
  readonly resolve: (sent: boolean) => void;
  readonly reject: (err: Error) => void;
}

// Messages wait here, in order, while the channel is full (a predecessor whose event loop is
// busy), as Node's IPC queued them.
const pending: Pending[] = [];
let retry: NodeJS.Timeout | undefined;
let delay = 1;

function pump(): void {
  while (pending.length > 0 && !retry) {
    const job = pending[0]!;
    const sent = role === 'successor' ? native().sendOn(predecessor, job.message, NO_FDS) : -EPIPE;
    if (sent === -EAGAIN && now() < job.deadline) {
      retry = setTimeout(() => {
        retry = undefined;
        pump();
      }, delay);
      delay = Math.min(delay * 2, 50);
      return;
    }
    delay = 1;
    pending.shift();
    if (sent >= 0) {
      job.resolve(true);
    } else if (sent === -ECONNREFUSED || sent === -ECONNRESET || sent === -EPIPE) {
      becomeMain();
      job.resolve(false);
    } else {
      const errno = sent === -EAGAIN ? -ETIMEDOUT : sent;
      job.reject(errnoException(errno, 'sendmsg', predecessor, 'passing a notify message to the predecessor of this hot upgrade'));
    }
  }
}

/**
 * Sends a notify message to the predecessor, which passes it on: resolves `true` once sent,
 * `false` when the predecessor is gone (this process is the main one now and sends itself).
 * @internal
 */
export function toPredecessor(message: string, timeout: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    pending.push({ message: Buffer.from(message, 'utf8'), deadline: now() + timeout, resolve, reject });
    if (pending.length === 1) pump();
  });
}
