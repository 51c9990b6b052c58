import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from '../descriptor.js';
import { HANDOFF_FD_VARIABLE } from '../handoff-channel.js';
import { isConnection } from '../listen.js';
import { native } from '../native.js';
import { spawnActivated } from '../spawn.js';
import type { BoundSocket } from '../launcher/bind.js';
import { FdStore } from './fd-store.js';
import { NotifyServer, type NotifyMessage } from './notify-server.js';
import { startReaper } from './reaper.js';

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
  /** FileDescriptorStoreMax=. @default 64 */
  readonly fdStoreMax?: number;
  /** Where messages go (status lines, restarts). @default stderr */
  readonly log?: (line: string) => void;
}

interface Generation {
  readonly child: ChildProcess;
  readonly pid: number;
  /** MAINPID= moves the role (e.g. to a hot-upgrade successor the child started). */
  mainPid: number;
  ready: boolean;
  stopping: boolean;
  readonly startedAt: number;
  /** The supervisor's end of the reload hand-over channel (connections from the previous child). */
  handoffFd?: number;
  watchdogUsec: number;
  watchdogTimer?: NodeJS.Timeout;
  onReady?: () => void;
  exit?: SupervisorExit;
  readonly exited: Promise<SupervisorExit>;
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGUSR2', 'SIGWINCH'];
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
/** How often stored fds are checked for hang-ups (systemd's event loop sees them at once). */
const SWEEP_INTERVAL_MS = 1000;

/**
 * A one-service supervisor playing systemd's part where there is none: it holds the listening
 * sockets for its whole life, starts the command with them (LISTEN_*), gives it a NOTIFY_SOCKET
 * of its own and follows the notify protocol (READY, STATUS, WATCHDOG, MAINPID, the fd store,
 * BARRIER), reloads with zero downtime on SIGHUP (new child, READY, then SIGTERM to the old one),
 * restarts a crashed child with backoff, and passes stop signals on.
 */
export class Supervisor {
  private readonly dir = mkdtempSync(join(tmpdir(), 'socket-activation-'));
  private readonly notify: NotifyServer;
  private readonly store: FdStore;
  private readonly generations = new Set<Generation>();
  private current: Generation | undefined;
  private stopSignal: NodeJS.Signals | undefined;
  private reloading: Promise<boolean> | undefined;
  private readonly log: (line: string) => void;
  private readonly recentFailures: number[] = [];
  /** Failures in a row of children that never became healthy (READY=1 or 5 s up): the backoff exponent. */
  private unhealthyInARow = 0;
  private finish!: (exit: SupervisorExit) => void;
  private readonly handlers = new Map<NodeJS.Signals, () => void>();
  private stopReaper: (() => void) | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log ?? ((line) => process.stderr.write(`socket-activation: ${line}\n`));
    this.store = new FdStore(options.fdStoreMax ?? 64);
    this.notify = new NotifyServer(this.dir, (m) => this.onNotify(m));
    this.sweeper = setInterval(() => this.sweepStore(), SWEEP_INTERVAL_MS).unref();
  }

  /** Starts the command; resolves with how it ended for good (to become the launcher's exit). */
  run(): Promise<SupervisorExit> {
    const done = new Promise<SupervisorExit>((resolve) => (this.finish = resolve));
    for (const signal of [...FORWARDED, ...STOP_SIGNALS, 'SIGHUP' as const]) {
      const handler = (): void => {
        if (signal === 'SIGHUP') void this.reload();
        else if (STOP_SIGNALS.includes(signal)) this.stop(signal);
        else this.signalAll(signal, false);
      };
      this.handlers.set(signal, handler);
      process.on(signal, handler);
    }
    if (process.pid === 1) this.stopReaper = startReaper(() => [...this.generations].map((g) => g.pid));
    this.startGeneration();
    return done.finally(() => this.cleanUp());
  }

  /**
   * Zero-downtime reload: a new child with the same sockets (and the fd store), READY=1 within
   * the timeout, then SIGTERM to the old one, whose idle connections (stored while it drains)
   * are passed on to the new one. A new child that exits or is not ready in time is killed and
   * the old one keeps serving. Resolves whether the new child took over.
   */
  reload(): Promise<boolean> {
    if (!this.current || this.stopSignal) return Promise.resolve(false);
    this.reloading ??= this.doReload().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  private async doReload(): Promise<boolean> {
    const old = this.current!;
    const fresh = this.startGeneration(true);
    const timeout = this.options.readyTimeoutMs ?? 30_000;
    const outcome = await new Promise<'ready' | 'exited' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), timeout);
      fresh.onReady = () => {
        clearTimeout(timer);
        resolve('ready');
      };
      void fresh.exited.then(() => {
        clearTimeout(timer);
        resolve('exited');
      });
    });
    if (outcome !== 'ready') {
      this.log(`reload failed: the new child (pid ${fresh.pid}) ${outcome === 'exited' ? 'exited before READY=1' : `sent no READY=1 within ${timeout} ms`}; pid ${old.pid} keeps serving`);
      fresh.stopping = true;
      this.kill(fresh, 'SIGKILL');
      if (this.current === fresh) this.current = old;
      return false;
    }
    this.current = fresh;
    old.stopping = true;
    this.kill(old, 'SIGTERM');
    this.log(`reloaded: pid ${fresh.pid} serves, pid ${old.pid} drains`);
    return true;
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
    const env: Record<string, string | undefined> = { ...this.options.env, NOTIFY_SOCKET: this.notify.path, [HANDOFF_FD_VARIABLE]: undefined };
    const watchdogUsec = (this.options.watchdogMs ?? 0) * 1000;
    env.WATCHDOG_USEC = watchdogUsec > 0 ? String(watchdogUsec) : undefined;
    let pair: [number, number] | undefined;
    if (forReload) {
      const p = native().socketPair(native().constants.SOCK_DGRAM);
      if (typeof p !== 'number') pair = p;
    }
    // The hand-over channel sits right after the LISTEN_FDS range, outside of it.
    if (pair) env[HANDOFF_FD_VARIABLE] = String(3 + fds.length);
    const child = spawnActivated(this.options.command, pair ? [...fds, { fd: pair[1], name: '' }] : fds, { env, detached: true, listenFdCount: fds.length });
    if (pair) native().close(pair[1]);
    let resolveExit!: (e: SupervisorExit) => void;
    const g: Generation = {
      child,
      pid: child.pid ?? -1,
      mainPid: child.pid ?? -1,
      ready: false,
      stopping: false,
      startedAt: Date.now(),
      handoffFd: pair?.[0],
      watchdogUsec,
      exited: new Promise((resolve) => (resolveExit = resolve)),
    };
    this.generations.add(g);
    if (!forReload) this.current = g;
    this.armWatchdog(g);
    child.once('error', (err) => this.log(`could not start ${this.options.command[0]}: ${err.message}`));
    child.once('exit', (code, signal) => {
      g.exit = signal ? { signal } : { code: code ?? 1 };
      this.generations.delete(g);
      clearTimeout(g.watchdogTimer);
      if (g.handoffFd !== undefined) native().close(g.handoffFd);
      resolveExit(g.exit);
      this.onExit(g);
    });
    return g;
  }

  private onExit(g: Generation): void {
    if (g !== this.current) return; // an old child that drained, or a failed reload
    const exit = g.exit!;
    if (this.stopSignal) return this.finish(exit);
    const failed = exit.signal !== undefined || exit.code !== 0;
    const policy = this.options.restart ?? 'on-failure';
    const restart = policy === 'always' || (policy === 'on-failure' && failed);
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
    if (!restart) return this.finish(exit);
    const now = Date.now();
    this.recentFailures.push(now);
    while (this.recentFailures.length > 0 && this.recentFailures[0]! < now - 10_000) this.recentFailures.shift();
    // Like systemd's default start limit (5 starts in 10 s): a command that cannot stay up is
    // not restarted forever.
    if (this.recentFailures.length > 5) {
      this.log(`pid ${g.pid} ${how}; ${this.recentFailures.length} restarts in 10 s, giving up`);
      return this.finish(exit);
    }
    // A child that had been healthy is restarted at once (100 ms, systemd's RestartSec=
    // default); one that never got going waits longer each time.
    const healthy = g.ready || now - g.startedAt >= 5_000;
    this.unhealthyInARow = healthy ? 0 : this.unhealthyInARow + 1;
    const delay = Math.min(100 * 2 ** this.unhealthyInARow, 5_000);
    this.log(`pid ${g.pid} ${how}; restarting in ${delay} ms (the sockets stay open)`);
    this.current = undefined;
    setTimeout(() => {
      if (!this.stopSignal) this.startGeneration();
      else this.finish(exit);
    }, delay);
  }

  private stop(signal: NodeJS.Signals): void {
    if (!this.current && this.generations.size === 0) return this.finish({ signal });
    this.stopSignal ??= signal;
    this.signalAll(signal, true);
  }

  private signalAll(signal: NodeJS.Signals, everyGeneration: boolean): void {
    for (const g of this.generations) if (everyGeneration || g === this.current) this.kill(g, signal);
  }

  private kill(g: Generation, signal: NodeJS.Signals): void {
    // The child leads its own process group (detached): signal the whole group, as a terminal would.
    try {
      process.kill(-g.pid, signal);
    } catch {
      try {
        g.child.kill(signal);
      } catch {
        // gone
      }
    }
    if (g.mainPid !== g.pid) {
      try {
        process.kill(g.mainPid, signal);
      } catch {
        // gone
      }
    }
  }

  private armWatchdog(g: Generation): void {
    clearTimeout(g.watchdogTimer);
    if (g.watchdogUsec <= 0 || g.exit) return;
    g.watchdogTimer = setTimeout(() => {
      this.log(`pid ${g.mainPid}: watchdog timeout (no WATCHDOG=1 within ${g.watchdogUsec / 1000} ms), killing it with SIGABRT`);
      this.kill(g, 'SIGABRT');
    }, g.watchdogUsec / 1000);
  }

  // Like NotifyAccess=all within our own children: a message counts for the generation whose
  // child (or declared main process) sent it; anyone else is ignored. Without SCM_CREDENTIALS
  // (pid 0: systems other than Linux) a message can only be taken as the current child's.
  private onNotify(m: NotifyMessage): void {
    const g = m.pid === 0 ? this.current : [...this.generations].find((x) => x.pid === m.pid || x.mainPid === m.pid);
    const keep = new Set<number>();
    try {
      if (!g) {
        if (m.pid !== 0) this.log(`ignored a notify message from pid ${m.pid}, which this supervisor did not start`);
        return;
      }
      const f = m.fields;
      const mainPid = f.get('MAINPID');
      if (mainPid !== undefined && /^[1-9][0-9]*$/.test(mainPid)) g.mainPid = Number(mainPid);
      if (f.get('STATUS') !== undefined) this.log(`[${m.pid}] ${f.get('STATUS')}`);
      if (f.get('ERRNO') !== undefined) this.log(`[${m.pid}] ERRNO=${f.get('ERRNO')}`);
      const usec = f.get('WATCHDOG_USEC');
      if (usec !== undefined && /^[1-9][0-9]*$/.test(usec)) g.watchdogUsec = Number(usec);
      if (f.get('WATCHDOG') === '1' || usec !== undefined) this.armWatchdog(g);
      if (f.get('WATCHDOG') === 'trigger') {
        this.log(`pid ${g.mainPid} asked for a watchdog timeout (WATCHDOG=trigger)`);
        this.kill(g, 'SIGABRT');
      }
      if (f.get('FDSTOREREMOVE') === '1' && f.get('FDNAME') !== undefined) this.store.remove(f.get('FDNAME')!);
      if (f.get('FDSTORE') === '1') this.storeFds(g, f.get('FDNAME') ?? 'stored', f.get('FDPOLL') !== '0', m.fds, keep);
      if (f.get('READY') === '1' && !g.ready) {
        g.ready = true;
        g.onReady?.();
      }
    } finally {
      // Unused fds are closed at once; for BARRIER=1 that is the answer.
      for (const fd of m.fds) if (!keep.has(fd)) native().close(fd);
    }
  }

  private storeFds(from: Generation, name: string, poll: boolean, fds: number[], keep: Set<number>): void {
    const successor = from.stopping && this.current !== from && this.current?.ready ? this.current : undefined;
    for (const fd of fds) {
      // An old child draining during a reload hands its idle connections to the new one, which
      // is already running and would only see the store at its next start.
      if (successor?.handoffFd !== undefined && isConnectionFd(fd)) {
        const r = native().sendOn(successor.handoffFd, Buffer.from(`FDNAME=${name}`), Int32Array.of(fd));
        if (r >= 0) continue;
      }
      keep.add(fd);
      const result = this.store.add(name, fd, poll);
      if (result === 'full') this.log(`fd store full (${this.store.max}): dropped ${JSON.stringify(name)} from pid ${from.pid}`);
    }
  }

  private cleanUp(): void {
    clearInterval(this.sweeper);
    for (const [signal, handler] of this.handlers) process.off(signal, handler);
    this.stopReaper?.();
    this.notify.close();
    this.store.closeAll();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isConnectionFd(fd: number): boolean {
  try {
    return isConnection(inspect(fd));
  } catch {
    return false;
  }
}
