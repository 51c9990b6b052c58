// The successor side of a hot upgrade (see upgrade.ts). A process started by hotUpgrade()
// talks to the service manager through its predecessor until the predecessor has handed it
// the main-process role (systemd accepts notifications only from the main pid under the default
// NotifyAccess=main). Both directions use the channel named by HANDOFF_FD_VARIABLE
// (handoff-channel.ts): the successor's notify messages go up as they are, the predecessor's
// idle keep-alive connections and its MAIN_MESSAGE come down.
import { channel } from 'node:diagnostics_channel';
import { constants } from 'node:os';
import { errnoException } from './errors.js';
import { native } from './native.js';

/** Set in the successor's environment by the predecessor. */
export const SUCCESSOR_VARIABLE = 'SOCKET_ACTIVATION_SUCCESSOR';

/** What the predecessor sends on the channel once the manager knows the successor as its main process. */
export const MAIN_MESSAGE = 'main';

// Published (with { pid }) when this process becomes the main process. Tests use it to act at
// that moment; a service could too.
const becameMain = channel('socket-activation:main');

const { ECONNREFUSED, ECONNRESET, EPIPE } = constants.errno;
const asSuccessor = process.env[SUCCESSOR_VARIABLE] === '1';
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

/**
 * Sends a notify message to the predecessor, which passes it on: `true` once sent, `false`
 * when the predecessor is gone (this process is the main one now and sends itself).
 * @internal
 */
export function toPredecessor(message: string): boolean {
  const sent = native().sendOn(predecessor, Buffer.from(message, 'utf8'), new Int32Array(0));
  if (sent >= 0) return true;
  if (sent === -ECONNREFUSED || sent === -ECONNRESET || sent === -EPIPE) {
    becomeMain();
    return false;
  }
  throw errnoException(sent, 'sendmsg', predecessor, 'passing a notify message to the predecessor of this hot upgrade');
}
