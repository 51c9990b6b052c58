// What /proc and kill(2) tell about another process.
import { readFileSync } from 'node:fs';

/**
 * State (`R`, `S`, `Z` for a zombie, …), parent, process group, session, controlling terminal
 * (0: none) and its foreground process group, and start time (clock ticks after boot: with the
 * pid, what tells a process from a later one given the same pid) of `pid`, from /proc/PID/stat;
 * undefined when there is no such process or no /proc.
 * @internal
 */
export function procStat(pid: number): { state: string; ppid: number; pgrp: number; session: number; tty: number; tpgid: number; start: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name in parentheses: state, ppid, pgrp, session, tty_nr, tpgid, …,
    // starttime (field 22).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]), session: Number(fields[3]), tty: Number(fields[4]), tpgid: Number(fields[5]), start: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` exists (a zombie counts until it is reaped). @internal */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
