import { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from '../clock.js';
import { inspect } from '../descriptor.js';
import { HANDOFF_FD_VARIABLE } from '../handoff-channel.js';
import { KEPT_PREFIX } from '../kept-connections.js';
import { isConnection } from '../select.js';
import { native, signalName } from '../native.js';
import { spawnActivated } from '../spawn.js';
import { rememberStart, successorCwd } from '../successor-command.js';
import { SUPERVISOR_DIR_VARIABLE, successorMarker } from '../successor-serving.js';
import type { BoundSocket } from '../launcher/bind.js';
import { FdStore } from './fd-store.js';
import { NotifyServer, type NotifyMessage } from './notify-server.js';
import { Deadline, longTimeout } from './deadline.js';
import { children, startReaper } from './reaper.js';
import { commandProblem, directoryProblem, openFileLimit } from '../start-problems.js';
import { isAlive, procStat } from '../processes.js';
import { printable } from '../address.js';
import { removeControlSocket } from '../control-path.js';
import { stderrLines, type Priority } from '../journal.js';
import { isHangUp, watchTerminal } from '../terminal.js';

/** How the supervised command ended for good. */
export type SupervisorExit = { readonly code: number; readonly signal?: undefined } | { readonly code?: undefined; readonly signal: NodeJS.Signals };

/** Options of the supervisor (the launcher's command line). */
export interface SupervisorOptions {
  readonly command: readonly string[];
  readonly sockets: readonly BoundSocket[];
  readonly env?: Record<string, string>;
  /** Restart policy after the child exits by itself: like systemd's Restart=. @default 'on-failure' */
  readonly restart?: 'no' | 'on-failure' | 'always';
  /** How long a reload waits for the new child's READY=1 (ms). @default 30000 */
  readonly readyTimeoutMs?: number;
  /** WatchdogSec= in ms; 0 turns it off. @default 0 */
  readonly watchdogMs?: number;
  /** TimeoutStopSec= in ms: how long a stopping child (or a draining old one) has before SIGKILL. @default 90000 */
  readonly stopTimeoutMs?: number;
  /** FileDescriptorStoreMax=. @default 64 */
  readonly fdStoreMax?: number;
  /**
   * Where messages go (status lines, restarts), each with its priority (info when not given).
   * @default stderr, with journald's `<N>` priority prefix when it is the journal (JOURNAL_STREAM)
   */
  readonly log?: (line: string, priority?: Priority) => void;
  /**
   * Called by run() once its signal handlers are in place: the signals that came before (the
   * CLI records them from its first line). A stop among them ends the service before the
   * command starts; a SIGHUP is dropped, as the command starts with what is there now.
   */
  readonly pendingSignals?: () => readonly NodeJS.Signals[];
}

interface Generation {
  readonly child: ChildProcess;
  readonly pid: number;
  /** MAINPID= moves the role (e.g. to a hot-upgrade successor the child started). */
  mainPid: number;
  /** The start time of the MAINPID= process (procStat()), to tell it from a process given its pid later. */
  mainStart?: number;
  ready: boolean;
  stopping: boolean;
  /** When it was started, by the monotonic clock (now()): the start limit and the backoff count from it. */
  readonly startedAt: number;
  /** The supervisor's end of the hand-over channel: idle connections of a child that stops beside this one (an old one after a reload, a new one that failed its reload). */
  handoffFd?: number;
  watchdogUsec: number;
  watchdogTimer?: NodeJS.Timeout;
  /** SIGKILL after the stop timeout, once it was asked to stop. */
  killDeadline?: Deadline;
  /** The stop signals it was sent: each once (a draining child's process.once() handler is gone after the first). */
  readonly stopSignals: Set<NodeJS.Signals>;
  /** A reload's wait for its READY=1. */
  readyDeadline?: Deadline;
  onReady?: () => void;
  exit?: SupervisorExit;
  readonly exited: Promise<SupervisorExit>;
  /** The process we started has exited; the main process it named (MAINPID=) carries on. */
  childGone?: boolean;
  /** How the main process ended, when it was reaped before the child's own exit was handled. */
  mainExit?: SupervisorExit;
  /** Keeps the event loop alive for a main process that is not a libuv child (the reaper's timer is unref'd). */
  keepAlive?: NodeJS.Timeout;
  /** Ends the generation with this exit (once). */
  end(exit: SupervisorExit): void;
  /** A reload replaced it: it was sent SIGTERM to drain, and its exit is said when it comes. */
  replaced?: boolean;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
const CLEAN_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE'];
/** How often stored fds are checked for hang-ups (systemd's event loop sees them at once). */
const SWEEP_INTERVAL_MS = 1000;
/** At most this many lines about ignored notify messages per window (logIgnored()). */
const IGNORED_BURST = 20;
const IGNORED_WINDOW_MS = 10_000;
/** systemd's USEC_INFINITY. */
const USEC_INFINITY = 2n ** 64n - 1n;

/**
 * A one-service supervisor playing systemd's part where there is none: it holds the listening
 * sockets for its whole life, starts the command with them (LISTEN_*), gives it a NOTIFY_SOCKET
 * of its own and follows the notify protocol (READY, STATUS, WATCHDOG, MAINPID, the fd store,
 * BARRIER), reloads with zero downtime on SIGHUP (new child, READY, then SIGTERM to the old one),
 * restarts a crashed child with backoff, and passes stop signals on.
 */
export class Supervisor {
  private readonly dir: string;
  private readonly notify: NotifyServer;
  private readonly store: FdStore;
  private readonly generations = new Set<Generation>();
  private current: Generation | undefined;
  private stopSignal: NodeJS.Signals | undefined;
  private reloading: Promise<boolean> | undefined;
  /** The one more reload asked for during `reloading`, started once that one settles. */
  private queuedReload: Promise<boolean> | undefined;
  private readonly log: (line: string, priority?: Priority) => void;
  /** When the command was started (not by a reload: systemd counts no reload against the start limit). */
  private readonly recentStarts: number[] = [];
  /** Failures in a row of children that never became healthy (READY=1 or 5 s up): the backoff exponent. */
  private unhealthyInARow = 0;
  private finish!: (exit: SupervisorExit) => void;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private stopReaper: (() => void) | undefined;
  private readonly sweeper: NodeJS.Timeout;
  /** Set once the service is ending (a stop, or no restart): what the supervisor ends with, the main child's exit once known. */
  private ending: SupervisorExit | undefined;
  /** Exited children whose leftover processes are still being stopped: the end waits for them. */
  private cleaning = 0;
  /** The stop signals passed on so far: each is sent once. */
  private readonly stopsSent = new Set<NodeJS.Signals>();
  /** The crash restart waiting out its backoff. */
  private restartTimer: NodeJS.Timeout | undefined;
  /** Lines about ignored notify messages in the current window (opened at `since`, by now(); -Infinity: none open), and those left unsaid (see logIgnored()). */
  private readonly ignoredLines = { since: -Infinity, said: 0, unsaid: 0, timer: undefined as NodeJS.Timeout | undefined };

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log ?? ((line, priority) => process.stderr.write(stderrLines(`socket-activation: ${line}`, priority ?? 'info')));
    this.store = new FdStore(options.fdStoreMax ?? 64);
    this.dir = privateDirectory();
    try {
      // A child that drops privileges (setpriv, gosu, su-exec) must still reach NOTIFY_SOCKET,
      // as it reaches systemd's: the directory is searchable and the socket writable by all.
      // Only messages from processes of the service count (onNotify()).
      chmodSync(this.dir, 0o711);
      this.notify = new NotifyServer(
        this.dir,
        (m) => this.onNotify(m),
        (pid, why) => this.logIgnored(`ignored a notify message from pid ${pid}: ${why} (systemd ignores it too)`),
      );
    } catch (err) {
      rmSync(this.dir, { recursive: true, force: true });
      throw err;
    }
    const limit = openFileLimit();
    const needed = this.store.max + options.sockets.length + 32;
    if (limit !== undefined && needed > limit) {
      this.log(`warning: the fd store may hold ${this.store.max} fds, but this process may open only ${limit} (RLIMIT_NOFILE): raise the limit (ulimit -n) or lower --fd-store-max, or stores and starts will fail with EMFILE`, 'warning');
    }
    this.sweeper = setInterval(() => this.sweepStore(), SWEEP_INTERVAL_MS).unref();
    rememberStart();
  }

  /** Starts the command; resolves with how it ended for good (to become the launcher's exit). */
  run(): Promise<SupervisorExit> {
    const done = new Promise<SupervisorExit>((resolve) => (this.finish = resolve));
    closeOnExecInherited();
    const terminal = watchTerminal();
    for (const signal of [...FORWARDED, ...STOP_SIGNALS, 'SIGHUP' as const]) {
      const handler = (): void => {
        if (signal === 'SIGHUP') void this.onSighup(terminal);
        else if (STOP_SIGNALS.includes(signal)) this.stop(signal);
        else if (this.current) this.kill(this.current, signal);
      };
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
    // Orphaned processes of the service come to us, as they do to systemd: among them a main
    // process that a child started and handed its role to (MAINPID=) before exiting.
    const subreaper = native().becomeSubreaper() === 0;
    if (process.pid === 1 || subreaper) {
      this.stopReaper = startReaper(
        () => [...this.generations].filter((g) => !g.childGone).map((g) => g.pid),
        (pid, exit) => this.onReaped(pid, exit),
      );
    }
    const stopped = this.options.pendingSignals?.().find((s) => STOP_SIGNALS.includes(s));
    // A command that cannot run would only go round the restart limit with the shell's terse
    // message: say why once, and end as the shell would (127 or 126).
    const problem = stopped ? undefined : commandProblem(this.options.command[0]!, successorCwd(), this.options.env?.PATH ?? process.env.PATH);
    if (stopped) {
      this.stop(stopped);
    } else if (problem) {
      this.log(`cannot start the command: ${problem.why}`, 'err');
      this.endService({ code: problem.status });
    } else {
      this.startGeneration();
    }
    return done.finally(() => this.cleanUp());
  }

  /**
   * Zero-downtime reload: a new child with the same sockets (and the fd store), READY=1 within
   * the timeout, then SIGTERM to the old one, whose idle connections (stored while it drains)
   * are passed on to the new one. A new child that exits or is not ready in time is killed and
   * the old one keeps serving. Resolves whether the new child took over. Asked for during a
   * reload, it follows that one.
   */
  reload(): Promise<boolean> {
    if (!this.current || this.ending) {
      this.log(this.ending ? 'reload ignored: stopping' : 'reload ignored: no child is running (it is waiting to be restarted)');
      return Promise.resolve(false);
    }
    if (this.reloading) {
      // Not joined to the running reload (systemd refuses to merge one into it too): the request
      // may come from a deploy made after that reload started its child, which must then not be
      // the last. Any number of them during one reload make one more.
      if (this.queuedReload) {
        this.log('reload already queued: this request joins the queued one');
        return this.queuedReload;
      }
      this.log('reload in progress: another one follows once it settles');
      const next = (): Promise<boolean> => {
        this.queuedReload = undefined;
        return this.reload();
      };
      return (this.queuedReload = this.reloading.then(next, next));
    }
    this.reloading = this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /** A reload, unless it is the hang-up of the terminal the launcher runs in: then a stop. */
  private async onSighup(terminal: boolean): Promise<void> {
    if (terminal && (await isHangUp())) {
      this.log('the terminal hung up: stopping, as for SIGTERM (SIGHUP reloads while the terminal is there, or when the launcher was started without one)');
      this.stop('SIGTERM');
    } else {
      void this.reload();
    }
  }

  private async doReload(): Promise<boolean> {
    const old = this.current!;
    const fresh = this.startGeneration(true);
    const timeout = this.options.readyTimeoutMs ?? 30_000;
    let deadline!: Deadline;
    const outcome = await new Promise<'ready' | 'exited' | 'timeout'>((resolve) => {
      deadline = fresh.readyDeadline = new Deadline(timeout, () => resolve('timeout'), this.readNotifyBacklog);
      fresh.onReady = () => {
        deadline.clear();
        resolve('ready');
      };
      void fresh.exited.then(() => {
        deadline.clear();
        resolve('exited');
      });
    });
    fresh.readyDeadline = undefined;
    if (this.ending) {
      // The stop ends the new child as it ends the old one: nothing failed, and nothing serves
      // on. A READY=1 it sends while it stops changes nothing: the old child stays the main one,
      // already stopping with the stop's signal, not sent SIGTERM as replaced on top of it.
      this.log(`reload cancelled: stopping${fresh.pid > 0 ? ` (the new child, pid ${fresh.pid}, is stopped too)` : ''}`);
      return false;
    }
    if (outcome !== 'ready') {
      const oldGone = old.exit !== undefined;
      this.log(
        `reload failed: the new child ${fresh.pid > 0 ? `(pid ${fresh.pid}) ` : ''}${outcome === 'exited' ? (fresh.pid > 0 ? 'exited before READY=1' : 'did not start') : `sent no READY=1 within ${timeout} ms${deadline.extended ? ' and the time it asked for (EXTEND_TIMEOUT_USEC=)' : ''}`}; ` +
          (oldGone ? `pid ${old.mainPid} has exited too` : `pid ${old.mainPid} keeps serving`),
        'err',
      );
      if (outcome === 'timeout') {
        if (!old.ready) this.log('neither child sent READY=1: a reload waits for it (ready() of socket-activation, or systemd-notify --ready)', 'warning');
        // As systemd after a start timeout: SIGTERM, SIGKILL only after the stop timeout. The
        // new child may be serving already (it shares the listeners): it finishes that.
        this.stopGeneration(fresh, 'SIGTERM');
      } else {
        fresh.stopping = true;
        this.kill(fresh, 'SIGKILL');
      }
      // The old child ended meanwhile: what its exit would have done (a restart, or the end).
      if (oldGone && !this.ending) this.afterExit(old);
      return false;
    }
    this.current = fresh;
    if (old.exit) {
      this.log(`reloaded: pid ${fresh.pid} serves (pid ${old.pid} had exited meanwhile: ${describeExit(old.exit)})`);
      return true;
    }
    try {
      // Before SIGTERM: its drain may then keep idle connections a little (drain()'s `linger`).
      // The one that serves is its MAINPID= process, after a hot upgrade of its own.
      for (const pid of new Set([old.pid, old.mainPid])) writeFileSync(successorMarker(this.dir, pid), '');
    } catch {
      // Without the mark it drains as for a stop: nothing is lost.
    }
    old.replaced = true;
    this.stopGeneration(old, 'SIGTERM');
    this.log(`reloaded: pid ${fresh.pid} serves, pid ${old.mainPid} drains`);
    return true;
  }

  /** A process the reaper collected: the end of a generation whose main process it was. */
  private onReaped(pid: number, raw: { code?: number; signal?: number }): void {
    const g = [...this.generations].find((x) => x.mainPid === pid && x.mainPid !== x.pid);
    if (!g) return;
    const name = raw.signal !== undefined ? signalName(raw.signal) : undefined;
    const exit: SupervisorExit = name ? { signal: name } : { code: raw.code ?? 1 };
    if (g.childGone) g.end(exit);
    else g.mainExit = exit;
  }

  /** Drops stored fds that hung up (see FdStore.sweep()). */
  private sweepStore(): void {
    for (const { entry, why } of this.store.sweep()) {
      this.log(
        why === 'hung-up'
          ? `fd store: ${JSON.stringify(entry.name)} hung up (POLLHUP or POLLERR); closed it`
          : `fd store: fd ${entry.fd} (${JSON.stringify(entry.name)}) is no longer the file stored; forgot it`,
      );
    }
  }

  private startGeneration(forReload = false): Generation {
    // The child gets the store as systemd would hand it over now.
    this.sweepStore();
    const listeners = this.options.sockets.map((s) => ({ fd: s.fd, name: s.address.name }));
    const stored = this.store.list().map((e) => ({ fd: e.fd, name: e.name }));
    const fds = [...listeners, ...stored];
    const env: Record<string, string | undefined> = { ...this.options.env, NOTIFY_SOCKET: this.notify.path, [SUPERVISOR_DIR_VARIABLE]: this.dir, [HANDOFF_FD_VARIABLE]: undefined };
    const watchdogUsec = (this.options.watchdogMs ?? 0) * 1000;
    env.WATCHDOG_USEC = watchdogUsec > 0 ? String(watchdogUsec) : undefined;
    // As systemd 254 and later: the store's size when it is enabled, so that a service can tell
    // whether what it stores is kept (252 sets nothing).
    env.FDSTORE = this.store.max > 0 ? String(this.store.max) : undefined;
    // Every child gets a hand-over channel, not only a reload's: whichever child serves may be
    // sent the idle connections of one that stops beside it — the old child after a reload,
    // and a reload's new child that timed out (it served already) while the first child, or a
    // restarted one, keeps serving. Without one they would wait in the store for the next start.
    let pair: [number, number] | undefined;
    const p = native().socketPair(native().constants.SOCK_DGRAM);
    if (typeof p !== 'number') pair = p;
    // The hand-over channel sits right after the LISTEN_FDS range, outside of it.
    if (pair) env[HANDOFF_FD_VARIABLE] = String(3 + fds.length);
    // Where the supervisor started, by the name it was given: a symlinked release directory
    // switched since is resolved anew, as systemd's WorkingDirectory= is on every start.
    const cwd = successorCwd();
    let child: ChildProcess;
    try {
      child = spawnActivated(this.options.command, pair ? [...fds, { fd: pair[1], name: '' }] : fds, { env, cwd, detached: true, listenFdCount: fds.length });
    } catch (err) {
      // Node throws the errors it does not emit (ENOTDIR, ELOOP, E2BIG, …): the same failed start.
      child = new ChildProcess();
      process.nextTick(() => child.emit('error', err));
    }
    if (pair) native().close(pair[1]);
    let resolveExit!: (e: SupervisorExit) => void;
    const g: Generation = {
      end: (exit) => {
        if (g.exit) return;
        g.exit = exit;
        this.generations.delete(g);
        clearTimeout(g.watchdogTimer);
        g.killDeadline?.clear();
        clearInterval(g.keepAlive);
        if (g.handoffFd !== undefined) native().close(g.handoffFd);
        for (const pid of new Set([g.pid, g.mainPid])) rmSync(successorMarker(this.dir, pid), { force: true });
        // The child's own was removed at its exit (its pid may be another process's by now).
        // Not a live process's that has its pid now.
        if (g.mainPid !== g.pid && (procStat(g.mainPid) === undefined || isNamedMain(g))) removeControlSocket(g.mainPid, { ...process.env, ...this.options.env });
        this.cleaning++;
        void this.stopLeftovers(g).then(() => {
          this.cleaning--;
          resolveExit(exit);
          this.onExit(g);
        });
      },
      child,
      pid: child.pid ?? -1,
      mainPid: child.pid ?? -1,
      ready: false,
      stopping: false,
      startedAt: now(),
      handoffFd: pair?.[0],
      watchdogUsec,
      stopSignals: new Set(),
      exited: new Promise((resolve) => (resolveExit = resolve)),
    };
    this.generations.add(g);
    if (!forReload) {
      this.current = g;
      this.recentStarts.push(g.startedAt);
    }
    // No watchdog yet: systemd arms it when the start is complete (READY=1), or at a ping (below).
    child.once('error', (err) => {
      // Node names the shell (`spawn /bin/sh ENOENT`) when it is the directory that is wrong.
      const code = (err as NodeJS.ErrnoException).code;
      const cwdProblem = code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EACCES' ? directoryProblem(cwd) : undefined;
      const namesBytes = Buffer.byteLength(fds.map((f) => f.name).join(':'));
      this.log(
        `could not start ${this.options.command[0]}: ` +
          (cwdProblem ??
            (code === 'E2BIG'
              ? `${err.message}: the environment is too large for exec() (LISTEN_FDNAMES of ${fds.length} fds takes ${namesBytes} bytes; one variable may hold 128 KiB): store fewer fds or shorter names (FDNAME=)`
              : err.message)),
        'err',
      );
      // Node reports a failed spawn (EAGAIN, EMFILE, …) with 'error' and no 'exit': count it
      // as a start that failed, as a shell does for a command it cannot run.
      if (child.pid === undefined) g.end({ code: 127 });
    });
    child.once('exit', (code, signal) => {
      const own: SupervisorExit = signal ? { signal } : { code: code ?? 1 };
      removeControlSocket(g.pid, { ...process.env, ...this.options.env });
      // The child handed the main role to a process of the service (a hot upgrade's successor,
      // say): the service goes on with it, as under systemd. Once re-parented to us (the
      // subreaper) the reaper collects it; until then, or where that never happens, a check
      // every second sees it go.
      const handedOver = g.mainPid !== g.pid && g.mainExit === undefined && ![...this.generations].some((x) => x.pid === g.mainPid);
      if (handedOver && isNamedMain(g)) {
        g.childGone = true;
        g.keepAlive = setInterval(() => {
          if (isNamedMain(g)) return;
          this.log(`pid ${g.mainPid} (MAINPID=) is gone, collected by another process: its exit status is unknown, counted as a failure`, 'warning');
          g.end({ code: 1 });
        }, 1000);
        // A hot upgrade's old process exits at once when its successor has died (it leaves it to us).
        const dead = procStat(g.mainPid)?.state === 'Z';
        this.log(`pid ${g.pid} ${describeExit(own)}; pid ${g.mainPid} (MAINPID=) ${dead ? 'has exited too: its status follows' : 'is the main process now'}`);
        return;
      }
      g.end(g.mainExit ?? own);
    });
    return g;
  }

  private onExit(g: Generation): void {
    // Its drain was announced ("pid N drains"): an operator must also learn how it ended, above
    // all when it crashed or was killed at the stop timeout, cutting what it still served.
    if (g.replaced) {
      const exit = g.exit!;
      const pid = g.childGone ? g.mainPid : g.pid;
      const clean = cleanExit(exit);
      this.log(`pid ${pid} (replaced by a reload) ${describeExit(exit)}${clean ? '' : ' while it drained: what it still served may have been cut (see its log)'}`, clean ? 'info' : 'warning');
    }
    if (this.ending) {
      // The end comes when every child has exited (as systemd waits for the whole cgroup);
      // the main child's exit becomes ours.
      if (g === this.current) {
        this.ending = g.exit!;
        // As systemd's "Main process exited, code=exited, status=1/FAILURE" at a stop: else only
        // the launcher's exit status tells that the stop (the drain, say) failed.
        if (this.stopSignal && !cleanExit(g.exit!) && g.exit!.signal !== this.stopSignal) this.log(`pid ${g.childGone ? g.mainPid : g.pid} ${describeExit(g.exit!)} after ${this.stopSignal}: the stop did not go cleanly (see its log)`, 'warning');
      }
      if (this.generations.size === 0 && this.cleaning === 0) this.finish(this.ending);
      return;
    }
    if (g !== this.current) return; // an old child that drained, or a failed reload
    // During a reload the new child may still take over; the reload decides (doReload()).
    if (this.reloading) return;
    this.afterExit(g);
  }

  /** Restart (with backoff) or finish after the current child `g` exited by itself. */
  private afterExit(g: Generation): void {
    const exit = g.exit!;
    const failed = !cleanExit(exit);
    const policy = this.options.restart ?? 'on-failure';
    const restart = policy === 'always' || (policy === 'on-failure' && failed);
    const how = g.pid > 0 ? `pid ${g.childGone ? g.mainPid : g.pid} ${describeExit(exit)}` : `${this.options.command[0]} did not start`;
    if (!restart) {
      // The launcher's exit status says it too, but not in the log an operator reads.
      if (failed) this.log(`${how}; not restarted (--restart ${policy}): exiting with its status`, 'err');
      return this.endService(exit);
    }
    const at = now();
    while (this.recentStarts.length > 0 && this.recentStarts[0]! < at - 10_000) this.recentStarts.shift();
    // Like systemd's default start limit (StartLimitBurst=5 in 10 s, the first start included):
    // a command that cannot stay up is not restarted forever.
    if (this.recentStarts.length >= 5) {
      this.log(`${how}; started ${this.recentStarts.length} times in 10 s, giving up`, 'err');
      return this.endService(exit);
    }
    // A child that had been healthy is restarted at once (100 ms, systemd's RestartSec=
    // default); one that never got going waits longer each time.
    const healthy = g.ready || at - g.startedAt >= 5_000;
    this.unhealthyInARow = healthy ? 0 : this.unhealthyInARow + 1;
    const delay = Math.min(100 * 2 ** this.unhealthyInARow, 5_000);
    this.log(`${how}; restarting in ${delay} ms (the sockets stay open)`, failed ? 'warning' : 'info');
    this.current = undefined;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.startGeneration();
    }, delay);
  }

  private stop(signal: NodeJS.Signals): void {
    // As systemd, which does not signal a unit that is stopping already: a second SIGTERM would
    // kill a child whose handler was process.once() in the middle of its drain. Another stop
    // signal (SIGINT after SIGTERM, say) is passed on: that is asking for more.
    if (this.stopsSent.has(signal)) {
      // A second Ctrl-C ends a Node app whose handler was process.once() when it runs on its
      // own, so a developer at the terminal expects it to here too: say what does.
      this.log(`${signal} again: stopping already (SIGKILL follows ${this.options.stopTimeoutMs ?? 90_000} ms after the first stop signal if needed; to end it now, send another stop signal: SIGQUIT, Ctrl-\\ in a terminal, ends a Node process that does not handle it)`);
      return;
    }
    this.stopsSent.add(signal);
    this.stopSignal ??= signal;
    this.endService({ signal }, signal);
  }

  /**
   * Ends the service: every child still running (an old one draining after a reload, say) is
   * stopped, and the supervisor finishes once all are gone, with `exit` unless the main child's
   * own exit comes later.
   */
  private endService(exit: SupervisorExit, signal: NodeJS.Signals = this.stopSignal ?? 'SIGTERM'): void {
    // Between a crash and its restart: nothing may start any more.
    clearTimeout(this.restartTimer);
    this.ending ??= exit;
    // A child that has exited may still be having its leftovers stopped: the end follows that
    // (onExit()), or they would outlive the supervisor holding its sockets.
    if (this.generations.size === 0 && this.cleaning === 0) return this.finish(this.ending);
    // Each stop signal is passed on as it came (a second, different one too), as tini does.
    for (const g of this.generations) this.stopGeneration(g, signal);
  }

  /**
   * Signals `g` to stop; SIGKILL to its process group if it is still there after the stop timeout
   * (TimeoutStopSec=; for the watchdog's SIGABRT too, as systemd's TimeoutAbortSec= defaults to it:
   * a child that catches SIGABRT and hangs must not be left running).
   */
  private stopGeneration(g: Generation, signal: NodeJS.Signals): void {
    g.stopping = true;
    // As systemd outside START_POST/RUNNING/RELOAD: a draining child may well stop pinging, and a
    // SIGABRT then would cut its requests in flight; the stop timeout bounds it instead.
    clearTimeout(g.watchdogTimer);
    // An old child draining after a reload has had its SIGTERM: a stop of the service must not
    // send it another (see stop()).
    if (!g.stopSignals.has(signal)) {
      g.stopSignals.add(signal);
      this.kill(g, signal);
      // As systemd's kill_and_sigcont(): a stopped process (SIGSTOP, a debugger) would otherwise
      // sit on the signal until the stop timeout.
      if (signal !== 'SIGKILL') this.kill(g, 'SIGCONT');
    }
    if (g.killDeadline) return;
    const ms = this.options.stopTimeoutMs ?? 90_000;
    g.killDeadline = new Deadline(ms, () => {
      this.log(`pid ${g.pid} did not stop within ${ms} ms of ${signal}${g.killDeadline!.extended ? ' and the time it asked for (EXTEND_TIMEOUT_USEC=)' : ''}; killing it with SIGKILL`, 'warning');
      this.kill(g, 'SIGKILL');
    }, this.readNotifyBacklog);
  }

  /**
   * What the service left in the child's process group once its main process is gone (a
   * shell's background job, a helper) gets SIGTERM (and SIGCONT), then SIGKILL after the stop
   * timeout, as systemd stops what is left in the cgroup (KillMode=control-group) before a
   * restart or the end; a group that was sent a stop signal already only gets the SIGKILL, if it
   * comes to that. Resolves once the group is empty. Processes that left the group
   * (setsid() daemons) are not reached: there is no cgroup here.
   */
  private async stopLeftovers(g: Generation): Promise<void> {
    // Orphans re-parented to us cannot be told apart by generation: they go when the last does.
    const orphans = (): number[] => (this.generations.size === 0 ? this.orphans() : []);
    // The group of another process that has the child's pid by now is none of ours.
    const group = (): boolean => g.pid > 0 && isChildsPid(g);
    const left = (): boolean => (group() && groupAlive(g.pid)) || orphans().length > 0;
    if (!left()) return;
    // A group sent a stop signal already (a stop, a reload's drain, the watchdog's SIGABRT) is
    // stopping: what is left there got that signal with the child and may just be slower (tsx's
    // esbuild, a worker still draining). It is waited for, as systemd waits for the cgroup once
    // the main process has exited in a stop, and not signalled again: a second SIGTERM kills a
    // process whose handler was process.once().
    const asked = g.stopSignals.size > 0;
    // A process of the group re-parented to us (its parent exited) gets the group's signal: one
    // of its own would be a second.
    const outside = (): number[] => orphans().filter((pid) => !(group() && procStat(pid)?.pgrp === g.pid));
    const signal = (name: NodeJS.Signals, all = false): void => {
      if (group() && (all || !asked)) signalGroup(g.pid, name);
      for (const pid of outside()) sendSignal(pid, name);
    };
    const ms = this.options.stopTimeoutMs ?? 90_000;
    const reparented = outside();
    if (!asked || reparented.length > 0) {
      const where = [asked ? '' : 'in its process group', reparented.length > 0 ? `re-parented to the supervisor (${reparented.join(', ')})` : ''].filter(Boolean).join(' or ');
      this.log(`pid ${g.pid} left processes ${where}; sending them SIGTERM`, 'warning');
      signal('SIGTERM');
      signal('SIGCONT');
    }
    const deadline = now() + ms;
    let killed = false;
    while (left()) {
      if (!killed && now() >= deadline) {
        killed = true;
        this.log(`the processes pid ${g.pid} left did not stop within ${ms} ms of ${asked ? [...g.stopSignals][0] : 'SIGTERM'}; killing them with SIGKILL`, 'warning');
        signal('SIGKILL', true);
      }
      await sleep(50);
    }
  }

  /**
   * Processes of the service that were re-parented to the supervisor (a child subreaper, or PID
   * 1): only descendants of its children get here, daemons that double-forked among them, so
   * they are the service's, though not of a known generation. Empty without /proc.
   */
  private orphans(): number[] {
    if (!this.stopReaper) return [];
    const known = new Set([...this.generations].flatMap((x) => [x.pid, x.mainPid]));
    let ours: number[];
    try {
      ours = children();
    } catch {
      return [];
    }
    // A zombie waits for the reaper, not for a signal.
    return ours.filter((pid) => {
      const stat = procStat(pid);
      return !known.has(pid) && stat !== undefined && stat.state !== 'Z';
    });
  }

  /** Whether `pid` is an orphan of the service (see orphans()) or a descendant of one. */
  private isOrphan(pid: number): boolean {
    if (!this.stopReaper || pid <= 1) return false;
    const known = new Set([...this.generations].map((x) => x.pid));
    let stat = procStat(pid);
    for (let hops = 0; stat && hops < 64; hops++) {
      if (stat.ppid === process.pid) return !known.has(pid);
      pid = stat.ppid;
      stat = procStat(pid);
    }
    return false;
  }

  /**
   * The generation an orphan came from, by the LISTEN_PID its environment holds: each child
   * starts with its own pid there, and a daemon it double-forks keeps that environment. A new
   * child's daemon, re-parented during a reload, is then the new child's (its READY=1 completes
   * the reload), not the serving one's. Undefined when the environment cannot be read or holds
   * no LISTEN_PID (the package's `unsetEnvironment` removes it from what a child passes on).
   */
  private generationOfOrphan(pid: number): Generation | undefined {
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      return undefined;
    }
    const listenPid = /(?:^|\0)LISTEN_PID=(\d+)(?:\0|$)/.exec(environ)?.[1];
    return listenPid === undefined ? undefined : [...this.generations].find((g) => g.pid === Number(listenPid));
  }

  private kill(g: Generation, signal: NodeJS.Signals): void {
    if (g.pid <= 0) return; // never started: process.kill(-(-1)) would be kill(1, …)
    // A MAINPID= process in the child's group (a hot upgrade's successor) gets the group's
    // signal: one more would be a second SIGTERM, which kills a process whose handler was
    // process.once() in the middle of its drain. systemd signals each process once too.
    // Not once it is gone: its pid may be another process's by now.
    const mainOutside = g.mainPid !== g.pid && isNamedMain(g) && procStat(g.mainPid)?.pgrp !== g.pid;
    // The child leads its own process group (detached): signal the whole group, as a terminal
    // would; not once another process has the child's pid (and may lead a group of that number).
    if (isChildsPid(g)) {
      try {
        process.kill(-g.pid, signal);
      } catch {
        try {
          g.child.kill(signal);
        } catch {
          // gone
        }
      }
    }
    if (mainOutside) {
      try {
        process.kill(g.mainPid, signal);
      } catch {
        // gone
      }
    }
  }

  private armWatchdog(g: Generation): void {
    clearTimeout(g.watchdogTimer);
    if (g.watchdogUsec <= 0 || g.exit || g.stopping) return;
    const timer = (g.watchdogTimer = longTimeout(g.watchdogUsec / 1000, () => {
      this.readNotifyBacklog();
      // A ping that waited re-armed it (or a message turned it off, or the child is stopping).
      if (g.watchdogTimer !== timer || g.watchdogUsec <= 0 || g.exit || g.stopping) return;
      this.log(`pid ${g.mainPid}: watchdog timeout (no WATCHDOG=1 within ${g.watchdogUsec / 1000} ms), killing it with SIGABRT`, 'err');
      this.stopGeneration(g, 'SIGABRT');
    }));
  }

  // Before a timeout acts on a child: the messages that wait in the notify socket came before it
  // fired, but a supervisor that was stopped (Ctrl-Z in its terminal, SIGSTOP) runs its timers
  // before it polls the socket once it is continued, and would abort a child that pinged all
  // along, or fail a reload whose READY=1 waits there.
  private readonly readNotifyBacklog = (): void => this.notify.readPending();

  // Like NotifyAccess=all: a message counts for the generation whose child, declared main
  // process or another process of the service (see belongsTo(), our stand-in for the cgroup)
  // sent it; anyone else is ignored, and so is a sender that is gone by the time the message is
  // read, as systemd cannot place one either (send BARRIER=1 before exiting). Without
  // SCM_CREDENTIALS (pid 0: systems other than Linux; on Linux NotifyServer drops a message
  // without a pid) a message can only be taken as the current child's.
  private onNotify(m: NotifyMessage): void {
    const generations = [...this.generations];
    const g =
      m.pid === 0
        ? this.current
        : (generations.find((x) => (x.pid === m.pid && isChildsPid(x)) || (x.mainPid === m.pid && isNamedMain(x))) ??
          generations.find((x) => isChildsPid(x) && belongsTo(m.pid, x.pid)) ??
          (this.isOrphan(m.pid) ? (this.generationOfOrphan(m.pid) ?? this.current) : undefined));
    const keep = new Set<number>();
    try {
      if (!g) {
        if (m.pid !== 0) this.logIgnored(`ignored a notify message from pid ${m.pid}, which this supervisor did not start`);
        return;
      }
      const f = m.fields;
      const mainPid = f.get('MAINPID');
      if (mainPid !== undefined && !/^[1-9][0-9]*$/.test(mainPid)) this.log(`[${m.pid}] MAINPID=${JSON.stringify(mainPid)} ignored: not a pid (systemd warns and ignores it too)`, 'warning');
      else if (mainPid !== undefined) {
        // A child asked to stop, or replaced by a reload, that hands its role on would start a
        // second lineage beside the one that serves (or one the stop never reached).
        const refused = g.stopping ? 'this child is stopping (asked to stop, or replaced by a reload)' : this.isOrphan(Number(mainPid)) ? undefined : unsuitableMainPid(Number(mainPid), g.pid);
        if (refused) this.log(`[${m.pid}] MAINPID=${mainPid} refused: ${refused}`, 'warning');
        else if (g.mainPid !== Number(mainPid) || !isNamedMain(g)) {
          g.mainPid = Number(mainPid);
          g.mainStart = g.mainPid === g.pid ? undefined : procStat(g.mainPid)?.start;
          this.log(`[${m.pid}] MAINPID=${mainPid}: the main process of pid ${g.pid}'s generation`);
        }
      }
      const status = f.get('STATUS');
      // As systemd, which ignores a STATUS= that is not UTF-8; control characters are escaped,
      // so a status line cannot move the cursor or forge log lines on the terminal.
      if (status !== undefined && m.notUtf8.has('STATUS')) this.log(`[${m.pid}] STATUS= is not valid UTF-8: ignored`, 'warning');
      else if (status === '') this.log(`[${m.pid}] status cleared (STATUS= with no text)`);
      else if (status !== undefined) this.log(`[${m.pid}] ${printable(status)}`);
      if (f.get('ERRNO') !== undefined) this.log(`[${m.pid}] ERRNO=${f.get('ERRNO')}`);
      const usec = f.get('WATCHDOG_USEC');
      // As systemd: WATCHDOG_USEC=0, or infinity (2^64 − 1), turns the watchdog off, another
      // number replaces WatchdogSec=; one past 64 bits does not parse and is ignored.
      if (usec !== undefined && /^(0|[1-9][0-9]*)$/.test(usec) && BigInt(usec) <= USEC_INFINITY) g.watchdogUsec = BigInt(usec) === USEC_INFINITY ? 0 : Number(usec);
      // As systemd's service_reset_watchdog(): a ping arms it even before READY=1 (a child that
      // pings while booting asked for it).
      if (f.get('WATCHDOG') === '1' || usec !== undefined) this.armWatchdog(g);
      // As systemd: at least that long from now for the start (a reload's READY=1) or the stop.
      const extend = f.get('EXTEND_TIMEOUT_USEC');
      // As systemd: past 64 bits it does not parse (ignored); infinity means no end.
      if (extend !== undefined && /^[1-9][0-9]*$/.test(extend) && BigInt(extend) <= USEC_INFINITY) {
        const ms = BigInt(extend) === USEC_INFINITY ? Infinity : Number(extend) / 1000;
        g.readyDeadline?.extend(ms);
        g.killDeadline?.extend(ms);
      }
      if (f.get('WATCHDOG') === 'trigger') {
        this.log(`pid ${g.mainPid} asked for a watchdog timeout (WATCHDOG=trigger)`, 'warning');
        this.stopGeneration(g, 'SIGABRT');
      }
      const name = f.get('FDNAME');
      const validName = name !== undefined && isValidFdName(name);
      if (name !== undefined && !validName) this.log(`[${m.pid}] FDNAME=${JSON.stringify(name)} is not a valid fd name (ASCII without control characters or ":", at most 255): ignored`, 'warning');
      if (f.get('FDSTOREREMOVE') === '1' && validName) this.store.remove(name);
      if (f.get('FDSTORE') === '1') this.storeFds(g, validName ? name : 'stored', f.get('FDPOLL') !== '0', m.fds, keep);
      if (f.get('READY') === '1' && !g.ready) {
        g.ready = true;
        // Start-up is complete: from now on pings are due (systemd's START_POST).
        this.armWatchdog(g);
        g.onReady?.();
      }
    } finally {
      // Unused fds are closed at once; for BARRIER=1 that is the answer.
      for (const fd of m.fds) if (!keep.has(fd)) native().close(fd);
    }
  }

  /**
   * Says why a notify message was ignored, at most IGNORED_BURST times per IGNORED_WINDOW_MS,
   * then how many more there were once the window ends: the socket is writable by every user,
   * and one line per message would let any of them fill the supervisor's log (journald's rate
   * limit does that for systemd's own warnings).
   */
  private logIgnored(line: string): void {
    const w = this.ignoredLines;
    // Monotonic: on the wall clock a step back would hold the window open (and its count line
    // back) for as long, a step forward end it early.
    const at = now();
    if (at - w.since >= IGNORED_WINDOW_MS && w.timer === undefined) {
      w.since = at;
      w.said = 0;
    }
    if (w.said < IGNORED_BURST) {
      w.said++;
      this.log(w.said === IGNORED_BURST ? `${line}; more in the next ${IGNORED_WINDOW_MS / 1000} s are only counted` : line, 'warning');
      return;
    }
    w.unsaid++;
    w.timer ??= setTimeout(() => {
      this.log(`ignored ${w.unsaid} more notify message${w.unsaid === 1 ? '' : 's'} from processes that are not the service's`, 'warning');
      w.timer = undefined;
      w.unsaid = 0;
      w.since = -Infinity;
    }, Math.max(0, w.since + IGNORED_WINDOW_MS - at)).unref();
  }

  private storeFds(from: Generation, name: string, poll: boolean, fds: number[], keep: Set<number>): void {
    const successor = from.stopping && this.current !== from && this.current?.ready ? this.current : undefined;
    for (const fd of fds) {
      // An old child draining during a reload hands its idle connections (keepConnection()'s
      // default names, which keptConnections() gives to the server) to the new one, and a new
      // child that failed its reload to the one that keeps serving: that one is already running
      // and would only see the store at its next start. Anything else stays in the store, as
      // systemd keeps it.
      if (successor?.handoffFd !== undefined && name.startsWith(KEPT_PREFIX) && isConnectionFd(fd)) {
        const r = native().sendOn(successor.handoffFd, Buffer.from(`FDNAME=${name}`), Int32Array.of(fd));
        if (r >= 0) continue;
      }
      keep.add(fd);
      const result = this.store.add(name, fd, poll);
      if (result === 'full') this.log(`fd store full (${this.store.max}): dropped ${JSON.stringify(name)} from pid ${from.pid}`, 'warning');
    }
  }

  private cleanUp(): void {
    clearInterval(this.sweeper);
    clearTimeout(this.ignoredLines.timer);
    if (this.ignoredLines.unsaid > 0) this.log(`ignored ${this.ignoredLines.unsaid} more notify messages from processes that are not the service's`, 'warning');
    for (const g of this.generations) {
      clearTimeout(g.watchdogTimer);
      g.killDeadline?.clear();
      g.readyDeadline?.clear();
      clearInterval(g.keepAlive);
    }
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.stopReaper?.();
    this.notify.close();
    this.store.closeAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** mkdtemp in TMPDIR, with what to do when TMPDIR is the problem. */
function privateDirectory(): string {
  try {
    return mkdtempSync(join(tmpdir(), 'socket-activation-'));
  } catch (err) {
    (err as Error).message += ` (TMPDIR=${tmpdir()}: set TMPDIR to an existing, writable directory)`;
    throw err;
  }
}

/**
 * Marks every fd above stderr close-on-exec, so a child gets only the fds passed to it, as a
 * systemd service does. Node marks the fds it inherited only up to the first closed one above
 * fd 15 (libuv's uv_disable_stdio_inheritance()); one further up, left by whatever started the
 * supervisor, would otherwise reach every child.
 */
function closeOnExecInherited(): void {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    try {
      entries = readdirSync('/dev/fd');
    } catch {
      return;
    }
  }
  for (const entry of entries) if (Number(entry) > 2) native().setCloexec(Number(entry), true);
}

/**
 * Why `pid` cannot become the main process of the child `childPid`, or undefined if it can.
 * systemd accepts a pid in the service's cgroup (or any, from a root sender); without cgroups,
 * ours must be a process of the service (belongsTo()), and never this supervisor, PID 1 or a
 * pid that is gone.
 */
function unsuitableMainPid(pid: number, childPid: number): string | undefined {
  if (pid === process.pid || pid === 1) return 'that is the supervisor or init';
  if (pid === childPid) return undefined;
  const stat = procStat(pid);
  // No /proc (macOS, BSD): only liveness can be checked there.
  if (stat === undefined) return !existsSync('/proc/self/stat') && isAlive(pid) ? undefined : 'no such process';
  return belongsTo(pid, childPid) ? undefined : `it is not a process of this service (not in the child's session ${childPid}, nor started by it)`;
}

/**
 * Whether `pid` is a process of the service whose child is `childPid`: in the child's session
 * (each child is started with setsid(), and its descendants stay in that session unless they
 * leave it), or a descendant of it that left (a daemon calling setsid()). What the supervisor
 * has instead of systemd's cgroup.
 */
function belongsTo(pid: number, childPid: number): boolean {
  let stat = procStat(pid);
  if (stat?.session === childPid) return true;
  for (let hops = 0; stat && stat.ppid > 1 && hops < 64; hops++) {
    if (stat.ppid === childPid) return true;
    stat = procStat(stat.ppid);
  }
  return false;
}

/**
 * Whether the pid of `g`'s child still names the child, its process group or session: while the
 * child has not been collected, or when no process has that pid (a group or session of that
 * number then keeps it from being given to another process, so its members are the child's).
 * Once the child is collected, a process that has its pid is another one, which may have made
 * a group and session of that number of its own (setsid()).
 */
function isChildsPid(g: { pid: number; childGone?: boolean; exit?: SupervisorExit }): boolean {
  return (!g.childGone && g.exit === undefined) || procStat(g.pid) === undefined;
}

/**
 * Whether the MAINPID= process of `g` is still there and the very process that was named (a
 * zombie counts), not a later one given its pid: one that was not the supervisor's child is
 * collected by its own parent, and the supervisor only learns that it is gone from here, as
 * systemd does with a pidfd. The child itself keeps its pid until the supervisor reaps it.
 */
function isNamedMain(g: { pid: number; mainPid: number; mainStart?: number }): boolean {
  if (g.mainPid === g.pid) return true;
  const stat = procStat(g.mainPid);
  return stat !== undefined && (g.mainStart === undefined || stat.start === g.mainStart);
}

/** Whether process group `pgid` has a member (a zombie counts until it is reaped). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sendSignal(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone meanwhile
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  sendSignal(-pgid, signal);
}

/** systemd's clean exit: status 0, or death by SIGHUP, SIGINT, SIGTERM or SIGPIPE. */
function cleanExit(exit: SupervisorExit): boolean {
  return exit.signal !== undefined ? CLEAN_SIGNALS.includes(exit.signal) : exit.code === 0;
}

function describeExit(exit: SupervisorExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
}

/** systemd's fdname_is_valid(): printable ASCII without ":", at most 255 characters; empty is allowed. */
function isValidFdName(name: string): boolean {
  return name.length <= 255 && /^[\x20-\x39\x3b-\x7e]*$/.test(name);
}

function isConnectionFd(fd: number): boolean {
  try {
    return isConnection(inspect(fd));
  } catch {
    return false;
  }
}
