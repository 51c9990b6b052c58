// The LISTEN_* rules as pure functions: no addon, no fds.
import { describe, expect, it } from 'vitest';
import { judgeEnvironment, splitNames, type Self } from '../src/environment.js';

const self: Self = { pid: 4242, pidfdId: () => undefined };
const judge = (env: Record<string, string>, s: Self = self) => judgeEnvironment(env, s);
const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string; variable?: string; found?: unknown });
  }
  throw new Error('did not throw');
};

describe('LISTEN_PID', () => {
  it('absent means not activated', () => {
    expect(judge({ LISTEN_FDS: '1' })).toEqual({ activated: false, why: 'absent', missing: 'LISTEN_PID' });
  });
  it('another pid means not activated, not an error', () => {
    expect(judge({ LISTEN_PID: '1', LISTEN_FDS: '1' })).toEqual({ activated: false, why: 'pid-mismatch', listenPid: 1 });
  });
  it.each(['abc', '-1', '0', '1.5', ' 4242', '4242 ', '0x10', '010', '', '99999999999'])('%j is ERR_LISTEN_PID', (value) => {
    const err = codeOf(() => judge({ LISTEN_PID: value, LISTEN_FDS: '1' }));
    expect(err.code).toBe('ERR_LISTEN_PID');
    expect(err.variable).toBe('LISTEN_PID');
    expect(err.found).toBe(value);
  });
  it('is checked before LISTEN_FDS', () => {
    expect(codeOf(() => judge({ LISTEN_PID: 'x', LISTEN_FDS: 'y' })).code).toBe('ERR_LISTEN_PID');
    expect(judge({ LISTEN_PID: '7', LISTEN_FDS: 'garbage' })).toMatchObject({ activated: false, why: 'pid-mismatch' });
  });
});

describe('LISTEN_FDS', () => {
  it('absent means not activated', () => {
    expect(judge({ LISTEN_PID: '4242' })).toEqual({ activated: false, why: 'absent', missing: 'LISTEN_FDS' });
  });
  it.each(['abc', '-1', '0', '1.5', ' 2', '2 ', '+2', '0x2', '02', '1e1', '3.0', '', '99999999999', '2147483645'])('%j is ERR_LISTEN_FDS', (value) => {
    const err = codeOf(() => judge({ LISTEN_PID: '4242', LISTEN_FDS: value }));
    expect(err.code).toBe('ERR_LISTEN_FDS');
    expect(err.found).toBe(value);
  });
  it('accepts 1 up to INT_MAX - 3 as libsystemd does', () => {
    expect(judge({ LISTEN_PID: '4242', LISTEN_FDS: '1' })).toMatchObject({ activated: true, count: 1 });
    expect(judge({ LISTEN_PID: '4242', LISTEN_FDS: '2147483644' })).toMatchObject({ activated: true, count: 2147483644 });
  });
  it('passes LISTEN_FDNAMES through unsplit', () => {
    expect(judge({ LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' })).toEqual({
      activated: true,
      listenPid: 4242,
      count: 2,
      rawNames: 'a:b',
    });
  });
});

describe('LISTEN_PIDFDID', () => {
  const withId = { pid: 4242, pidfdId: () => 99n };
  it('must parse when set', () => {
    for (const value of ['abc', '-1', '1.5', ' 9', '18446744073709551616']) {
      expect(codeOf(() => judge({ LISTEN_PID: '4242', LISTEN_PIDFDID: value, LISTEN_FDS: '1' }, withId)).code).toBe('ERR_LISTEN_PIDFDID');
    }
  });
  it('a different pidfd id means the pid was reused: not activated', () => {
    expect(judge({ LISTEN_PID: '4242', LISTEN_PIDFDID: '98', LISTEN_FDS: '1' }, withId)).toEqual({
      activated: false,
      why: 'pidfd-mismatch',
      listenPid: 4242,
      pidfdId: 98n,
    });
  });
  it('the same id, or an id this kernel cannot give (no pidfs), is accepted', () => {
    expect(judge({ LISTEN_PID: '4242', LISTEN_PIDFDID: '99', LISTEN_FDS: '1' }, withId)).toMatchObject({ activated: true });
    expect(judge({ LISTEN_PID: '4242', LISTEN_PIDFDID: '98', LISTEN_FDS: '1' }, self)).toMatchObject({ activated: true });
  });
  it('is only looked at when LISTEN_PID matches', () => {
    expect(judge({ LISTEN_PID: '1', LISTEN_PIDFDID: 'junk', LISTEN_FDS: '1' }, withId)).toMatchObject({ why: 'pid-mismatch' });
  });
});

describe('LISTEN_FDNAMES', () => {
  it('absent: every fd is "unknown"', () => {
    expect(splitNames(undefined, 3)).toEqual(['unknown', 'unknown', 'unknown']);
  });
  it('keeps empty fields', () => {
    expect(splitNames('a::b', 3)).toEqual(['a', '', 'b']);
    expect(splitNames('', 1)).toEqual(['']);
    expect(splitNames(':', 2)).toEqual(['', '']);
  });
  it('more or fewer names than fds is ERR_LISTEN_FDNAMES', () => {
    const more = codeOf(() => splitNames('a:b:c', 2));
    expect(more).toMatchObject({ code: 'ERR_LISTEN_FDNAMES', variable: 'LISTEN_FDNAMES', expected: 2, found: 3 });
    expect(codeOf(() => splitNames('a', 2))).toMatchObject({ code: 'ERR_LISTEN_FDNAMES', expected: 2, found: 1 });
  });
});
