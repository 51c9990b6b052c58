import { readFileSync } from 'node:fs';

/** One process on the way from this one up to pid 1. */
export interface ProcessInfo {
  readonly pid: number;
  /** The kernel's short name (/proc/PID/comm). */
  readonly comm: string;
  /** argv, NUL-separated in /proc/PID/cmdline. */
  readonly argv: readonly string[];
}

/** Why LISTEN_PID named a process other than this one. */
export type PidMismatch =
  /** LISTEN_PID is an ancestor that is a package manager or a shell that did not `exec`. */
  | { readonly reason: 'wrapper'; readonly holder: ProcessInfo; readonly wrapper: 'package-manager' | 'shell' | 'node-watch' | 'init' | 'privilege' | 'other' }
  /** LISTEN_PID is an ancestor Node process: this is its child (cluster worker, fork, spawn). */
  | { readonly reason: 'inherited'; readonly holder: ProcessInfo }
  /** LISTEN_PID is not an ancestor at all (stale or copied environment). */
  | { readonly reason: 'other-process'; readonly holder?: ProcessInfo };

function readProcess(pid: number): (ProcessInfo & { readonly ppid: number }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so cut at the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
    return { pid, comm, argv, ppid };
  } catch {
    return undefined;
  }
}

// Matched against the first word of comm and of the first argv entries, by base name:
// npm retitles itself "npm start", and runs as `node …/npm-cli.js start`.
const packageManagers = /^(npm|npx|yarn|yarnpkg|pnpm|pnpx|corepack|bun)(-cli)?(\.c?js)?$/;
const isPackageManager = (text: string) => packageManagers.test((text.split(' ')[0] ?? '').split(/[/\\]/).pop() ?? '');
const shells = new Set(['sh', 'bash', 'dash', 'zsh', 'ash', 'ksh', 'mksh', 'busybox', 'fish']);
// Container inits fork their command (they stay PID 1 to reap and pass signals on), so they can
// never exec into node: they belong in front of the launcher, not between it and node.
const inits = new Set(['tini', 'tini-static', 'dumb-init', 'catatonit', 'docker-init']);
// These fork the command and wait for it (PAM sessions); sudo also closes fds from 3 up.
const privilege = new Set(['su', 'runuser', 'sudo', 'doas']);

// Node options whose value may be the next argument (`--import tsx`), so not the script.
const valueOptions = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '--watch-path', '--env-file', '-C', '--conditions', '--title', '--input-type']);

/** Node's own options: the arguments before the script, which may take `--watch` as its own. */
function nodeOptions(argv: readonly string[]): readonly string[] {
  const options: string[] = [];
  for (let i = 1; i < argv.length && argv[i]!.startsWith('-'); i++) {
    options.push(argv[i]!);
    if (valueOptions.has(argv[i]!)) i++;
  }
  return options;
}

/** Classifies an ancestor holding LISTEN_PID. Exported for tests. */
export function classifyHolder(holder: ProcessInfo): PidMismatch {
  const runsPackageManager =
    isPackageManager(holder.comm) || holder.argv.slice(0, 3).some(isPackageManager);
  if (runsPackageManager) return { reason: 'wrapper', holder, wrapper: 'package-manager' };
  if (shells.has(holder.comm)) return { reason: 'wrapper', holder, wrapper: 'shell' };
  if (inits.has(holder.comm)) return { reason: 'wrapper', holder, wrapper: 'init' };
  if (privilege.has(holder.comm)) return { reason: 'wrapper', holder, wrapper: 'privilege' };
  if (holder.comm === 'node' || holder.comm.startsWith('node') || /(^|\/)node$/.test(holder.argv[0] ?? '')) {
    // Watch mode runs the script in a child of its own and passes no fds on: a wrapper, whose
    // fix is to drop it, not the cluster advice for an activated parent written by the user.
    if (nodeOptions(holder.argv).some((a) => /^--watch(-path)?(=|$)/.test(a))) return { reason: 'wrapper', holder, wrapper: 'node-watch' };
    return { reason: 'inherited', holder };
  }
  return { reason: 'wrapper', holder, wrapper: 'other' };
}

/**
 * Works out why LISTEN_PID is not our pid by walking /proc from our parent up to pid 1
 * (Linux only; elsewhere the answer is `other-process`).
 */
export function explainPidMismatch(listenPid: number, ownPid = process.pid): PidMismatch {
  const self = readProcess(ownPid);
  let pid = self?.ppid ?? 0;
  for (let depth = 0; pid > 0 && depth < 64; depth++) {
    const p = readProcess(pid);
    if (!p) break;
    if (p.pid === listenPid) return classifyHolder(p);
    pid = p.ppid;
  }
  const holder = readProcess(listenPid);
  return holder ? { reason: 'other-process', holder } : { reason: 'other-process' };
}

/** `123 (npm start)` for messages. */
export function formatProcess(p: ProcessInfo): string {
  const cmd = p.argv.length > 0 ? p.argv.join(' ') : p.comm;
  return `${p.pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd})`;
}
