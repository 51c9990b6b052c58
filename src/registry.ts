import { readdirSync, readlinkSync } from 'node:fs';
import { explainPidMismatch, formatProcess, type PidMismatch } from './ancestry.js';
import { completeUnixAddresses, describeFd, describeWithArticle, RUNTIME_ANON_TYPES, type Descriptor, type Mutable } from './descriptor.js';
import { judgeEnvironment, LISTEN_FDS_START, LISTEN_VARIABLES, splitNames, type EnvironmentVerdict, type Self } from './environment.js';
import { errnoException, SocketActivationError } from './errors.js';
import { native, nativeSupported, type NativeText, type Stored } from './native.js';
import { supervisorDirectory, unsetSupervisorDirectory } from './successor-serving.js';

/** Why {@link listeners} is empty. */
export type NotActivatedReason =
  /** LISTEN_PID or LISTEN_FDS is not set: not started by socket activation. */
  | 'absent'
  /** LISTEN_PID is an ancestor that started us without `exec` (npm/yarn/pnpm, `node --watch`, a shell, another wrapper). */
  | 'wrapper'
  /** LISTEN_* were inherited from an activated Node parent (cluster worker, fork, spawn); a fallback is not used. */
  | 'inherited'
  /** LISTEN_PID names a process that is neither us nor an ancestor (stale environment). */
  | 'other-process'
  /** LISTEN_PID matches but LISTEN_PIDFDID does not: the pid was reused. */
  | 'pidfd-mismatch'
  /** Windows: no fd inheritance of this kind. */
  | 'unsupported-platform';

/** What this process was given, judged once per process. */
export type Activation =
  | {
      readonly activated: true;
      /** The inherited fds at 3.., in order, with their names. */
      readonly descriptors: readonly InheritedDescriptor[];
    }
  | {
      readonly activated: false;
      readonly reason: NotActivatedReason;
      /** A full sentence: what was found and what to do. */
      readonly message: string;
      /** LISTEN_PID when it was set. */
      readonly listenPid?: number;
    };

/** A descriptor inherited through LISTEN_FDS: always named. */
export type InheritedDescriptor = Descriptor & { readonly name: string };

/** Options for {@link listeners} and {@link activation}. */
export interface ActivationOptions {
  /**
   * Remove LISTEN_PID, LISTEN_PIDFDID, LISTEN_FDS and LISTEN_FDNAMES from `process.env` (on
   * every path, errors included), so child processes do not see stale values; and
   * SOCKET_ACTIVATION_SUPERVISOR_DIR, which the launcher sets for its own children. The result
   * is kept by the package, so later calls still return the same listeners.
   * @default false
   */
  readonly unsetEnvironment?: boolean;
}

// What the first judge in the process decided, as the registry keeps it (JSON), beside
// the inherited fds' descriptors (kept as the native inspectRange() wrote them).
interface Verdict {
  readonly activated: boolean;
  /** When activated: one name per inherited fd. */
  readonly names?: string[];
  readonly reason?: NotActivatedReason;
  readonly message?: string;
  readonly listenPid?: number;
  readonly error?: { readonly message: string; readonly fields: Record<string, unknown> };
}

interface Judgement {
  readonly verdict: Verdict;
  /** When activated: the descriptors, as the native inspectRange() wrote them. */
  readonly descriptors?: { readonly json: readonly string[]; readonly text?: NativeText };
  /** Set when inspectRange() dealt with the registry: true (this verdict stored) or what it held. */
  readonly registry?: Stored | true;
}

let cached: { verdict: Verdict; activation?: Activation; descriptors?: readonly InheritedDescriptor[] } | undefined;

const FIX_EXEC =
  'Start node directly from ExecStart= (or the launcher), or use `exec node …` in a shell wrapper, so the process that systemd named in LISTEN_PID is node itself.';
// Under the launcher ("(or the launcher)" reads there as if it were not used): what goes after its `--`.
const FIX_EXEC_LAUNCHER =
  "Put node itself after the launcher's `--` (`socket-activation -l ADDRESS -- node app.js`), or use `exec node …` in a shell wrapper, so the process that the launcher named in LISTEN_PID is node itself.";
const fixExec = (): string => (supervisorDirectory() !== undefined ? FIX_EXEC_LAUNCHER : FIX_EXEC);

function notActivatedMessage(mismatch: PidMismatch, listenPid: number): { reason: NotActivatedReason; message: string } {
  const ours = `this process is ${process.pid}`;
  switch (mismatch.reason) {
    case 'wrapper':
      if (mismatch.wrapper === 'package-manager') {
        return {
          reason: 'wrapper',
          message:
            `LISTEN_PID=${listenPid} is the package manager ${formatProcess(mismatch.holder)} that started this process (${ours}). ` +
            'npm, yarn and pnpm are Node programs: they mark inherited fds close-on-exec at start-up, so the sockets never reach the app. ' +
            fixExec(),
        };
      }
      if (mismatch.wrapper === 'init') {
        return {
          reason: 'wrapper',
          message:
            `LISTEN_PID=${listenPid} is the init ${formatProcess(mismatch.holder)}, which forks its command (${ours}) rather than exec'ing it, so LISTEN_PID can never name node. ` +
            'Run the launcher under it instead (`tini -- socket-activation -l ADDRESS -- node app.js`); under systemd, start node directly (systemd is the init).',
        };
      }
      if (mismatch.wrapper === 'privilege') {
        return {
          reason: 'wrapper',
          message:
            `LISTEN_PID=${listenPid} is ${formatProcess(mismatch.holder)}, which forks its command (${ours}) rather than exec'ing it, so LISTEN_PID can never name node (sudo also closes the fds). ` +
            'Drop privileges with setpriv, which execs (`setpriv --reuid=USER --regid=GROUP --init-groups node app.js`), or with User= in the unit.',
        };
      }
      if (mismatch.wrapper === 'node-watch') {
        return {
          reason: 'wrapper',
          message:
            `LISTEN_PID=${listenPid} is ${formatProcess(mismatch.holder)}, whose watch mode runs the script in a child process (${ours}) and passes no sockets on. ` +
            'Under socket activation start node without --watch; for development with --watch, run it without the launcher and give listen() a fallback.',
        };
      }
      return {
        reason: 'wrapper',
        message:
          `LISTEN_PID=${listenPid} is the ancestor ${formatProcess(mismatch.holder)}, which started this process (${ours}) without exec; ` +
          `the fds were passed to it, not to us. ${fixExec()}`,
      };
    case 'inherited':
      return {
        reason: 'inherited',
        message:
          `LISTEN_PID=${listenPid} is the activated Node process ${formatProcess(mismatch.holder)}; ${ours}, its child (cluster worker, fork or spawn), ` +
          'inherited the variables but not the sockets, so a fallback address is not used either: the sockets are the parent\'s. ' +
          'Take the listeners in the parent and pass `unsetEnvironment: true` there so children do not see LISTEN_*; to serve from children, see "Cluster and child processes" in the README. ' +
          'If the parent is a tool that runs your script in a child (tsx, nodemon), start the script with node itself (`node --import tsx app.ts`).',
      };
    case 'other-process':
      return {
        reason: 'other-process',
        message:
          `LISTEN_PID=${listenPid} is neither this process (${process.pid}) nor one of its ancestors` +
          (mismatch.holder ? ` (it is ${formatProcess(mismatch.holder)})` : ' (no such process)') +
          ': the LISTEN_* variables are stale or were copied from another environment. Unset them, or start the service from its socket unit or the launcher.',
      };
  }
}

// Node's own fds (libuv's epoll and eventfd, its internal pipes with both ends held here)
// sit right above the inherited ones. If LISTEN_FDS claims them, the count is wrong:
// touching them would break or abort the runtime. A pipe is Node's when its other end is open
// here outside the claimed range `claimed` [start, end): both ends passed (a service's own
// pipe, kept in the fd store) are inherited, and Node's epoll, which it opens before any pipe,
// would have ended the range first.
function runtimeOwned(d: Descriptor, claimed: readonly [number, number], pipes: PipeEnds): string | undefined {
  if (d.kind === 'anon' && RUNTIME_ANON_TYPES.has(d.anonType)) return `Node's own ${d.anonType} (anon_inode:[${d.anonType}])`;
  if (d.kind !== 'fifo') return undefined;
  const target = pipes.target(d.fd);
  if (!target?.startsWith('pipe:')) return undefined;
  const other = pipes.ends(target).find((fd) => fd !== d.fd && (fd < claimed[0] || fd >= claimed[1]));
  return other === undefined ? undefined : `an internal pipe of this process (${target}, other end at fd ${other})`;
}

/** The targets of this process's fds, read from /proc once (a pipe's ends share one). */
interface PipeEnds {
  target(fd: number): string | undefined;
  ends(target: string): readonly number[];
}

function pipeEnds(): PipeEnds {
  let byTarget: Map<string, number[]> | undefined;
  const read = (fd: number | string): string | undefined => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined; // closed meanwhile (e.g. the directory fd of readdir itself)
    }
  };
  return {
    target: read,
    ends(target) {
      if (!byTarget) {
        byTarget = new Map();
        for (const entry of readdirSync('/proc/self/fd')) {
          const t = read(entry);
          if (t?.startsWith('pipe:')) byTarget.set(t, [...(byTarget.get(t) ?? []), Number(entry)]);
        }
      }
      return byTarget.get(target) ?? [];
    },
  };
}

// Describes the claimed fds from the first one that was not inherited, for the message:
// a few of them, read-only.
function notInherited(fd: number, count: number, pipes: PipeEnds): SocketActivationError {
  const last = LISTEN_FDS_START + count - 1;
  const notes: string[] = [];
  for (let other = fd; other <= last && notes.length < 6; other++) {
    const d = describeFd(other);
    // Against the fds that were inherited: past them, both ends of Node's own pipe may be claimed.
    notes.push(typeof d === 'number' ? `fd ${other} is not open` : `fd ${other} is ${runtimeOwned(d, [LISTEN_FDS_START, fd], pipes) ?? describeWithArticle(d)}`);
  }
  if (last - fd + 1 > notes.length) notes.push('…');
  const passed = fd - LISTEN_FDS_START;
  return new SocketActivationError(
    'ERR_LISTEN_FDS_NOT_INHERITED',
    `LISTEN_FDS=${count} claims fds ${LISTEN_FDS_START}..${last}, but only ${passed} of them ${passed === 1 ? 'was' : 'were'} inherited: ${notes.join('; ')}. ` +
      'These numbers belong to this process, so they were left untouched. The variables do not match the fds passed: fix the launcher or unit that set LISTEN_FDS.',
    { fd, variable: 'LISTEN_FDS', expected: count, found: passed },
  );
}

// The descriptors of fds 3..3+count-1 (JSON), each made close-on-exec as sd_listen_fds()
// does; or the first fd that is not open or is one of Node's own, the fds before it made
// close-on-exec too. One native call covers every socket, file and device; it stops before
// a pipe or an anon inode, told apart from Node's own here first, and the next call goes on
// with the same text (its JSON comes with the last call only). The same call checks the
// registry first (nothing is inspected when a verdict is stored) and stores `verdict` with
// the descriptors when every fd passed (null: store nothing).
const inspectInherited = (function inspectInherited(
  count: number,
  verdict: string | null,
): { json?: readonly string[]; text?: NativeText; registry?: Stored | true; problem?: Error } {
  const end = LISTEN_FDS_START + count;
  let text: NativeText | undefined;
  let fd = LISTEN_FDS_START;
  let acceptFirst = false;
  const pipes = pipeEnds();
  for (;;) {
    const r = native().inspectRange(fd, end - fd, acceptFirst, text, verdict);
    if (r.next === undefined) return r;
    text = r.text;
    if (r.error < 0) return { ...r, problem: errnoException(r.error, 'fcntl', r.next, 'setting FD_CLOEXEC on an inherited fd') };
    if (r.next >= end) return r;
    const d = describeFd(r.next);
    if (typeof d === 'number' || runtimeOwned(d, [LISTEN_FDS_START, end], pipes)) return { ...r, problem: notInherited(r.next, count, pipes) };
    fd = r.next;
    acceptFirst = true;
  }
});

// A listening socket at fd 3 without LISTEN_* is what a manager's fds look like once something
// between it and node cleared the environment (env -i, sudo's env_reset, su -l): the variables,
// not the sockets, are missing, and the advice to start from a socket unit would not help.
function clearedEnvironment(): string {
  if (process.platform === 'win32') return '';
  try {
    const d = describeFd(LISTEN_FDS_START);
    if (typeof d !== 'object' || d.kind !== 'socket' || !d.listening) return '';
    return (
      ` fd ${LISTEN_FDS_START} is ${describeWithArticle(d)}, though: if it came from the service manager, something between the two cleared the environment (env -i, sudo, su -l). ` +
      'Keep LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES (and start node with exec); to drop privileges, use setpriv, which keeps both the fds and the environment.'
    );
  } catch {
    return '';
  }
}

// Why an environment that does not name this process means "not activated".
function notActivated(verdict: Exclude<EnvironmentVerdict, { activated: true }>): Verdict {
  if (verdict.why === 'absent') {
    return {
      activated: false,
      reason: 'absent',
      message:
        `${verdict.missing} is not set: this process was not started by socket activation. ` +
        'Start it from a .socket unit, with systemd-socket-activate, or with `socket-activation -l ADDRESS -- node app.js`; or give a fallback address for development.' +
        clearedEnvironment(),
    };
  }
  if (verdict.why === 'pidfd-mismatch') {
    return {
      activated: false,
      reason: 'pidfd-mismatch',
      listenPid: verdict.listenPid,
      message: `LISTEN_PID=${verdict.listenPid} matches this process but LISTEN_PIDFDID=${verdict.pidfdId} does not match its pidfd: the variables were meant for an earlier process that had the same pid, ` +
        'and whatever started this one passed them on (a process that forks and execs must not keep LISTEN_*). Unset them there, or pass `unsetEnvironment: true` in the process they were meant for.',
    };
  }
  return { activated: false, listenPid: verdict.listenPid, ...notActivatedMessage(explainPidMismatch(verdict.listenPid), verdict.listenPid) };
}

const self: Self = {
  pid: process.pid,
  pidfdId() {
    const id = native().pidfdId();
    return typeof id === 'bigint' ? id : undefined;
  },
};

// V8 compiles each function when it first runs, for some 40 µs here however small it is,
// and this path runs once per process, on the clock of listeners(). The functions it always
// takes are parenthesized function expressions, which V8 compiles with the module instead
// (its heuristic for functions called soon), where it costs less (no second parse; BENCHMARKS.md,
// section 1); the rare branches live in functions of their own, compiled only when taken.
const judge = (function judge(): Judgement {
  if (!nativeSupported) {
    return {
      verdict: {
        activated: false,
        reason: 'unsupported-platform',
        message: `Socket activation is not available on ${process.platform}: no fds are inherited this way there.`,
      },
    };
  }
  const verdict = judgeEnvironment(process.env, self);
  if (!verdict.activated) return { verdict: notActivated(verdict) };

  // Absent names stay absent ('unknown' below): an array of LISTEN_FDS entries would, for a
  // count near INT_MAX, exhaust the heap before any fd is looked at.
  let names: string[] | undefined;
  let namesError: unknown;
  try {
    if (verdict.rawNames !== undefined) names = splitNames(verdict.rawNames, verdict.count);
  } catch (err) {
    namesError = err;
  }
  // Like sd_listen_fds(): every inherited fd becomes close-on-exec, also when we then fail.
  const mine: Verdict = { activated: true, names };
  const { json, text, registry, problem } = inspectInherited(verdict.count, namesError === undefined ? JSON.stringify(mine) : null);
  if (problem) throw problem;
  if (json === undefined) return { verdict: mine, registry };
  if (namesError) throw namesError;
  return { verdict: mine, descriptors: { json, text }, registry };
});

// The verdict of this process: judged here, unless an earlier call (any copy of the
// package, any thread) stored one. The first to store wins, so all of them agree. An
// activated judge checks and stores within its one native call (inspectInherited), and
// touches no fd when a verdict is stored already; the other verdicts touch no inherited fd.
const load = (function load(): NonNullable<typeof cached> {
  if (cached) return cached;
  if (!nativeSupported) return (cached = { verdict: judge().verdict });
  let mine: Judgement;
  try {
    mine = judge();
  } catch (err) {
    if (!(err instanceof Error)) throw err;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(err)) fields[k] = v;
    mine = { verdict: { activated: false, error: { message: err.message, fields } } };
  }
  const stored = mine.registry ?? native().registry(JSON.stringify(mine.verdict), mine.descriptors?.text);
  if (stored === true) return (cached = { verdict: mine.verdict, descriptors: inherited(mine.verdict, mine.descriptors?.json) });
  const verdict = JSON.parse(stored[0]) as Verdict;
  return (cached = { verdict, descriptors: inherited(verdict, stored[1]) });
});

// One plain loop, nothing called for most fds: on the cold VM of a starting process a
// function call per descriptor cost half as much again as the loop.
const inherited = (function inherited(verdict: Verdict, json: readonly string[] | undefined): readonly InheritedDescriptor[] | undefined {
  if (!verdict.activated) return undefined;
  const names = verdict.names;
  let descriptors: Mutable<InheritedDescriptor>[] = [];
  for (const array of json!) descriptors = descriptors.concat(JSON.parse(array) as Mutable<InheritedDescriptor>[]);
  for (let i = 0; i < descriptors.length; i++) {
    const d = descriptors[i]!;
    d.name = names?.[i] ?? 'unknown';
    if (d.kind === 'socket') {
      if (d.family === 'unix') completeUnixAddresses(d);
      // Shared by every caller in the process (and the checks of listener()/listen()): an
      // address changed by one would be wrong for all.
      Object.freeze(d.local);
      if (d.remote) Object.freeze(d.remote);
    }
    Object.freeze(d);
  }
  return Object.freeze(descriptors);
});

function rethrow(error: NonNullable<Verdict['error']>): never {
  const code = error.fields.code as string;
  const err = new SocketActivationError(code as never, error.message, error.fields);
  Error.captureStackTrace(err, rethrow);
  throw err;
}

// activation(), compiled with the module: the exported functions stay declarations (their
// types and docs) of one line each.
const settle = (function settle(options?: ActivationOptions): Activation {
  try {
    const c = load();
    const v = c.verdict;
    if (v.error) rethrow(v.error);
    c.activation ??= v.activated
      ? { activated: true, descriptors: c.descriptors! }
      : Object.freeze({ activated: false, reason: v.reason!, message: v.message!, ...(v.listenPid !== undefined ? { listenPid: v.listenPid } : {}) });
    return c.activation;
  } finally {
    if (options?.unsetEnvironment) {
      for (const v of LISTEN_VARIABLES) delete process.env[v];
      unsetSupervisorDirectory();
    }
  }
});

/**
 * What this process was given: the inherited descriptors, or why there are none.
 * Judged once per process (shared by ESM and CJS copies and worker threads).
 *
 * @throws The same error as {@link listeners} when the environment is broken.
 */
export function activation(options?: ActivationOptions): Activation {
  return settle(options);
}

/**
 * The fds inherited through LISTEN_FDS, in order, each described and named, with
 * FD_CLOEXEC set. Empty when the process was not socket-activated; {@link activation}
 * says why.
 *
 * @throws `ERR_LISTEN_PID`, `ERR_LISTEN_PIDFDID`, `ERR_LISTEN_FDS`, `ERR_LISTEN_FDNAMES`,
 * `ERR_LISTEN_FDS_NOT_INHERITED` when the environment is broken (every later call throws
 * the same).
 */
export function listeners(options?: ActivationOptions): readonly InheritedDescriptor[] {
  const a = settle(options);
  return a.activated ? a.descriptors : [];
}

/**
 * Whether a development fallback binds its own address: only when this process was not
 * activated — and not because a wrapper (npm, a shell without `exec`) holds LISTEN_PID for
 * sockets meant for this process, nor because this is a child of the activated process (a
 * cluster worker that kept LISTEN_*): binding the same address would only fail with
 * EADDRINUSE, and another one would serve where no client of the service connects while
 * the service's socket queues them, so the caller throws ERR_NOT_ACTIVATED with the reason
 * and the fix instead.
 * @internal
 */
export function fallbackApplies(): boolean {
  const a = settle();
  return !a.activated && a.reason !== 'wrapper' && a.reason !== 'inherited';
}
