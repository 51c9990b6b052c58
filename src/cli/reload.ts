import { setTimeout as sleep } from 'node:timers/promises';
import { SocketActivationError } from '../errors.js';
import { askToUpgrade, controlPath } from '../control-path.js';
import { isAlive } from '../processes.js';
import { stderrLines } from '../journal.js';

export const RELOAD_HELP = `Usage: socket-activation reload PID [--timeout SECONDS]

Asks the service process PID (which called hotUpgrade()) to upgrade itself and waits for the
outcome: exit status 0 once the successor is the main process, 1 when the upgrade was rolled
back (the old process keeps serving) or could not be requested. For ExecReload=:

  ExecReload=socket-activation reload $MAINPID

(kill -HUP returns at once, so systemctl reload could not report a failed upgrade.)
SIGTERM (systemctl stop or restart during a reload) ends the wait with status 0.`;

const MAX_TIMEOUT_SECONDS = 2147483;

function usage(message: string): never {
  throw new SocketActivationError('ERR_LAUNCHER_USAGE', `${message}\nRun socket-activation reload --help for usage.`);
}

/** `socket-activation reload PID`: resolves with the exit status. */
export async function reload(argv: readonly string[]): Promise<number> {
  let pid: number | undefined;
  let timeoutMs = 90_000;
  let timeoutText = '90';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      console.log(RELOAD_HELP);
      return 0;
    }
    if (arg === '--timeout') {
      timeoutText = argv[++i] ?? '';
      const seconds = /^[0-9]+(\.[0-9]+)?$/.test(timeoutText) ? Number(timeoutText) : Number.NaN;
      // setTimeout() takes at most 2^31 - 1 ms (beyond, it fires at once).
      if (!(seconds > 0 && seconds <= MAX_TIMEOUT_SECONDS)) usage(`--timeout needs seconds > 0 (at most ${MAX_TIMEOUT_SECONDS}); found ${JSON.stringify(timeoutText)}.`);
      timeoutMs = seconds * 1000;
    } else if (/^[1-9][0-9]{0,9}$/.test(arg) && Number(arg) <= 0x7fffffff) {
      if (pid !== undefined) usage(`Unexpected argument ${JSON.stringify(arg)}: reload takes one pid, and ${pid} came before it (ExecReload=socket-activation reload $MAINPID).`);
      pid = Number(arg);
    } else usage(`Unexpected argument ${JSON.stringify(arg)}: expected a pid (ExecReload=socket-activation reload $MAINPID).`);
  }
  if (pid === undefined) usage('reload needs the pid of the service process (ExecReload=socket-activation reload $MAINPID).');
  // systemctl stop or restart during a reload sends this control process the unit's
  // KillSignal= (SIGTERM); dying of it, the process would make systemd mark the unit failed
  // ("Failed with result 'signal'"). Status 0 hides no failed reload: a reload that outlives its
  // timeout is marked timed out by systemd whatever this process exits with. SIGINT keeps its
  // default (killed by it): systemd does not send it unless KillSignal= says so, and a terminal's
  // Ctrl-C must not read as success to a script that runs this command.
  process.once('SIGTERM', () => {
    process.stderr.write(stderrLines(`socket-activation: reload of pid ${pid} interrupted by SIGTERM: the service manager is stopping or restarting the service`, 'warning'));
    process.exit(0);
  });
  const path = controlPath(pid);
  const answer = await askToUpgrade(pid, timeoutMs).catch((err: NodeJS.ErrnoException) => {
    throw new Error(
      err.code === 'ETIMEDOUT'
        ? `no outcome from pid ${pid} within ${timeoutText} s; the upgrade may still be running`
        : (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') && !isAlive(pid)
          ? `there is no process ${pid} to ask for an upgrade: start the service, or give its main process's pid (ExecReload=socket-activation reload $MAINPID).`
          : err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
            ? `pid ${pid} takes no upgrade requests (${err.code} on ${path}): did it call hotUpgrade()? ` +
              'The control socket lives in $RUNTIME_DIRECTORY, else $XDG_RUNTIME_DIR, else the temp dir: run the reload with the service\'s environment.'
            : err.code === undefined
              ? err.message // a path too long, or a socket served by another user
              : `${err.code} talking to ${path}: ${err.message}`,
    );
  });
  if (answer.startsWith('ok ')) {
    console.log(`socket-activation: upgraded; pid ${answer.slice(3)} is the main process now`);
    return 0;
  }
  process.stderr.write(stderrLines(`socket-activation: upgrade of pid ${pid} failed: ${answer.replace(/^failed /, '') || 'no answer'}`, 'err'));
  if (answer === '') await awaitCollected(pid);
  return 1;
}

/**
 * No answer: the service exited (a hot upgrade's old process does when its successor died, and
 * leaves that successor, its child, to the manager). systemd looks at its main process when this
 * control process exits; so it exits only once the manager has collected the service (gone from
 * /proc) and had a moment for what was re-parented to it, or after 5 s. As the native command.
 */
async function awaitCollected(pid: number): Promise<void> {
  for (let i = 0; i < 500 && isAlive(pid); i++) await sleep(10);
  await sleep(200);
}
