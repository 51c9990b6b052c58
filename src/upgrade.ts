import { chmodSync, existsSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { getSystemErrorName } from 'node:util';
import { now } from './clock.js';
import { askToUpgrade, controlPath, controlPathTooLong, removeControlSocket } from './control-path.js';
import { checkMs, DEFAULT_LINGER, drain, invalid, notAServer, stopBegun, type DrainReport } from './drain.js';
import { shownValue, SocketActivationError } from './errors.js';
import { barrier, notify, notifyAddress, reloading } from './notify.js';
import { watchdogUsecText } from './watchdog.js';
import type { NotifyValue } from './notify-message.js';
import { activation } from './registry.js';
import { startActivated } from './spawn.js';
import { commandProblem, directoryProblem } from './start-problems.js';
import { isAlive, procStat } from './processes.js';
import { rememberStart, successorCommand, successorCwd, successorEnvironmentRemovals } from './successor-command.js';
import { MAIN_MESSAGE, REFUSED_FIELD, SUCCESSOR_VARIABLE, UPGRADE_PROTOCOL } from './successor.js';
import { SUPERVISOR_DIR_VARIABLE, supervisorDirectory } from './successor-serving.js';
import { isConnection } from './select.js';
import { channelHandOff, HANDOFF_FD_VARIABLE } from './handoff-channel.js';
import { native, signalName, type NativeWatcher } from './native.js';
import { stderrLines } from './journal.js';
import { isHangUp, watchTerminal } from './terminal.js';

type Server = Parameters<typeof drain>[0];

/** How an upgrade ended. */
export type UpgradeOutcome =
  | {
      readonly ok: true;
      /** The successor, now the main process. */
      readonly pid: number;
      /** Settles when this process has drained (after the outcome is known and reported). */
      readonly drained: Promise<readonly DrainReport[]>;
    }
  | { readonly ok: false; /** Why the successor was given up; this process keeps serving. */ readonly reason: string };

/** Options for {@link hotUpgrade}. */
export interface HotUpgradeOptions {
  /**
   * The signal that starts an upgrade (`ExecReload=kill -HUP $MAINPID`); `null` for none. A
   * SIGHUP that comes from the hang-up of the terminal this process was started in starts none:
   * this process is sent SIGTERM instead. @default 'SIGHUP'
   */
  readonly signal?: NodeJS.Signals | null;
  /**
   * The successor's command line, resolved at upgrade time. Default: this Node binary, its
   * flags, the script and the arguments as they were given (so a symlinked release switch such
   * as /srv/app/current → releases/v2 takes effect); a relative script path stays relative when
   * it exists under the successor's working directory.
   */
  readonly command?: () => readonly string[];
  /**
   * The successor's working directory, resolved at upgrade time. Default: the directory this
   * process started in, by the name it was started with — $PWD when it names that directory,
   * else a directory above an absolute script path that does (systemd does not set $PWD:
   * `WorkingDirectory=/srv/app/current` with `ExecStart=node /srv/app/current/app.mjs`) — or,
   * when this process has changed directory since, the one it is in. With a relative script
   * under systemd, pass it here: `() => '/srv/app/current'`.
   */
  readonly cwd?: () => string;
  /** Milliseconds (at least 1) for the successor to send READY=1 before it is killed. @default 30000 */
  readonly readyTimeout?: number;
  /** Milliseconds this process drains after the hand-over. @default 10000 */
  readonly drainTimeout?: number;
  /**
   * Milliseconds idle keep-alive connections stay here after the hand-over, their next request
   * answered here, before they move to the successor (`drain()`'s `linger`). @default 1000
   */
  readonly drainLinger?: number;
  /** Exit (status 0) once drained. @default true */
  readonly exit?: boolean;
  /** Told the outcome of every upgrade (default: a line on stderr). */
  readonly onOutcome?: (outcome: UpgradeOutcome) => void;
}

/** A running upgrade handler. */
export interface Upgrader {
  /**
   * Starts an upgrade now; during one, queues one more to follow it (requests during one
   * upgrade all share that one), which, when the upgrade before it succeeded, is passed on to
   * the successor: its outcome is then the successor's upgrade.
   */
  upgrade(): Promise<UpgradeOutcome>;
  /** The control socket the reload command talks to. */
  readonly controlPath: string;
  /** Stops listening for upgrade requests. */
  stop(): void;
}


/** The successor's exit, collected with reap() (it is not libuv's child): see {@link watchExit}. */
interface ExitWatch {
  /** Settles with a description of how it ended ("status 3", "SIGKILL"). */
  readonly exited: Promise<string>;
  /**
   * Whether it is gone (exited, or not ours to wait for), looking now: then its pid may belong
   * to another process, or is a zombie, which a service manager refuses as MAINPID=.
   */
  readonly gone: () => boolean;
  /**
   * For the hand-over: look every 100 ms, without keeping this process alive, and without
   * reaping: see {@link Native.reap}'s `leave`.
   */
  background(): void;
  /** Undoes {@link background}: it is this process's to reap again (a hand-over that failed). */
  reclaim(): void;
  /** Whether it exited as on a stop: status 0, or SIGTERM. */
  stopped(): boolean;
}

// A pidfd would say it at once, but only on Linux >= 5.3; a successor is watched closely only
// for the few hundred milliseconds before its READY=1, so polling costs nothing anywhere.
function watchExit(pid: number): ExitWatch {
  let timer: NodeJS.Timeout;
  let check: () => void;
  let gone = false;
  let leave = false;
  let stopped = false;
  const exited = new Promise<string>((resolve) => {
    check = () => {
      const r = native().reap(pid, leave);
      if (r === 0) return;
      gone = true;
      stopped = typeof r === 'object' && (r.code === 0 || r.signal === constants.signals.SIGTERM);
      clearInterval(timer);
      if (typeof r === 'number') resolve(`${getSystemErrorName(r)} from waitid`);
      else resolve(r.signal !== undefined ? (signalName(r.signal) ?? `signal ${r.signal}`) : `status ${r.code}`);
    };
    timer = setInterval(check, 20);
  });
  return {
    exited,
    gone() {
      if (!gone) check();
      return gone || isZombie(pid);
    },
    background() {
      leave = true;
      clearInterval(timer);
      timer = setInterval(check, 100).unref();
    },
    reclaim() {
      leave = false;
      clearInterval(timer);
      timer = setInterval(check, 20);
    },
    stopped: () => stopped,
  };
}

// The main thread of a Node process that exits is a zombie (which systemd checks for in /proc)
// before waitid() reports the process: that waits for its other threads. Gone: reap() says so.
function isZombie(pid: number): boolean {
  const state = procStat(pid)?.state;
  return state === 'Z' || state === 'X';
}

const EAGAIN = -constants.errno.EAGAIN;

const DEFAULT_READY_TIMEOUT = 30_000;

// A request passed on to the successor waits for its upgrade: its successor's readyTimeout (taken
// to be this one's) and this much for the rest of it (the hand-over's barrier, its settle time).
const RELAY_MARGIN = 10_000;

// Milliseconds the successor is watched after it was made the main process, before the upgrade
// is called done (see hotUpgrade()).
const HANDOVER_SETTLE = 200;

// A hand-over message that failed for want of an fd or memory is tried once more after this
// long: a process at its fd limit gets fds back as connections end, and a successor given up is
// a whole start-up lost (and its first requests cut). Once only, and briefly: the successor
// serves meanwhile beside a manager that still knows this process as its main one.
const HANDOVER_RETRY = 100;
const TRANSIENT = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

// MAINPID= + READY=1 to the manager: undefined once sent, else why not. A unix datagram is
// sent whole or not at all, so a failed send told the manager nothing.
async function tellManager(fields: Record<string, NotifyValue>, gone: () => boolean): Promise<Error | undefined> {
  try {
    await notify(fields);
    return undefined;
  } catch (err) {
    if (!TRANSIENT.has((err as NodeJS.ErrnoException).code ?? '') || gone()) return err as Error;
  }
  await sleep(HANDOVER_RETRY);
  if (gone()) return new Error('the successor exited while the message was retried');
  return notify(fields).then(
    () => undefined,
    (err: Error) => err,
  );
}

// How long a successor that closed its channel has to exit, so that its exit status is what
// the failure reports.
const CLOSED_GRACE = 1000;

// NOTIFY_SOCKET for the successor: the variable, or the address this process kept when
// unsetEnvironment removed it. An invalid one is passed on as it is (the successor says why).
function managerAddress(): string | undefined {
  try {
    return notifyAddress()?.text;
  } catch {
    return process.env.NOTIFY_SOCKET;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Ends a successor given up on: its channel closed, killed (a stop signal would have it drain
 * and say STOPPING=1 in the service's name), waited for, so that a next upgrade never overlaps
 * it, and its control socket removed, which killed it could not remove (same environment, so
 * the same directory).
 */
async function dismiss(pid: number, exit: ExitWatch, close: () => void): Promise<void> {
  close();
  if (!exit.gone()) killQuietly(pid);
  await exit.exited;
  removeControlSocket(pid);
}

interface Successor {
  readonly pid: number;
  readonly exit: ExitWatch;
  /** Our end of the channel its HANDOFF_FD_VARIABLE names: its notify messages come up, idle connections go down. */
  readonly channel: number;
  /** Stops reading the channel and closes it. */
  readonly close: () => void;
  /** Whether it has sent a STATUS= (passed on to the manager) so far. */
  readonly sentStatus: () => boolean;
}

// Starts the successor and waits for its READY=1 (passed to us on the channel). Everything else
// it tells the manager meanwhile is passed on, until the channel is closed.
async function startSuccessor(options: HotUpgradeOptions): Promise<Successor> {
  const a = activation();
  if (!a.activated) {
    throw new SocketActivationError('ERR_NOT_ACTIVATED', `A hot upgrade passes the inherited listeners to the successor, but this process was not socket-activated (${a.reason}): ${a.message}`, {
      reason: a.reason,
    });
  }
  // Listeners only: connections (Accept=yes, kept ones) belong to this process.
  const fds = a.descriptors.filter((d) => !isConnection(d)).map((d) => ({ fd: d.fd, name: d.name }));
  const cwd = (options.cwd ?? successorCwd)();
  // Else the shell's `cd` fails, and all the outcome says is that the successor exited with 2.
  const cwdProblem = directoryProblem(cwd, options.cwd ? 'the cwd option named it' : 'the directory this process started in, by the name it was started with: was it removed or replaced? The cwd option names another');
  if (cwdProblem) throw new Error(`the successor could not be started: ${cwdProblem}`);
  const command: unknown = options.command?.() ?? successorCommand(cwd);
  // Else V8's words ("command is not iterable"), or an empty command that "exited (status 0)".
  if (!Array.isArray(command) || command.length === 0 || command.some((arg) => typeof arg !== 'string')) {
    throw new Error(`the successor could not be started: the command option returned ${shownValue(command)}; expected the program and its arguments, a non-empty array of strings`);
  }
  // Else the outcome says only that the successor exited with 127 (the shell's exec failed).
  const commandIssue = commandProblem(command[0] as string, cwd);
  if (commandIssue) throw new Error(`the successor could not be started: ${commandIssue.why}${options.command ? ' (the command option named it)' : ''}`);
  // Seqpacket: messages keep their bounds and fds, and either end sees the other one go.
  // macOS has no unix seqpacket sockets: there a datagram pair does the same, except that the
  // successor learns that this process is gone only when a message to it fails.
  // Idle connections go down in one message (see channelHandOff), not one by one.
  const { SOCK_SEQPACKET, SOCK_DGRAM } = native().constants;
  let pair = native().socketPair(SOCK_SEQPACKET);
  if (typeof pair === 'number') pair = native().socketPair(SOCK_DGRAM);
  if (typeof pair === 'number') throw new Error(`the channel to the successor could not be made: socketpair ${getSystemErrorName(pair)}`);
  const [channel, theirs] = pair;
  // Under the launcher the successor becomes its child in this one's place, marked like one on
  // a reload: it needs the supervisor's directory even when unsetEnvironment removed it here.
  // Likewise the manager's variables: the successor becomes the main process, which speaks to
  // the manager and pings its watchdog (the trampoline sets WATCHDOG_PID to its own pid).
  const env = {
    ...successorEnvironmentRemovals(),
    [SUCCESSOR_VARIABLE]: UPGRADE_PROTOCOL,
    [HANDOFF_FD_VARIABLE]: String(3 + fds.length),
    [SUPERVISOR_DIR_VARIABLE]: supervisorDirectory(),
    NOTIFY_SOCKET: managerAddress(),
    WATCHDOG_USEC: watchdogUsecText(),
  };
  let pid: number;
  try {
    // The channel sits right after the LISTEN_FDS range, outside of it.
    pid = await startActivated(command, [...fds, { fd: theirs, name: '' }], { cwd, env, listenFdCount: fds.length });
  } catch (err) {
    native().close(channel);
    throw new Error(`the successor could not be started: ${(err as Error).message}`);
  } finally {
    native().close(theirs);
  }
  const exit = watchExit(pid);
  const timeout = options.readyTimeout ?? DEFAULT_READY_TIMEOUT;
  return new Promise((resolve, reject) => {
    let settled = false;
    let open = true;
    let status = false;
    let watcher: NativeWatcher | undefined;
    // The fd stays ours until close(): the drain may still offer connections on it.
    const close = (): void => {
      watcher?.close();
      if (open) native().close(channel);
      open = false;
    };
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void dismiss(pid, exit, close).then(() => reject(new Error(reason)));
    };
    const timer = setTimeout(() => fail(`the successor did not send READY=1 within ${timeout} ms`), timeout);
    void exit.exited.then((how) => fail(`the successor exited (${how}) before READY=1`));
    const onReadable = (): void => {
      for (;;) {
        const got = native().receive(channel);
        if (got === EAGAIN) return;
        if (typeof got === 'number' || got.data.length === 0) {
          // The successor closed its end, or the channel failed. When it exits, its reap says
          // how; one that goes on without the channel will never send READY=1 through it.
          watcher?.close();
          setTimeout(() => fail('the successor closed its channel to this process before READY=1 and keeps running: it does not take over (see its log)'), CLOSED_GRACE).unref();
          return;
        }
        const lines = got.data.toString('utf8').split('\n').filter((l) => l !== '');
        for (const fd of got.fds) native().close(fd);
        const refused = lines.find((l) => l.startsWith(`${REFUSED_FIELD}=`));
        if (refused) return fail(`the successor refused to take over: ${refused.slice(REFUSED_FIELD.length + 1)}`);
        const others = lines.filter((l) => l !== 'READY=1' && !l.startsWith('MAINPID='));
        if (others.length > 0) void notify(others.join('\n')).catch(() => undefined);
        if (others.some((l) => l.startsWith('STATUS='))) status = true;
        if (lines.includes('READY=1') && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve({ pid, exit, channel, close, sentStatus: () => status });
        }
      }
    };
    try {
      watcher = new (native().Watcher)(channel, onReadable);
      watcher.unref();
    } catch (err) {
      fail(`the channel to the successor could not be watched: ${(err as Error).message}`);
    }
  });
}

/**
 * Zero-downtime upgrades in the manner of tableflip, aware of systemd: on SIGHUP (or a
 * `socket-activation reload PID` request, or `upgrade()`), start a successor with the same
 * listening fds and correct LISTEN_* / WATCHDOG_PID, the command and working directory resolved
 * anew; wait for its READY=1; make it the main process (`MAINPID=` + `READY=1` from this one,
 * which systemd accepts under any NotifyAccess=); then drain the servers, handing idle
 * keep-alive connections to the successor, and exit. A successor that fails or times out is
 * killed and this process keeps serving. The successor's environment is this process's, less
 * what its start-up added (Node's `--env-file`, dotenv imported first) and has not changed since:
 * neither overrides a variable that is set, so the successor loads those files as they are now.
 *
 * In the successor nothing changes: the same code calls `listen()` and `ready()`; its messages
 * reach the manager through this process until the hand-over. It is started with
 * `posix_spawn()` off the event loop (a fork of this process would stop it for milliseconds),
 * so it has no Node IPC channel; the `diagnostics_channel` named `socket-activation:main`
 * publishes `{ pid }` in it when it becomes the main process.
 *
 * @throws ERR_INVALID_ARGUMENT for a server that is not a net.Server or an option of the wrong
 * kind, at the call: found only at upgrade time, a bad drain option would leave this process
 * serving beside its successor.
 */
export function hotUpgrade(servers: Server | readonly Server[], options: HotUpgradeOptions | null = {}): Upgrader {
  const list = Array.isArray(servers) ? (servers as readonly Server[]) : [servers as Server];
  options = checkUpgradeOptions(list, options ?? {});
  // Now, at start-up: the names this process was started with, before a release switch.
  rememberStart();
  // Run in a terminal, the successor is no part of the shell's job (the job ends with this
  // process): the developer must learn that Ctrl-C, or closing the window, no longer stops it.
  const inTerminal = watchTerminal();
  const outOfJob = (pid: number): string => (inTerminal ? `; it is not a job of this terminal's shell: Ctrl-C and closing the window do not reach it (stop it with kill ${pid})` : '');
  const report = options.onOutcome ?? ((o: UpgradeOutcome) => process.stderr.write(stderrLines(`socket-activation: upgrade ${o.ok ? `done: pid ${o.pid} took over${outOfJob(o.pid)}` : `failed: ${o.reason}`}`, o.ok ? 'info' : 'err')));
  let current: Promise<UpgradeOutcome> | undefined;
  // The one more upgrade asked for while `current` runs.
  let queued: Promise<UpgradeOutcome> | undefined;
  // The manager shows our "upgrade failed" until someone sets another STATUS=.
  let failureShown = false;

  const failed = async (reason: string): Promise<UpgradeOutcome> => {
    await notify({ READY: true, STATUS: `upgrade failed: ${reason}` }).catch(() => undefined);
    failureShown = true;
    return { ok: false, reason };
  };

  const run = async (): Promise<UpgradeOutcome> => {
    await reloading().catch(() => undefined);
    let successor: Successor;
    try {
      successor = await startSuccessor(options);
    } catch (err) {
      return failed((err as Error).message);
    }
    const { pid, channel } = successor;
    if (successor.exit.gone()) {
      successor.close();
      return failed(`the successor exited (${await successor.exit.exited}) right after READY=1`);
    }
    // It outlives us as the main process: from here on it is left for the manager (background()).
    successor.exit.background();
    const handOver: Record<string, NotifyValue> = { MAINPID: pid, READY: true };
    if (failureShown && !successor.sentStatus()) handOver.STATUS = '';
    failureShown = false;
    const unsent = await tellManager(handOver, () => successor.exit.gone());
    if (unsent) {
      // The manager knows this process as its main process still: the successor goes, as on
      // any failure, and this process serves on. Otherwise this process would drain and exit
      // 0, and the manager would take the service as ended.
      successor.exit.reclaim();
      await dismiss(pid, successor.exit, successor.close);
      return failed(`the service manager could not be told that the successor is the main process (MAINPID=${pid}: ${unsent.message}); the successor was stopped and this process serves on`);
    }
    // MAINPID= is in the manager's queue; the barrier only says that it has been read. The
    // manager reads its queue in order, and systemd reads it before it handles the exit of a
    // child, so even this process's exit cannot overtake it. A barrier that fails (no fd for its
    // pipe, no answer in time) therefore leaves the hand-over standing: undoing it would take a
    // MAINPID= back, which a manager that has switched refuses under NotifyAccess=main or exec
    // (it is not from the main process), leaving it a killed main process. It is tried again
    // before this process exits.
    let confirmed = await barrier().then(
      () => true,
      (err: Error) => {
        process.stderr.write(stderrLines(`socket-activation: the barrier after MAINPID=${pid} failed (${err.message}); the hand-over stands (the manager reads MAINPID= before it could see this process exit), and the barrier is tried again before this process exits`, 'warning'));
        return false;
      },
    );
    // A successor that dies right after its READY=1 mostly does so within this time; the
    // outcome (and with it the reload command's exit, at which systemd looks at its main
    // process) waits for it. Timed on the monotonic clock: a step back of the wall clock here
    // would hold the upgrade (and the reload command) for as long.
    for (const until = now() + HANDOVER_SETTLE; now() < until && !successor.exit.gone(); ) await sleep(20);
    if (successor.exit.gone()) {
      // It died between its READY=1 and the hand-over. Taking the main role back works where
      // the manager never took the successor (it was dead when MAINPID= came) or takes
      // MAINPID= from this process (NotifyAccess=all); otherwise its main process is that
      // dead successor, which systemd, at the end of the reload, finds not alive and not its
      // child, and stops the unit as if it had ended well. Only this process's exit shows
      // systemd that status (the successor is re-parented to it), so unless the application
      // keeps control (exit: false), this process exits, unreaped successor and all: the
      // manager applies Restart=.
      await notify({ MAINPID: process.pid, READY: true }).catch(() => undefined);
      successor.close();
      const how = await successor.exit.exited;
      const reason = `the successor exited (${how}) while it was made the main process, right after READY=1`;
      if (options.exit !== false) {
        process.stderr.write(stderrLines(`socket-activation: upgrade failed: ${reason}; exiting, so that the service manager collects its status and applies Restart= (it may have taken it as its main process already)`, 'err'));
        process.exit(1);
      }
      return failed(reason);
    }
    // Left unreaped (background()): the manager, which only sees this process's children once
    // they are re-parented to it, would otherwise never learn that its main process died.
    // A stop (systemctl stop: SIGTERM to every process of the unit) ends it too: this process
    // then drains on.
    let drainedAll = false;
    void successor.exit.exited.then((how) => {
      if (successor.exit.stopped()) return;
      process.stderr.write(stderrLines(`socket-activation: pid ${pid}, the main process since the upgrade, exited (${how})${drainedAll ? '' : ' while this process drained'}; ${options.exit === false ? 'the service manager learns it when this process exits' : 'exiting now, so that the service manager collects it and applies Restart='}`, 'err'));
      if (options.exit !== false) process.exit(1);
    });
    native().sendOn(channel, Buffer.from(MAIN_MESSAGE), new Int32Array(0));
    // The outcome is known now: the reload command returns while this process drains.
    const handOff = channelHandOff(channel);
    const drained = Promise.all(list.map((server) => drain(server, { timeout: options.drainTimeout ?? 10_000, linger: options.drainLinger ?? DEFAULT_LINGER, notify: false, handOff })))
      .then(async (reports) => {
        if (!confirmed) confirmed = await barrier().then(() => true, () => false);
        return reports;
      })
      .finally(() => {
        drainedAll = true;
        successor.close();
      });
    return { ok: true, pid, drained };
  };

  // Once a successor is the main process, this one only drains: a second upgrade from it would
  // start a lineage the manager does not know (its MAINPID= is no longer accepted), serving
  // beside the real one. tableflip refuses too.
  let successorPid: number | undefined;
  const refuse = (reason: string): Promise<UpgradeOutcome> => {
    const outcome: UpgradeOutcome = { ok: false, reason };
    report(outcome);
    return Promise.resolve(outcome);
  };
  // A request that came during an upgrade that then succeeded may be for a release made since
  // (a deploy during the upgrade; `kill -HUP $MAINPID` twice, which returns at once): dropped,
  // that release would never run. It goes on to the successor, the main process now, as systemd
  // runs a queued reload job against the new $MAINPID; the outcome is the successor's.
  const relay = async (pid: number, drained: Promise<readonly DrainReport[]>): Promise<UpgradeOutcome> => {
    const asked = `pid ${pid}, the main process since the upgrade before, was asked to upgrade for a request made during that one`;
    const outcome: UpgradeOutcome = await askToUpgrade(pid, (options.readyTimeout ?? DEFAULT_READY_TIMEOUT) + RELAY_MARGIN).then(
      (answer) => {
        const taken = /^ok (\d+)$/.exec(answer);
        return taken ? { ok: true, pid: Number(taken[1]), drained } : { ok: false, reason: `${asked}: ${answer.replace(/^failed /, '') || 'it closed the request unanswered'}` };
      },
      (err: NodeJS.ErrnoException) => ({
        ok: false,
        reason: `${asked}, but ${err.code === 'ETIMEDOUT' || err.code === undefined ? err.message : `its control socket gave ${err.code} (does it call hotUpgrade()?)`}`,
      }),
    );
    report(outcome);
    return outcome;
  };
  const upgrade = (): Promise<UpgradeOutcome> => {
    if (successorPid !== undefined) return refuse(`this process has already handed over to pid ${successorPid} and only drains; upgrade that one`);
    // A process on its way out (systemctl stop, restart) is stopped with its unit, but a
    // successor started now is a main process the manager never hears of, or one that outlives
    // the stop as a second lineage (its MAINPID= can come after the manager has chosen to stop).
    if (stopBegun(list)) return refuse('this process is stopping (its drain has begun): it starts no successor; the service is upgraded by the start that follows, if any');
    if (current) {
      // Not joined to the upgrade in progress: its successor was started before this request,
      // which may come from a deploy made since, and must then not be left out. As systemd,
      // which re-runs a running reload job rather than merge another into it (and as the
      // supervisor): any number of requests during one upgrade make one more, after it, whatever
      // its outcome (a later deploy may be the fix for a failed one). After a successful one
      // this process has handed over: the request goes on to the successor (relay()).
      queued ??= current.then((first) => {
        queued = undefined;
        return first.ok ? relay(first.pid, first.drained) : upgrade();
      });
      return queued;
    }
    current = run().then((outcome) => {
      current = undefined;
      report(outcome);
      if (outcome.ok) {
        successorPid = outcome.pid;
        closeControl();
        if (options.exit !== false) {
          // A request passed on to the successor is answered before this process goes.
          const relayed = queued;
          void Promise.all([outcome.drained, relayed]).then(
            () => process.exit(0),
            (err: Error) => {
              // The successor serves; this process must not go on beside it.
              process.stderr.write(stderrLines(`socket-activation: the drain after the hand-over failed (${err.message}); exiting`, 'err'));
              process.exit(1);
            },
          );
        }
      }
      return outcome;
    });
    return current;
  };

  const signal = options.signal === undefined ? 'SIGHUP' : options.signal;
  const terminal = signal === 'SIGHUP' && inTerminal;
  const onSignal = (): void => {
    if (!terminal) return void upgrade();
    void isHangUp().then((hangUp) => {
      if (!hangUp) return void upgrade();
      // What the hang-up would have done without this handler, but through the service's stop
      // (a drainOnSignal(), say): a successor would serve on with no terminal, holding the port.
      process.stderr.write(stderrLines('socket-activation: the terminal hung up: no upgrade; stopping as for SIGTERM (SIGHUP upgrades while the terminal is there, or when the process was started without one)', 'warning'));
      process.kill(process.pid, 'SIGTERM');
    });
  };
  if (signal) process.on(signal, onSignal);

  const path = controlPath(process.pid);
  const control = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.once('data', (line: string) => {
      if (line.trim() !== 'upgrade') return socket.end('failed unknown request\n');
      void upgrade().then((o) => socket.end(o.ok ? `ok ${o.pid}\n` : `failed ${o.reason.replace(/\n/g, ' ')}\n`));
    });
    socket.on('error', () => socket.destroy());
  });
  const tooLong = controlPathTooLong(path);
  if (tooLong) {
    process.stderr.write(stderrLines(`socket-activation: no upgrade control socket: ${tooLong}; SIGHUP still upgrades`, 'warning'));
  } else {
    const umask = process.umask(0o177);
    try {
      unlinkQuietly(path);
      control.listen(path);
    } finally {
      process.umask(umask);
    }
  }
  // Without the control socket only the reload command fails (SIGHUP still works), so the
  // service goes on; but the reason must be visible where the reload command's ENOENT is not.
  control.on('error', (err: NodeJS.ErrnoException) => {
    let text = `${err.code ?? err.message} accepting a request`;
    if (!control.listening) {
      // libuv reports a missing directory as EACCES (as Windows would).
      const missing = existsSync(dirname(path)) ? '' : ' (the directory does not exist)';
      text = `${err.code ?? err.message}${missing}: the reload command cannot reach this process; SIGHUP still upgrades`;
    }
    process.stderr.write(stderrLines(`socket-activation: upgrade control socket ${path}: ${text}`, 'warning'));
  });
  control.unref();
  // Only a socket this process bound: after a failed listen (EADDRINUSE) the path is someone
  // else's, and chmod() follows a symlink there to whatever file it names.
  if (control.listening) {
    try {
      chmodSync(path, 0o600);
    } catch {
      // replaced meanwhile: not ours to change
    }
  }
  const closeControl = (): void => {
    control.close();
    unlinkQuietly(path);
  };
  const onExit = (): void => unlinkQuietly(path);
  process.once('exit', onExit);
  removeStaleControlSockets(dirname(path));

  return {
    upgrade,
    controlPath: path,
    stop() {
      if (signal) process.off(signal, onSignal);
      process.off('exit', onExit);
      closeControl();
    },
  };
}

const FUNCTIONS = ['command', 'cwd', 'onOutcome'] as const;
const DURATIONS = ['readyTimeout', 'drainTimeout', 'drainLinger'] as const;

function checkUpgradeOptions(list: readonly unknown[], options: HotUpgradeOptions): HotUpgradeOptions {
  // An empty list is a process with nothing to drain: it hands over the main role alone.
  const at = list.findIndex((s) => !(s instanceof net.Server));
  if (at >= 0) throw invalid('servers', 'a net.Server (http, https, http2, tls or net) or an array of them', notAServer(list[at]), 'hotUpgrade()');
  if (typeof options !== 'object') throw invalid('options', 'an object', options, 'hotUpgrade()');
  const { signal, exit } = options;
  if (signal !== undefined && signal !== null && !(typeof signal === 'string' && signal in constants.signals)) throw invalid('signal', 'a signal name such as SIGHUP, or null', signal, 'hotUpgrade()');
  for (const name of FUNCTIONS) if (options[name] !== undefined && typeof options[name] !== 'function') throw invalid(name, 'a function', options[name], 'hotUpgrade()');
  // null is the default, as drain() takes it.
  for (const name of DURATIONS) if (options[name] != null) checkMs(name, options[name], 'hotUpgrade()');
  // A successor cannot be ready in no time: every upgrade would fail.
  if (options.readyTimeout === 0) throw invalid('readyTimeout', 'a number of milliseconds from 1 to 2147483647', 0, 'hotUpgrade()');
  if (exit !== undefined && typeof exit !== 'boolean') throw invalid('exit', 'true or false', exit, 'hotUpgrade()');
  return options;
}

/**
 * Removes the control sockets that processes killed before they could remove theirs left in
 * `dir`. Under systemd nobody else does: every SIGKILL, crash or watchdog abort of the service
 * left one more socket-activation-PID.ctl in $XDG_RUNTIME_DIR or the temp dir, for good. Only a
 * socket file whose pid is gone and on which nobody accepts goes: a process of another pid
 * namespace sharing the directory may look gone and still serve its own.
 */
function removeStaleControlSockets(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^socket-activation-([1-9][0-9]*)\.ctl$/.exec(name)?.[1]);
    if (!pid || pid === process.pid || isAlive(pid)) continue;
    const path = `${dir}/${name}`;
    let ino: number;
    try {
      const st = lstatSync(path);
      if (!st.isSocket()) continue;
      ino = st.ino;
    } catch {
      continue;
    }
    const probe = net.connect(path);
    probe.once('connect', () => probe.destroy());
    probe.once('error', (err: NodeJS.ErrnoException) => {
      // The same file still: not one a new process of that pid has made since.
      if (err.code === 'ECONNREFUSED' && lstatSafe(path)?.ino === ino) unlinkQuietly(path);
    });
    probe.unref();
  }
}

function lstatSafe(path: string): { ino: number } | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}
