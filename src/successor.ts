// The successor side of a hot upgrade (see upgrade.ts). A process started by hotUpgrade()
// talks to the service manager through its predecessor until the predecessor has handed it
// the main-process role (systemd accepts notifications only from the main pid under the default
// NotifyAccess=main). The predecessor's idle keep-alive connections arrive on the channel named
// by HANDOFF_FD_VARIABLE (handoff-channel.ts).

/** Set in the successor's environment by the predecessor. */
export const SUCCESSOR_VARIABLE = 'SOCKET_ACTIVATION_SUCCESSOR';

/** IPC messages between predecessor and successor. */
export type UpgradeMessage =
  | { readonly sa: 'notify'; readonly message: string }
  | { readonly sa: 'main' };


let role: 'none' | 'successor' | 'main' = 'none';

if (process.env[SUCCESSOR_VARIABLE] === '1' && typeof process.send === 'function') {
  role = 'successor';
  // Our own children are not successors.
  delete process.env[SUCCESSOR_VARIABLE];
  process.on('message', (m: UpgradeMessage) => {
    if (m?.sa === 'main') role = 'main';
  });
  process.once('disconnect', () => {
    role = 'main';
  });
}

/** Whether notify messages must go through the predecessor now. @internal */
export function throughPredecessor(): boolean {
  return role === 'successor';
}

/** Sends a notify message to the predecessor, which passes it on. @internal */
export function toPredecessor(message: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    process.send!({ sa: 'notify', message } satisfies UpgradeMessage, undefined, {}, (err) => (err ? reject(err) : resolve(true)));
  });
}
