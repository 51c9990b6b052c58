import { lstatSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { isStaleSocket } from '../unix-path.js';
import { printable } from '../address.js';
import { addressException } from '../errors.js';
import { openFileLimit } from '../start-problems.js';
import { native } from '../native.js';
import type { LaunchAddress } from './address.js';

/** A socket the launcher made and will pass on. */
export interface BoundSocket {
  readonly fd: number;
  readonly address: LaunchAddress;
  /** dev:ino of the socket file the launcher created, to remove exactly that file at exit. */
  readonly createdFile?: { path: string; dev: number; ino: number };
}

const E = constants.errno;
/** sun_path holds 108 bytes, the last a NUL for a path (an abstract name may use all after its leading NUL). */
const SUN_PATH_MAX = 107;

// Read now: at EMFILE there is no fd left to read /proc/self/limits with.
const FILE_LIMIT = openFileLimit();

// What to do about a failed bind or listen, for the message: the errno alone does not say.
function advice(errno: number, address: LaunchAddress): string | undefined {
  const where = 'path' in address ? address.path : undefined;
  switch (-errno) {
    case E.EADDRINUSE:
      if (where === undefined) return 'abstract' in address ? 'another socket has this abstract name (see `ss -xlp`)' : 'another process listens on this port (see `ss -ltnup`): stop it or choose another port';
      try {
        return lstatSync(where).isSocket() ? 'another process is bound to this socket file (see `ss -xlp`): stop it or choose another path' : 'a file that is not a socket is there, and the launcher never removes one: choose another path';
      } catch {
        return undefined;
      }
    case E.ENOENT:
      return where === undefined ? undefined : `the directory ${printable(dirname(where))} does not exist: create it first`;
    case E.ENOTDIR:
      return where === undefined ? undefined : `a component of ${printable(dirname(where))} is not a directory`;
    case E.EACCES:
      if (where !== undefined) return `no permission to create a file in ${printable(dirname(where))}`;
      return 'port' in address && address.port < 1024 ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a port from 1024' : undefined;
    case E.EADDRNOTAVAIL:
      return 'host' in address ? `${address.host} is not an address of this machine` : undefined;
    case E.EMFILE:
      return `this process may have only ${FILE_LIMIT === undefined ? 'so many' : FILE_LIMIT} files open (RLIMIT_NOFILE), one per socket: raise the limit with \`ulimit -n\` before starting the launcher, or give fewer addresses`;
    case E.ENFILE:
      return 'the system-wide limit of open files is reached (fs.file-max)';
    case E.ENAMETOOLONG:
    case E.EINVAL:
      return 'path' in address || 'abstract' in address
        ? `a unix socket name holds at most ${SUN_PATH_MAX} bytes, this one ${Buffer.byteLength('path' in address ? address.path : address.abstract)}: choose a shorter one`
        : undefined;
    default:
      return undefined;
  }
}

/** The address as the user gave it, without its `NAME=`, and that name if one was given. */
export function described(address: LaunchAddress): { where: string; name?: string } {
  const named = address.spec.startsWith(`${address.name}=`);
  return named ? { where: address.spec.slice(address.name.length + 1), name: address.name } : { where: address.spec };
}

function check(r: number, syscall: string, fd: number, address: LaunchAddress): number {
  if (r < 0) {
    if (fd >= 0) native().close(fd);
    const why = syscall === 'bind' || syscall === 'listen' || -r === E.EMFILE || -r === E.ENFILE ? advice(r, address) : undefined;
    // The fd is the launcher's own and gone: the address is what the user gave, and its name
    // is said apart from it (`bind web=/x.sock` reads as if the path were "web=/x.sock").
    const { where, name } = described(address);
    const context = [name === undefined ? undefined : `name ${JSON.stringify(name)}`, why].filter((x) => x !== undefined).join(': ');
    throw addressException(r, syscall, where, context || undefined);
  }
  return r;
}


/**
 * Creates, binds and (for stream and seqpacket) listens on one address, like a socket unit; a
 * unix socket file gets `socketMode` (SocketMode=).
 */
export async function bindLaunchSocket(address: LaunchAddress, backlog: number, socketMode: number): Promise<BoundSocket> {
  const n = native();
  const c = n.constants;
  const type = address.type === 'stream' ? c.SOCK_STREAM : address.type === 'dgram' ? c.SOCK_DGRAM : c.SOCK_SEQPACKET;
  let fd: number;
  let createdFile: BoundSocket['createdFile'];
  if (address.family === 'unix') {
    fd = check(n.socket(c.AF_UNIX, type), 'socket', -1, address);
    const bytes = 'path' in address ? Buffer.from(address.path) : Buffer.concat([Buffer.from([0]), Buffer.from(address.abstract)]);
    // Linux takes a path of all 108 bytes of sun_path, without its NUL; systemd refuses one
    // (and clients with the usual C string handling cannot reach it): 107 at most, as it says.
    if ('path' in address && bytes.length > SUN_PATH_MAX) check(-E.ENAMETOOLONG, 'bind', fd, address);
    // bind() creates the file with 0777 & ~umask: the mode is right from the start, as systemd
    // does it, with no window in which a chmod() has not happened yet. Nothing else of this
    // process creates files meanwhile (the call is synchronous, before any child).
    const bind = (): number => {
      const umask = process.umask(~socketMode & 0o777);
      try {
        return n.bindUnix(fd, bytes);
      } finally {
        process.umask(umask);
      }
    };
    let r = bind();
    // Like systemd, replace a socket file left behind by an earlier run, but only when
    // nothing accepts on it and it is a socket.
    if (r < 0 && 'path' in address && (await isStaleSocket(address.path))) {
      unlinkSync(address.path);
      r = bind();
    }
    check(r, 'bind', fd, address);
    if ('path' in address) {
      const st = lstatSync(address.path);
      createdFile = { path: address.path, dev: st.dev, ino: st.ino };
    }
  } else {
    const domain = address.family === 'inet6' ? c.AF_INET6 : c.AF_INET;
    fd = check(n.socket(domain, type), 'socket', -1, address);
    if (address.family === 'inet6') check(n.setIntOption(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, address.dualStack ? 0 : 1), 'setsockopt', fd, address);
    if (type === c.SOCK_STREAM) check(n.setIntOption(fd, c.SOL_SOCKET, c.SO_REUSEADDR, 1), 'setsockopt', fd, address);
    check(n.bindInet(fd, domain, address.host, address.port), 'bind', fd, address);
  }
  if (type !== c.SOCK_DGRAM) check(n.listen(fd, backlog), 'listen', fd, address);
  return createdFile ? { fd, address, createdFile } : { fd, address };
}

/** Closes the launcher's copies and removes socket files it created (if still the same file). */
export function releaseLaunchSockets(sockets: readonly BoundSocket[]): void {
  for (const s of sockets) {
    native().close(s.fd);
    if (!s.createdFile) continue;
    try {
      const st = lstatSync(s.createdFile.path);
      if (st.dev === s.createdFile.dev && st.ino === s.createdFile.ino) unlinkSync(s.createdFile.path);
    } catch {
      // already gone
    }
  }
}
