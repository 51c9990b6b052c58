import { lstatSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { shownValue, SocketActivationError } from './errors.js';
import { native } from './native.js';

// Kept apart so the Node reload command loads nothing else but the addon (for the peer's uid). native/reload-command.c computes
// the same path, so it is plain text (no path.join() normalization to mirror in C).

/**
 * Where the upgrade control socket of process `pid` lives (see hotUpgrade()): the first
 * directory of `$RUNTIME_DIRECTORY`, else `$XDG_RUNTIME_DIR`, else the temp dir, without
 * trailing slashes, then `/socket-activation-PID.ctl`. The service and its reload command
 * (run by ExecReload= with the same environment) compute the same path.
 * @throws ERR_INVALID_ARGUMENT for a `pid` that is not a process id or an `env` that is not an object.
 */
export function controlPath(pid: number, env: NodeJS.ProcessEnv = process.env): string {
  // Else the path of no process (socket-activation-undefined.ctl), or one outside the directory.
  if (!Number.isInteger(pid) || pid < 1 || pid > 0x7fffffff) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `controlPath(): pid must be a process id (an integer from 1 to 2147483647); found ${shownValue(pid)}.`, { argument: 'pid', expected: 'pid 1..2147483647', found: pid });
  }
  if (typeof env !== 'object' || env === null) {
    throw new SocketActivationError('ERR_INVALID_ARGUMENT', `controlPath(): env must be an environment object (process.env, say); found ${shownValue(env)}.`, { argument: 'env', expected: 'object', found: env });
  }
  const dir = env.RUNTIME_DIRECTORY?.split(':')[0] || env.XDG_RUNTIME_DIR || tmpdir();
  return `${dir.replace(/\/+$/, '')}/socket-activation-${pid}.ctl`;
}

/** The longest unix socket path, as systemd takes them (sun_path with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Why `path` cannot be a control socket, or undefined: Node (libuv) would cut a longer one to
 * the 108 bytes of sun_path, and the cut can come out the same for another pid
 * (`socket-activation-173` for 17300 and 17312), naming another process's socket. The native
 * reload command words it the same.
 * @internal
 */
export function controlPathTooLong(path: string): string | undefined {
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_SOCKET_PATH) return undefined;
  return (
    `the control socket path ${path} is ${bytes} bytes, over the ${MAX_SOCKET_PATH} a unix socket path holds; ` +
    "cut, it could name another process's control socket: give the service and this command a shorter $RUNTIME_DIRECTORY"
  );
}

/**
 * Removes the control socket of `pid`, a process that has exited (killed, it could not remove
 * it itself): only a socket file, never anything else found at that path.
 * @internal
 */
export function removeControlSocket(pid: number, env: NodeJS.ProcessEnv = process.env): void {
  if (pid <= 0) return;
  const path = controlPath(pid, env);
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // none, or not ours to remove
  }
}

/**
 * Asks process `pid` over its control socket to upgrade itself, as the reload command does, and
 * settles with its answer line (`ok PID` or `failed REASON`; empty when it closed without one).
 * Rejects with the socket's error (its `code`: ENOENT, ECONNREFUSED, …), with code `ETIMEDOUT`
 * when no answer came within `timeoutMs`, or with a message alone (no `code`) for a path too
 * long to be the control socket or a socket served by a user that cannot be the service's.
 * @internal
 */
export function askToUpgrade(pid: number, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = controlPath(pid, env);
  const tooLong = controlPathTooLong(path);
  if (tooLong) return Promise.reject(new Error(tooLong));
  return new Promise<string>((resolve, reject) => {
    const socket = net.connect(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`no outcome from pid ${pid} within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      const impostor = impostorOwner(socket, pid);
      // Not end(): the answer comes before the service closes the connection.
      if (impostor === undefined) return void socket.write('upgrade\n');
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(impostorMessage(path, pid, impostor)));
    });
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(text.trim());
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * The uid serving the control socket when it is not one that may speak for the service: the
 * service process's own, this command's or root's. In a shared temp dir (the fallback without
 * $RUNTIME_DIRECTORY or $XDG_RUNTIME_DIR) another user can create the path first, and the
 * service then cannot bind it (EADDRINUSE); its answer ("ok") must not pass for the
 * service's. Undefined when the peer is one of those, or the platform cannot say.
 */
function impostorOwner(socket: net.Socket, pid: number): number | undefined {
  const fd = (socket as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  let uid: number;
  try {
    uid = native().peerUid(fd);
  } catch {
    // No addon on this platform: the request goes as it did before the check.
    return undefined;
  }
  if (uid < 0 || uid === 0 || uid === process.geteuid?.()) return undefined;
  try {
    if (statSync(`/proc/${pid}`).uid === uid) return undefined;
  } catch {
    // no such process, or no /proc: only root and this user are trusted
  }
  return uid;
}

/** Why an impostor's socket was refused, as the native command words it. */
function impostorMessage(path: string, pid: number, uid: number): string {
  return (
    `refusing ${path}: it is served by uid ${uid}, which is neither pid ${pid}'s owner, this command's user nor root ` +
    '(another user created it first in a shared directory): give the service a directory of its own (RuntimeDirectory=, or $XDG_RUNTIME_DIR) and restart it'
  );
}
