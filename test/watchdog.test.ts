// The watchdog: WATCHDOG_USEC/WATCHDOG_PID rules (pure, as sd_watchdog_enabled) and the pinger
// against a real receiver, in child processes so the pid rules and exits are real.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { judgeWatchdog, startWatchdog } from '../src/index.js';
import { finish, root, startActivated } from './helpers/activated.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { killAll } from './helpers/watch.js';

afterEach(() => killAll());

describe('judgeWatchdog', () => {
  it('absent or empty: disabled', () => {
    expect(judgeWatchdog({}, 10)).toEqual({ enabled: false, reason: 'absent' });
    expect(judgeWatchdog({ WATCHDOG_USEC: '' }, 10)).toEqual({ enabled: false, reason: 'absent' });
  });

  it('enabled with or without a matching WATCHDOG_PID', () => {
    expect(judgeWatchdog({ WATCHDOG_USEC: '30000000' }, 10)).toEqual({ enabled: true, usec: 30_000_000 });
    expect(judgeWatchdog({ WATCHDOG_USEC: '1', WATCHDOG_PID: '10' }, 10)).toEqual({ enabled: true, usec: 1 });
  });

  it('another WATCHDOG_PID (a child inherited it): disabled, not an error', () => {
    expect(judgeWatchdog({ WATCHDOG_USEC: '5000000', WATCHDOG_PID: '11' }, 10)).toEqual({ enabled: false, reason: 'other-process', watchdogPid: 11 });
  });

  it.each(['0', 'abc', '-1', ' 5', '5 ', '1.5', '0x10', '010', '18446744073709551615', '99999999999999999999999'])('WATCHDOG_USEC=%j: ERR_WATCHDOG_USEC', (v) => {
    expect(() => judgeWatchdog({ WATCHDOG_USEC: v }, 10)).toThrow(expect.objectContaining({ code: 'ERR_WATCHDOG_USEC', variable: 'WATCHDOG_USEC', found: v }));
  });

  // A leading 0 too: libsystemd reads 012 as octal (pid 10), so it is refused rather than read as 12.
  it.each(['', '0', 'x', '-5', '12a', '4294967296', '012'])('WATCHDOG_PID=%j: ERR_WATCHDOG_PID', (v) => {
    expect(() => judgeWatchdog({ WATCHDOG_USEC: '1000', WATCHDOG_PID: v }, 10)).toThrow(expect.objectContaining({ code: 'ERR_WATCHDOG_PID', variable: 'WATCHDOG_PID', found: v }));
  });

  it('fraction outside (0, 0.5]: ERR_INVALID_ARGUMENT', () => {
    expect(() => startWatchdog({ fraction: 0.9 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => startWatchdog({ fraction: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('startWatchdog', () => {
  it('null options are none; options that are not an object: ERR_INVALID_ARGUMENT', () => {
    delete process.env.WATCHDOG_USEC;
    expect(startWatchdog(null)).toBeUndefined();
    expect(() => startWatchdog(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options' }));
  });

  it('an onError that is not a function: ERR_INVALID_ARGUMENT at the call, not a TypeError that ends the process when a ping fails', async () => {
    const code = `import { startWatchdog } from ${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)};
       try { startWatchdog({ onError: 5 }); } catch (err) { console.log(JSON.stringify({ code: err.code, argument: err.argument, message: err.message })); }
       setTimeout(() => console.log('alive'), 300);`;
    const r = await finish(startActivated('', { listenPid: 'none', command: [process.execPath, '--input-type=module', '-e', code], env: { WATCHDOG_USEC: '100000', NOTIFY_SOCKET: '/nonexistent/notify' } }));
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([JSON.stringify({ code: 'ERR_INVALID_ARGUMENT', argument: 'onError', message: "startWatchdog()'s onError must be a function, found 5." }), 'alive']);
  });

  it('pings at half the interval and never keeps the process alive', async () => {
    const r = await startReceiver();
    const child = startActivated('watchdog.mjs', { listenPid: 'none', args: ['--hold', '1000'], env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '200000' } });
    const done = await finish(child, 15_000);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ intervalMs: 200, pingEveryMs: 100 });
    const pings = r.messages().filter((m) => m.text === 'WATCHDOG=1');
    // One at start, then every 100 ms while the process was held up for 1 s.
    expect(pings.length).toBeGreaterThanOrEqual(5);
    expect(pings.every((m) => m.pid === child.pid)).toBe(true);
  });

  it('exits on its own with a long interval (the timer is unref-ed)', async () => {
    const r = await startReceiver();
    const child = startActivated('watchdog.mjs', { listenPid: 'none', env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '60000000' } });
    const done = await finish(child, 10_000);
    expect(done).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(done.stdout)).toEqual({ intervalMs: 60_000, pingEveryMs: 30_000 });
  });

  it('an interval longer than a Node timer (WatchdogSec=116d): pings every 2^31-1 ms, not every 1 ms', async () => {
    const r = await startReceiver();
    const child = startActivated('watchdog.mjs', { listenPid: 'none', args: ['--hold', '300'], env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '10000000000000' } });
    const done = await finish(child, 10_000);
    expect(done).toMatchObject({ code: 0, signal: null });
    expect(JSON.parse(done.stdout)).toEqual({ intervalMs: 10_000_000_000, pingEveryMs: 2 ** 31 - 1 });
    expect(done.stderr).not.toMatch(/TimeoutOverflowWarning/);
    // The ping at start only: with the overflow Node ran the timer every millisecond.
    await r.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.messages().map((m) => m.text)).toEqual(['WATCHDOG=1']);
  });

  it('WATCHDOG_PID of another process: not started (undefined), nothing sent', async () => {
    const r = await startReceiver();
    const done = await finish(startActivated('watchdog.mjs', { listenPid: 'none', env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' } }));
    expect(done.code).toBe(0);
    expect(done.stdout.trim()).toBe('null');
    expect(r.messages()).toEqual([]);
  });
});
