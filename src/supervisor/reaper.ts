import { readdirSync, readFileSync } from 'node:fs';
import { native } from '../native.js';

// Our children by /proc: task/*/children lists them directly (CONFIG_PROC_CHILDREN); without
// it, every process whose parent is us. @internal
export function children(): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync('/proc/self/task')) {
      for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ')) if (pid.trim()) out.push(Number(pid));
    }
    return out;
  } catch {
    // fall back to a scan
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * As PID 1 (in a container) or a child subreaper, orphaned processes become our children and
 * must be reaped, or they stay zombies. A blind waitpid(-1) would also take the exit statuses
 * libuv waits for (the supervised children), so only pids that are not ours to wait for are
 * reaped, one by one; `onReaped` hears how each ended. Returns a function that stops it.
 */
export function startReaper(ours: () => readonly number[], onReaped: (pid: number, exit: { code?: number; signal?: number }) => void = () => undefined): () => void {
  const reap = (): void => {
    const keep = new Set(ours());
    let pids: number[];
    try {
      pids = children();
    } catch {
      return; // /proc unreadable now (EMFILE, say): the next SIGCHLD or sweep tries again
    }
    for (const pid of pids) {
      if (keep.has(pid)) continue;
      const r = native().reap(pid);
      if (typeof r === 'object') onReaped(pid, r);
    }
  };
  process.on('SIGCHLD', reap);
  // SIGCHLD can be merged or missed while libuv handles its own; sweep now and then too.
  const timer = setInterval(reap, 1000).unref();
  return () => {
    process.off('SIGCHLD', reap);
    clearInterval(timer);
  };
}
