// How the launcher reads its options: short options with the value attached (as getopt takes
// them), and -E for a variable the supervisor sets itself, which would be silently replaced.
import { afterEach, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { killAll, start } from './helpers/watch.js';

afterEach(() => killAll());

const launch = (args: string[]) => start(process.execPath, [cli, ...args], { cwd: root });

describe('short options with the value attached', () => {
  it('-l127.0.0.1:0 -dname=127.0.0.1:0 -b128 -EFOO=bar work as -l 127.0.0.1:0 -d name=… -b 128 -E FOO=bar', async () => {
    const s = launch(['-l127.0.0.1:0', '-dname=127.0.0.1:0', '-b128', '-EFOO=bar', '--restart', 'no', '--', '/bin/sh', '-c', 'echo "$LISTEN_FDS $LISTEN_FDNAMES $FOO"']);
    expect(await s.finish()).toEqual({ code: 0, signal: null });
    expect(s.stdout).toBe('2 unknown:name bar\n');
  });

  it('-b with a value attached is still checked', async () => {
    const s = launch(['-bmany', '-l', '127.0.0.1:0', '--', 'true']);
    expect(await s.finish()).toEqual({ code: 2, signal: null });
    expect(s.stderr).toContain('"many"');
  });
});

describe('-E for a variable the launcher sets is a usage error', () => {
  it.each([
    ['LISTEN_FDS=5', 'LISTEN_FDS', 'the sockets passed'],
    ['LISTEN_PID=1', 'LISTEN_PID', 'the sockets passed'],
    ['LISTEN_FDNAMES=a:b', 'LISTEN_FDNAMES', 'the sockets passed'],
    ['NOTIFY_SOCKET=/x', 'NOTIFY_SOCKET', "the supervisor's own notify socket"],
    ['WATCHDOG_USEC=5000000', 'WATCHDOG_USEC', 'from --watchdog-sec'],
    ['FDSTORE=8', 'FDSTORE', 'from --fd-store-max'],
  ])('-E %s', async (assignment, name, why) => {
    const s = launch(['-l', '127.0.0.1:0', '-E', assignment, '--', 'true']);
    expect(await s.finish()).toEqual({ code: 2, signal: null });
    expect(s.stderr).toContain(`--setenv ${assignment}: ${name} is set (or removed) by the launcher for each start (${why}`);
    expect(s.stderr).toContain('[ERR_LAUNCHER_USAGE]');
  });
});

describe('FDSTORE', () => {
  // As systemd 254 and later set it: the fd store's size when it is enabled, nothing when not.
  it.each([
    [[], '64'],
    [['--fd-store-max', '5'], '5'],
    [['--fd-store-max', '0'], 'unset'],
  ])('%j: the child sees FDSTORE=%s', async (options, seen) => {
    const s = launch(['-l', '127.0.0.1:0', ...options, '--restart', 'no', '--', '/bin/sh', '-c', 'echo "${FDSTORE-unset}"']);
    expect(await s.finish()).toEqual({ code: 0, signal: null });
    expect(s.stdout).toBe(`${seen}\n`);
  });
});
