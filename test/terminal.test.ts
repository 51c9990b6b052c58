// A SIGHUP from a terminal that hangs up is not a reload: the launcher and a service with
// hotUpgrade(), run as a job of an interactive shell on a real pseudo-terminal
// (fixtures/terminal.py), must stop when the terminal's window closes, and still reload on a
// `kill -HUP` while the terminal is there — or long after it went away, for a job left running.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { procStat } from '../src/processes.js';
import { cli, fixtures, root } from './helpers/activated.js';
import { get, tryConnect } from './helpers/clients.js';
import { freePort } from './helpers/raw-sockets.js';
import { killAll, start, type Watched } from './helpers/watch.js';

// Processes a failing test may leave running outside the terminal's tree (a hang-up orphans
// them), where killAll() does not look.
const seen = new Set<number>();
afterEach(async () => {
  await killAll();
  for (const pid of seen) if (!gone(pid)) process.kill(pid, 'SIGKILL');
  seen.clear();
});

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
/** A command line that prints `TAG <pid>` and then becomes `command` (same pid). */
const tagged = (tag: string, command: string[]): string => `sh -c 'echo ${tag} $$; exec "$@"' sh ${command.map(quote).join(' ')}`;

function terminal(line: string): Watched {
  return start('python3', [join(fixtures, 'terminal.py'), line], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
}

const hangUp = (t: Watched): void => void t.child.stdin!.write('hangup\n');
const gone = (pid: number): boolean => ['Z', undefined].includes(procStat(pid)?.state);

/** The pid that answers on `port`, once one does (the body ends with it). */
async function answeringPid(port: number, not?: number): Promise<number> {
  for (let i = 0; i < 150; i++) {
    const pid = await get({ host: '127.0.0.1', port }).then(
      (a) => Number(/(\d+)\D*$/.exec(a.body)?.[1]),
      () => undefined,
    );
    if (pid !== undefined && pid !== not) {
      seen.add(pid);
      return pid;
    }
    await sleep(100);
  }
  throw new Error(`no ${not ? 'other ' : ''}process answered on port ${port}`);
}

async function waitGone(pids: number[]): Promise<void> {
  for (let i = 0; i < 150 && !pids.every(gone); i++) await sleep(100);
}

describe('the launcher in a terminal', () => {
  it('kill -HUP reloads while the terminal is there; its hang-up stops the launcher and the child (no reload, nothing left on the port)', async () => {
    const port = await freePort();
    const t = terminal(tagged('LAUNCHER', [process.execPath, cli, '-l', `web=127.0.0.1:${port}`, '--', process.execPath, 'examples/http-server.mjs']));
    const launcher = Number((await t.waitFor(/LAUNCHER (\d+)/))[1]);
    seen.add(launcher);
    const first = await answeringPid(port);
    process.kill(launcher, 'SIGHUP');
    const second = await answeringPid(port, first);
    await waitGone([first]);

    hangUp(t);
    await t.waitFor(/HUNG UP/);
    await waitGone([launcher, second]);
    expect({ launcher: gone(launcher), child: gone(second), port: await tryConnect({ host: '127.0.0.1', port }) }).toEqual({ launcher: true, child: true, port: 'ECONNREFUSED' });
    // Said on the terminal before it went: nothing (it is gone); what the log said before is there.
    expect(t.stdout).toContain(`reloaded: pid ${second} serves`);
  });

  it('a launcher in the foreground job with no terminal on stdin, stdout or stderr (pipes, as concurrently runs it) is stopped by the hang-up too', async () => {
    const port = await freePort();
    const t = terminal(`${tagged('LAUNCHER', [process.execPath, cli, '-l', `web=127.0.0.1:${port}`, '--', process.execPath, 'examples/http-server.mjs'])} < /dev/null 2>&1 | cat`);
    const launcher = Number((await t.waitFor(/LAUNCHER (\d+)/))[1]);
    seen.add(launcher);
    const first = await answeringPid(port);
    hangUp(t);
    await t.waitFor(/HUNG UP/);
    await waitGone([launcher, first]);
    expect({ launcher: gone(launcher), child: gone(first), port: await tryConnect({ host: '127.0.0.1', port }) }).toEqual({ launcher: true, child: true, port: 'ECONNREFUSED' });
  });

  it('a launcher left running in the background (disowned) is not stopped by the hang-up, and reloads on a kill -HUP after it', async () => {
    const port = await freePort();
    const line = `${tagged('LAUNCHER', [process.execPath, cli, '-l', `web=127.0.0.1:${port}`, '--', process.execPath, 'examples/http-server.mjs'])} & disown`;
    const t = terminal(line);
    const launcher = Number((await t.waitFor(/LAUNCHER (\d+)/))[1]);
    seen.add(launcher);
    const first = await answeringPid(port);
    hangUp(t);
    await t.waitFor(/HUNG UP/);
    // Past the time in which a SIGHUP counts as the hang-up's (the loss is noticed within 1 s).
    await sleep(3500);
    expect(await answeringPid(port)).toBe(first);
    process.kill(launcher, 'SIGHUP');
    const second = await answeringPid(port, first);
    expect(gone(launcher)).toBe(false);
    process.kill(launcher, 'SIGTERM');
    await waitGone([launcher, second]);
    expect({ launcher: gone(launcher), child: gone(second) }).toEqual({ launcher: true, child: true });
  });
});

describe('job control on the launcher', () => {
  const type = (t: Watched, keys: string): void => void t.child.stdin!.write(keys);

  it('Ctrl-Z stops the launcher while its child serves on; after fg the pings the child sent meanwhile count (no watchdog abort), and a reload replaces that child', async () => {
    const port = await freePort();
    const t = terminal(tagged('LAUNCHER', [process.execPath, cli, '--watchdog-sec', '1', '-l', `web=127.0.0.1:${port}`, '--', process.execPath, join(fixtures, 'supervised.mjs'), '--watchdog']));
    const launcher = Number((await t.waitFor(/LAUNCHER (\d+)/))[1]);
    seen.add(launcher);
    await t.waitFor(/UP \{/);
    const first = await answeringPid(port);
    type(t, '\x1a');
    for (let i = 0; i < 100 && procStat(launcher)?.state !== 'T'; i++) await sleep(50);
    expect(procStat(launcher)?.state).toBe('T');
    expect(await answeringPid(port)).toBe(first);
    // Well past the watchdog's 1 s, while the child goes on pinging into the launcher's socket.
    await sleep(2500);
    type(t, 'fg\n');
    process.kill(launcher, 'SIGHUP');
    const [line] = await t.waitFor(/reloaded: pid \d+ serves, pid \d+ drains|watchdog timeout/);
    expect(line).toMatch(new RegExp(`reloaded: pid \\d+ serves, pid ${first} drains`));
    process.kill(launcher, 'SIGTERM');
    await waitGone([launcher]);
    expect(t.stdout).not.toMatch(/watchdog timeout/);
  });
});

describe('a service with hotUpgrade() in a terminal (systemd-socket-activate in front)', () => {
  const service = async (port: number): Promise<{ t: Watched; pid: number }> => {
    const t = terminal(tagged('SERVICE', ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=web', process.execPath, 'examples/zero-downtime/server.mjs']));
    const pid = Number((await t.waitFor(/SERVICE (\d+)/))[1]);
    expect(await answeringPid(port)).toBe(pid);
    return { t, pid };
  };

  it('the hang-up makes no successor: the service stops through its SIGTERM handler, nothing is left on the port', async () => {
    const port = await freePort();
    const { t, pid } = await service(port);
    hangUp(t);
    await t.waitFor(/HUNG UP/);
    await waitGone([pid]);
    expect({ service: gone(pid), port: await tryConnect({ host: '127.0.0.1', port }) }).toEqual({ service: true, port: 'ECONNREFUSED' });
  });

  it('kill -HUP while the terminal is there upgrades, and says that the successor is out of the shell\'s job', async () => {
    const port = await freePort();
    const { t, pid } = await service(port);
    process.kill(pid, 'SIGHUP');
    // Not a descendant of the terminal once its predecessor has exited: stopped here.
    const successor = await answeringPid(port, pid);
    await t.waitFor(new RegExp(`upgrade done: pid ${successor} took over; it is not a job of this terminal's shell: Ctrl-C and closing the window do not reach it \\(stop it with kill ${successor}\\)`));
    process.kill(successor, 'SIGTERM');
    await waitGone([pid, successor]);
    expect({ service: gone(pid), successor: gone(successor) }).toEqual({ service: true, successor: true });
  });
});
