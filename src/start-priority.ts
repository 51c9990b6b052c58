import { readdirSync, readFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

// setpriority(PRIO_PROCESS, pid) changes one thread on Linux: every thread of the process is
// changed, as far as /proc lists them (elsewhere the pid alone).
function renice(pid: number, nice: number): void {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    tids = [pid];
  }
  for (const tid of tids) {
    try {
      setPriority(tid, nice);
    } catch {
      // the thread ended, or no permission
    }
  }
}

/**
 * EXPERIMENT (A/B in one run): while a new child/successor starts, lower its CPU priority so its
 * boot competes less with the serving process; restore it at READY=1. On only while the file
 * named by SOCKET_ACTIVATION_AB_FILE says `nice` (+10) or `nice N` (+N).
 * @internal
 */
export function lowerWhileStarting(pid: number | undefined): () => void {
  const file = process.env.SOCKET_ACTIVATION_AB_FILE;
  let by = 0;
  try {
    const m = file === undefined ? null : /^nice(?: ([0-9]+))?$/.exec(readFileSync(file, 'utf8').trim());
    by = m ? Number(m[1] ?? 10) : 0;
  } catch {
    by = 0;
  }
  if (by === 0 || pid === undefined || process.geteuid?.() !== 0) return () => undefined;
  const own = getPriority();
  renice(pid, Math.min(own + by, 19));
  return () => renice(pid, own);
}
