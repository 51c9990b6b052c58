// The launcher proper, loaded by main.ts once the stop signals are caught.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { formatAddress, printableBytes } from '../address.js';
import { inspect } from '../descriptor.js';
import { SocketActivationError } from '../errors.js';
import { LISTEN_VARIABLES } from '../environment.js';
import { stderrLines } from '../journal.js';
import { HANDOFF_FD_VARIABLE } from '../handoff-channel.js';
import { parseLaunchAddress, type LaunchAddress } from '../launcher/address.js';
import { SUPERVISOR_DIR_VARIABLE } from '../successor-serving.js';
import type { BoundSocket } from '../launcher/bind.js';

const HELP = `Usage: socket-activation [options] -- COMMAND [ARGS...]

Opens sockets the way a systemd socket unit does, holds them, and supervises COMMAND
with them at fds 3, 4, ... (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES set for it) and a
NOTIFY_SOCKET of its own (READY, STATUS, WATCHDOG, MAINPID, fd store, BARRIER).
SIGHUP reloads with zero downtime (a new child, READY=1, then SIGTERM to the old one),
except the SIGHUP of a terminal that hangs up, which stops it; SIGTERM/SIGINT/SIGQUIT
stop it and become our exit; a crash restarts it.

  -l, --listen [NAME=]ADDRESS     stream listener (TCP, unix stream)
  -d, --datagram [NAME=]ADDRESS   datagram socket (UDP; a unix datagram socket is for
                                  native code: Node's dgram cannot use it)
      --seqpacket [NAME=]ADDRESS  unix seqpacket listener (for native code: Node cannot
                                  serve it)
  -b, --backlog N                 accept queue length (default 4096, like systemd)
      --socket-mode MODE          octal mode of unix socket files (default 0666, like
                                  systemd's SocketMode=)
  -E, --setenv NAME[=VALUE]       set (or pass on) a variable for COMMAND
      --restart on-failure|always|no   restart COMMAND when it exits by itself
                                  (default on-failure: after a non-zero status or a death
                                  by a signal other than SIGHUP/SIGINT/SIGTERM/SIGPIPE)
      --ready-timeout SECONDS     a reload's wait for READY=1 (default 30)
      --watchdog-sec SECONDS      kill COMMAND with SIGABRT when it sends no WATCHDOG=1
                                  for that long (default 0: off), as WatchdogSec=
      --stop-timeout SECONDS      SIGKILL a child still running that long after it was
                                  asked to stop or to drain (default 90), as TimeoutStopSec=
      --fd-store-max N            FileDescriptorStoreMax= (default 64)
  -h, --help                      show this help
      --version                   show the version

ADDRESS: PORT (dual-stack [::]:PORT), HOST:PORT, [IPV6]:PORT, a unix socket path
(with a '/', e.g. ./app.sock), or @NAME (abstract unix socket). NAME defaults to
"unknown". Signals are passed on to COMMAND; its exit status becomes ours.

Example: socket-activation -l web=127.0.0.1:8080 -d dns=[::]:5353 -- node server.js

       socket-activation reload PID   hot-upgrade a service (ExecReload=), see reload --help`;

interface Options {
  addresses: LaunchAddress[];
  backlog: number;
  env: Record<string, string>;
  command: string[];
  restart: 'no' | 'on-failure' | 'always';
  readyTimeoutMs: number;
  watchdogMs: number;
  stopTimeoutMs: number;
  fdStoreMax: number;
  socketMode: number;
}

/** The longest wait a Node timer holds (2^31 − 1 ms, about 24.8 days), in seconds. */
const MAX_SECONDS = 2147483;

function seconds(flag: string, text: string, allowZero: boolean): number {
  const n = /^[0-9]+(\.[0-9]+)?$/.test(text) ? Number(text) : Number.NaN;
  if (!(n > 0 || (allowZero && n === 0)) || n > MAX_SECONDS) {
    usage(`${flag} needs a number of seconds${allowZero ? ' (0: off)' : ' > 0'} up to ${MAX_SECONDS}; found ${JSON.stringify(text)}.`);
  }
  return n * 1000;
}

// What the supervisor sets for every child, whatever -E says: giving one is a mistake to report.
const RESERVED_VARIABLES = new Map<string, string>([
  ...LISTEN_VARIABLES.map((v) => [v, 'the sockets passed: choose them with -l, -d and --seqpacket and their NAME='] as const),
  ['NOTIFY_SOCKET', "the supervisor's own notify socket, which READY=1, the watchdog and the fd store need"],
  ['WATCHDOG_USEC', 'from --watchdog-sec'],
  ['WATCHDOG_PID', "the child's own pid, with WATCHDOG_USEC"],
  ['FDSTORE', 'from --fd-store-max'],
  [SUPERVISOR_DIR_VARIABLE, "the supervisor's private directory"],
  [HANDOFF_FD_VARIABLE, 'the hand-over channel every child gets (idle connections from a child that stops)'],
]);

function usage(message: string): never {
  throw new SocketActivationError('ERR_LAUNCHER_USAGE', `${message}\nRun socket-activation --help for usage.`);
}

// Node decodes its arguments as UTF-8, with U+FFFD for bytes that are not: a socket path, an
// environment value or a command argument holding such bytes would reach the kernel or the
// command as other bytes (a socket file of another name), and Node can pass on nothing but
// strings. /proc/self/cmdline (Linux) still has the bytes given; only this process's own
// arguments are checked against it.
function checkEncoding(argv: readonly string[]): void {
  const own = process.argv.slice(2);
  if (!argv.some((a) => a.includes('\ufffd')) || own.length !== argv.length || own.some((a, i) => a !== argv[i])) return;
  let cmdline: Buffer;
  try {
    cmdline = readFileSync('/proc/self/cmdline');
  } catch {
    return;
  }
  const parts: Buffer[] = [];
  for (let at = 0; at < cmdline.length; ) {
    const end = cmdline.indexOf(0, at);
    parts.push(cmdline.subarray(at, end < 0 ? cmdline.length : end));
    at = end < 0 ? cmdline.length : end + 1;
  }
  if (parts.length < argv.length) return;
  const raw = parts.slice(parts.length - argv.length);
  const i = argv.findIndex((a, n) => a.includes('\ufffd') && !Buffer.from(a).equals(raw[n]!));
  if (i < 0) return;
  usage(
    `The argument ${printableBytes(raw[i]!)} is not valid UTF-8: Node reads its arguments as UTF-8, so the launcher would use other bytes ` +
      '(a socket file of another name, another value or command argument). Give it in UTF-8, or a socket path through a directory or symbolic link whose name is.',
  );
}

function parseArguments(argv: readonly string[]): Options | 'help' | 'version' {
  // systemd's defaults: SocketMode= 0666 lets any local user connect, as to a TCP port.
  const options: Options = { addresses: [], backlog: 4096, env: {}, command: [], restart: 'on-failure', readyTimeoutMs: 30_000, watchdogMs: 0, stopTimeoutMs: 90_000, fdStoreMax: 64, socketMode: 0o666 };
  /** Each address argument as given, for messages. */
  const given: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // `--listen=ADDRESS`, and as getopt takes them, short options with the value attached: `-l127.0.0.1:80`.
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : /^-[ldbE]./.test(arg)
          ? [arg.slice(0, 2), arg.slice(2)]
          : [arg, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      // `-l -- node app.mjs`: the value was forgotten, and `--` is not one.
      if (next === undefined || next === '--') usage(`${flag} needs a value${next === '--' ? ` before --` : ''}.`);
      return next;
    };
    switch (flag) {
      case '--':
        options.command = argv.slice(i + 1);
        i = argv.length;
        break;
      case '-h':
      case '--help':
        return 'help';
      case '--version':
        return 'version';
      case '-l':
      case '--listen':
      case '-d':
      case '--datagram':
      case '--seqpacket': {
        const text = value();
        options.addresses.push(parseLaunchAddress(text, flag === '--seqpacket' ? 'seqpacket' : flag === '-d' || flag === '--datagram' ? 'dgram' : 'stream'));
        given.push(`${flag} ${text}`);
        break;
      }
      case '-b':
      case '--backlog': {
        const text = value();
        const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
        if (!(n >= 1 && n <= 0x7fffffff)) usage(`--backlog must be a whole number from 1 to 2147483647 (the kernel caps it at net.core.somaxconn); found ${JSON.stringify(text)}.`);
        options.backlog = n;
        break;
      }
      case '--restart': {
        const text = value();
        if (text !== 'no' && text !== 'on-failure' && text !== 'always') usage(`--restart must be on-failure, always or no; found ${JSON.stringify(text)}.`);
        options.restart = text;
        break;
      }
      case '--ready-timeout':
        options.readyTimeoutMs = seconds(flag, value(), false);
        break;
      case '--watchdog-sec':
        options.watchdogMs = seconds(flag, value(), true);
        break;
      case '--stop-timeout':
        options.stopTimeoutMs = seconds(flag, value(), false);
        break;
      case '--socket-mode': {
        const text = value();
        if (!/^[0-7]{1,4}$/.test(text) || Number.parseInt(text, 8) > 0o777) usage(`--socket-mode must be an octal file mode from 0000 to 0777 (e.g. 0660); found ${JSON.stringify(text)}.`);
        options.socketMode = Number.parseInt(text, 8);
        break;
      }
      case '--fd-store-max': {
        const text = value();
        if (!/^[0-9]+$/.test(text) || Number(text) > 65536) usage(`--fd-store-max must be a whole number up to 65536; found ${JSON.stringify(text)}.`);
        options.fdStoreMax = Number(text);
        break;
      }
      case '-E':
      case '--setenv': {
        const text = value();
        const eq = text.indexOf('=');
        const name = eq < 0 ? text : text.slice(0, eq);
        const v = eq < 0 ? process.env[name] : text.slice(eq + 1);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) usage(`--setenv: ${JSON.stringify(name)} is not a variable name.`);
        const why = RESERVED_VARIABLES.get(name);
        if (why) usage(`--setenv ${text}: ${name} is set (or removed) by the launcher for each start (${why}), and would be replaced; leave it out.`);
        if (v !== undefined) options.env[name] = v;
        break;
      }
      default:
        if (arg.startsWith('-')) usage(`Unknown option ${arg}.`);
        // The first operand starts the command (the "--" is optional).
        options.command = argv.slice(i);
        i = argv.length;
    }
  }
  if (options.addresses.length === 0) usage('Give at least one address with -l, -d or --seqpacket.');
  if (options.command.length === 0) usage('Give the command to run after --.');
  if (options.command[0] === '') usage('The command is an empty string (""): give the program to run after --.');
  sameAddressTwice(options.addresses, given);
  namesTooLongForExec(options);
  return options;
}

/**
 * A usage error when LISTEN_FDNAMES would be longer than exec() takes: Linux takes no argument
 * or environment string longer than 32 pages (MAX_ARG_STRLEN), and each start would fail with
 * E2BIG. The launcher's own arguments and --setenv values are under that limit already (they
 * reached it through exec()); the names joined are what can pass it.
 */
function namesTooLongForExec(options: Options): void {
  if (process.platform !== 'linux') return;
  const limit = 32 * pageSize();
  const names = `LISTEN_FDNAMES=${options.addresses.map((a) => a.name).join(':')}`;
  const bytes = Buffer.byteLength(names) + 1;
  if (bytes > limit) {
    usage(`The names of the ${options.addresses.length} sockets make LISTEN_FDNAMES ${bytes} bytes, more than exec() takes for one variable (${limit}, 32 pages): the command could never start (E2BIG). Give them shorter names (NAME=ADDRESS), or pass fewer sockets.`);
  }
}

/** The kernel's page size, from the auxiliary vector (AT_PAGESZ); 4096 where it cannot be read. */
function pageSize(): number {
  try {
    const auxv = readFileSync('/proc/self/auxv');
    for (let at = 0; at + 16 <= auxv.length; at += 16) {
      if (auxv.readBigUInt64LE(at) === 6n) return Number(auxv.readBigUInt64LE(at + 8));
    }
  } catch {
    // no /proc
  }
  return 4096;
}

/**
 * A usage error when two address arguments would bind the same address (`given[i]` is the
 * argument of `addresses[i]`): the second bind would fail with EADDRINUSE and a message about
 * "another process". Port 0 never clashes (the kernel picks a free port for each).
 */
function sameAddressTwice(addresses: readonly LaunchAddress[], given: readonly string[]): void {
  for (let j = 1; j < addresses.length; j++) {
    for (let i = 0; i < j; i++) {
      if (!clash(addresses[i]!, addresses[j]!)) continue;
      const a = addresses[i]!;
      const b = addresses[j]!;
      const covered = a.family !== 'unix' && b.family !== 'unix' && JSON.stringify(coverage(a)) !== JSON.stringify(coverage(b));
      usage(`${given[i]} and ${given[j]} bind the same address${covered ? ' (a wildcard, dual-stack or IPv4-mapped address covers the other on its port)' : ''}: give each address once.`);
    }
  }
}

/** What an IP address argument takes: its IPv4 and IPv6 parts ('*' for any), on a port and protocol. */
function coverage(a: LaunchAddress & { family: 'inet' | 'inet6' }): { v4?: string; v6?: string } {
  if (a.family === 'inet') return { v4: a.host === '0.0.0.0' ? '*' : a.host };
  // The URL parser writes an IPv6 address in one canonical form: ::1 and 0:0::1 are one address.
  const host = new URL(`http://[${a.host}]/`).hostname.slice(1, -1);
  if (host === '::') return a.dualStack ? { v4: '*', v6: '*' } : { v6: '*' };
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped && a.dualStack) {
    const n = (Number.parseInt(mapped[1]!, 16) << 16) | Number.parseInt(mapped[2]!, 16);
    return { v4: [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.') };
  }
  return { v6: host };
}

function clash(a: LaunchAddress, b: LaunchAddress): boolean {
  if (a.family === 'unix' || b.family === 'unix') {
    if (a.family !== 'unix' || b.family !== 'unix') return false;
    // One file, whatever the types; an abstract name is per socket type.
    if ('path' in a && 'path' in b) return a.path === b.path;
    return 'abstract' in a && 'abstract' in b && a.abstract === b.abstract && a.type === b.type;
  }
  if (a.type !== b.type || a.port !== b.port || a.port === 0) return false;
  const x = coverage(a);
  const y = coverage(b);
  const overlap = (p?: string, q?: string): boolean => p !== undefined && q !== undefined && (p === '*' || q === '*' || p === q);
  return overlap(x.v4, y.v4) || overlap(x.v6, y.v6);
}

/**
 * Runs the launcher with `argv` (the arguments after the program name); resolves with the exit
 * status. `takeEarlySignals` stops the entry's recording of stop signals and returns what it
 * recorded, for the supervisor to act on once its own handlers are in place.
 */
export async function launch(argv: readonly string[], takeEarlySignals: () => readonly NodeJS.Signals[]): Promise<number> {
  const [{ bindLaunchSocket, described, releaseLaunchSockets }, { Supervisor }] = await Promise.all([import('../launcher/bind.js'), import('../supervisor/supervisor.js')]);
  checkEncoding(argv);
  const parsed = parseArguments(argv);
  if (parsed === 'help') {
    console.log(HELP);
    return 0;
  }
  if (parsed === 'version') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    console.log(pkg.version);
    return 0;
  }
  // A log pipe that is gone (EPIPE: `| head`, a log collector restarting) must not take the
  // supervisor and its service down; systemd goes on supervising when the journal is away.
  process.stderr.on('error', () => undefined);
  const sockets: BoundSocket[] = [];
  try {
    for (const address of parsed.addresses) sockets.push(await bindLaunchSocket(address, parsed.backlog, parsed.socketMode));
    // Port 0 lets the kernel choose: say which port, or no client could find the service.
    for (const s of sockets) {
      if (!('port' in s.address) || s.address.port !== 0) continue;
      const d = inspect(s.fd);
      const local = d.kind === 'socket' ? d.local : undefined;
      const { where, name } = described(s.address);
      const label = name ?? where;
      process.stderr.write(stderrLines(`socket-activation: ${label} ${s.address.type === 'dgram' ? 'is bound to' : 'listens on'} ${formatAddress(local)}`, 'info'));
    }
    const supervisor = new Supervisor({
      command: parsed.command,
      sockets,
      env: parsed.env,
      restart: parsed.restart,
      readyTimeoutMs: parsed.readyTimeoutMs,
      watchdogMs: parsed.watchdogMs,
      stopTimeoutMs: parsed.stopTimeoutMs,
      fdStoreMax: parsed.fdStoreMax,
      pendingSignals: takeEarlySignals,
    });
    const exit = await supervisor.run();
    if (exit.signal) {
      releaseLaunchSockets(sockets.splice(0));
      // Die of the same signal, so our parent sees what really happened. As PID 1 (which the
      // kernel does not kill with a signal it has no handler for) or for a signal Node ignores
      // (SIGPIPE), we are still here: then the shell's 128 + n. The child's core (SIGABRT,
      // SIGSEGV, …) is the one to keep, not one of this supervisor.
      (await import('../native.js')).native().noCoreDump();
      process.kill(process.pid, exit.signal);
      return 128 + (constants.signals[exit.signal] ?? 0);
    }
    return exit.code;
  } finally {
    releaseLaunchSockets(sockets);
  }
}

