// A SIGHUP asks the launcher for a reload and a service for a hot upgrade, but a terminal sends
// it too when it hangs up (its window closed, its ssh connection dropped): the shell passes it to
// its jobs and the kernel to the foreground job. Taken for a reload there, it started a new
// generation that served on with no terminal and no one to stop it, holding the port, so that the
// next `npm start` failed with EADDRINUSE. A hang-up is told apart by the controlling terminal it
// takes away: it is gone when that SIGHUP arrives. Only a process that had a terminal on stdin,
// stdout or stderr at the start is watched (nohup and a service manager leave it none of them),
// or one in its terminal's foreground job: a tool that runs commands with pipes for their
// output (concurrently, say) leaves none of the three on the terminal, and the hang-up reaches
// them all the same (the kernel signals the foreground job).
// A `kill -HUP` much later, to a process whose terminal went away long before (it was disowned,
// say), is still a reload: the loss is noticed by a slow poll, and only a SIGHUP within a short
// while of it counts as the hang-up.
import { openSync, closeSync, constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { isatty } from 'node:tty';
import { now } from './clock.js';
import { procStat } from './processes.js';

const POLL_MS = 1000;
/** How long after the terminal's loss was noticed a SIGHUP is still its hang-up. */
const HANG_UP_MS = 2000;
// O_NONBLOCK: opening a terminal line may wait for its carrier.
const TTY_FLAGS = constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK;

let watch: { lostAt: number | undefined; timer: NodeJS.Timeout | undefined } | null | undefined;

/**
 * Starts watching this process's controlling terminal, when it has one on stdin, stdout or
 * stderr, and says whether it does. Call it at the start, while the terminal (if any) is surely
 * there: {@link isHangUp} judges every SIGHUP by this watch. Later calls change nothing.
 */
export function watchTerminal(): boolean {
  if (watch === undefined) {
    watch = ([0, 1, 2].some((fd) => isatty(fd)) || inForegroundJob()) && hasTerminalNow() ? { lostAt: undefined, timer: undefined } : null;
    if (watch) watch.timer = setInterval(() => void noticeLoss(), POLL_MS).unref();
  }
  return watch !== null;
}

/**
 * Whether a SIGHUP that arrives now is the hang-up of the terminal {@link watchTerminal} watches,
 * not a request to reload: the terminal is gone, and its loss is new.
 */
export async function isHangUp(): Promise<boolean> {
  if (!watch) return false;
  await noticeLoss();
  return watch.lostAt !== undefined && now() - watch.lostAt <= HANG_UP_MS;
}

async function noticeLoss(): Promise<void> {
  if (!watch || watch.lostAt !== undefined) return;
  if (await hasTerminal()) return;
  watch.lostAt ??= now();
  clearInterval(watch.timer);
}

// Where there is no /proc, only stdio is looked at.
function inForegroundJob(): boolean {
  const stat = procStat(process.pid);
  return stat !== undefined && stat.tty !== 0 && stat.pgrp === stat.tpgid;
}

function hasTerminalNow(): boolean {
  try {
    closeSync(openSync('/dev/tty', TTY_FLAGS));
    return true;
  } catch {
    return false;
  }
}

async function hasTerminal(): Promise<boolean> {
  try {
    await (await open('/dev/tty', TTY_FLAGS)).close();
    return true;
  } catch {
    // ENXIO: no controlling terminal any more (EIO while it is being hung up)
    return false;
  }
}
