// Arguments of the wrong kind to the functions that take a listener: ERR_INVALID_ARGUMENT
// naming what was found (an fd number is the likely mistake: Node's own listen({ fd }) takes
// one), before anything is looked up or adopted.
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  bindDatagram,
  check,
  checkFdName,
  connection,
  connections,
  controlPath,
  describe as describeFd,
  fifo,
  inspect,
  judgeWatchdog,
  keepConnection,
  keptConnections,
  listen,
  listener,
  listenersNamed,
  mainPid,
  matches,
  notify,
  parseNotifyAddress,
  reportErrno,
  setWatchdogTimeout,
  startWatchdog,
  store,
  storeRemove,
} from '../src/index.js';

describe('the listener argument', () => {
  it.each([
    [3, /found the number 3\. For fd 3, pass inspect\(3\) or its name from LISTEN_FDNAMES\./],
    [null, /found null\./],
    [{}, /found an object without fd and kind\./],
    [[], /found an empty array\./],
    [[{}], /found an array of 1 \(not all descriptors\)\./],
    [undefined, /found undefined\./],
  ])('%j: listen() rejects, connection() and bindDatagram() throw, each naming itself', async (bad, message) => {
    await expect(listen(net.createServer(), bad as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^listen\(server, listener\): the listener must be a name/), found: bad });
    await expect(listen(net.createServer(), bad as string)).rejects.toMatchObject({ message: expect.stringMatching(message) });
    expect(() => connection(bad as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^connection\(\): the listener must be a name/) }));
    await expect(bindDatagram(bad as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^bindDatagram\(\): the listener must be a name/) });
    expect(() => fifo(bad as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^fifo\(\): the listener must be a name/) }));
  });

  it('an empty array: listen() says there is nothing to serve and where an empty array comes from, not "not all descriptors"', async () => {
    await expect(listen(net.createServer(), [])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message:
        'listen(server, listener): the listener must be a name (a string) or a descriptor from listeners() (or an array of them); found an empty array. ' +
        'An array needs at least one descriptor: if it came from filtering listeners(), the filter matched none of the inherited fds.',
      argument: 'listener',
      expected: 'name | descriptor | descriptor[]',
      found: [],
    });
  });
});

describe('the server argument of listen()', () => {
  it.each([
    [{}, 'Object'],
    [null, 'null'],
    ['web', 'web'],
    [dgram.createSocket('udp4'), 'Socket'],
  ])('%j is ERR_INVALID_ARGUMENT naming what was found', async (bad, found) => {
    if (bad instanceof dgram.Socket) bad.close();
    await expect(listen(bad as unknown as http.Server, 'web')).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: `listen(): the server must be a net.Server (http, https, http2, tls or net); found ${found}.`,
      found,
    });
  });
});

// Checked before the lookup (this process is not activated: a lookup would say ERR_NOT_ACTIVATED).
describe('the name and the expectation of listener() and listenersNamed()', () => {
  it.each([
    [3, /found 3\. For fd 3, use inspect\(3\)\./],
    [undefined, /found undefined\./],
    [{}, /found an object\./],
  ])('name %j is ERR_INVALID_ARGUMENT, not "no fd is named"', (bad, message) => {
    expect(() => listener(bad as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'name', message: expect.stringMatching(/^listener\(\): the name must be a string/) }));
    expect(() => listenersNamed(bad as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
  });

  it.each([
    [{ type: 'bogus' }, 'listener(): expectation type is "bogus"; expected type to be one of stream, dgram, seqpacket, raw, other.'],
    [{ port: '80' }, 'listener(): expectation port is "80"; expected port to be an integer from 0 to 65535.'],
    [{ listening: 1 }, 'listener(): expectation listening is 1; expected listening to be true or false.'],
    ['stream', 'listener(): the expectation is "stream"; expected an object with some of kind, type, family, protocol, listening, port, address, path, abstract.'],
  ])('expectation %j, which no fd could meet, is ERR_INVALID_ARGUMENT', (bad, message) => {
    expect(() => listener('web', bad as object)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'expect', message }));
  });

  it('check() and matches() check the expectation too; fields they do not know are left alone (a descriptor may serve as one)', () => {
    const stdin = inspect(0);
    expect(matches(stdin, { ...stdin })).toBe(true);
    expect(matches(stdin, { kind: stdin.kind, name: 'web' } as never)).toBe(true);
    expect(() => matches(stdin, { kind: 'pipe' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^matches\(\): expectation kind is "pipe"; expected kind to be one of socket, fifo, file/) }));
    expect(() => check(stdin, { family: 'ipv4' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^check\(\): expectation family is "ipv4"/) }));
  });
});

// JSON.stringify throws on a bigint: the message of the argument error must not.
describe('a bigint where a number or a string belongs', () => {
  it('is ERR_INVALID_ARGUMENT or ERR_FDNAME showing it as 10n, not a TypeError from the message', async () => {
    await expect(notify({ READY: true }, { fds: [10n as never] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'fds', message: expect.stringContaining('found 10n in it') });
    await expect(notify({ READY: true }, { fds: 10n as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('found 10n.') });
    await expect(reportErrno(10n as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining('found 10n.') });
    await expect(store('x', 0, { poll: 10n as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'poll', message: expect.stringContaining('found 10n.') });
    await expect(keptConnections({ prefix: 10n as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'prefix', message: expect.stringContaining('found 10n.') });
    expect(() => checkFdName(10n as never)).toThrow(expect.objectContaining({ code: 'ERR_FDNAME', message: expect.stringMatching(/^The fd name 10n is not valid: it is a bigint, not a string/) }));
    await expect(store(10n as never, 0)).rejects.toMatchObject({ code: 'ERR_FDNAME' });
    await expect(storeRemove(10n as never)).rejects.toMatchObject({ code: 'ERR_FDNAME' });
  });
});

// null is no options, as drain() and Node's own APIs take it; a string is a mistake, not options to ignore.
describe('the options argument', () => {
  it('null: the call goes on (here: not activated); not an object: ERR_INVALID_ARGUMENT naming the function', async () => {
    await expect(listen(net.createServer(), 'web', null)).rejects.toMatchObject({ code: 'ERR_NOT_ACTIVATED' });
    await expect(bindDatagram('dns', null)).rejects.toMatchObject({ code: 'ERR_NOT_ACTIVATED' });
    expect(() => fifo('log', null)).toThrow(expect.objectContaining({ code: 'ERR_NOT_ACTIVATED' }));
    const bad = { code: 'ERR_INVALID_ARGUMENT', argument: 'options', found: 'x' };
    await expect(listen(net.createServer(), 'web', 'x' as never)).rejects.toMatchObject({ ...bad, message: "listen()'s options must be an object, found string." });
    await expect(bindDatagram('dns', 'x' as never)).rejects.toMatchObject({ ...bad, message: "bindDatagram()'s options must be an object, found string." });
    expect(() => connection('conn', 'x' as never)).toThrow(expect.objectContaining({ ...bad, message: "connection()'s options must be an object, found string." }));
    expect(() => fifo('log', 'x' as never)).toThrow(expect.objectContaining({ ...bad, message: "fifo()'s options must be an object, found string." }));
    expect(() => connections('x' as never)).toThrow(expect.objectContaining({ ...bad, message: "connections()'s options must be an object, found string." }));
  });
});

// The exported helpers that take a descriptor, an address or an environment: V8's TypeError from
// deep inside (or a made-up answer) before; now ERR_INVALID_ARGUMENT naming the function.
describe('the pure helpers', () => {
  it('check(), matches() and describe() of something that is not a descriptor', () => {
    for (const [bad, found] of [[undefined, 'undefined'], [{}, 'an object without fd and kind'], [3, '3. For fd 3, pass inspect(3).']] as const) {
      const message = (fn: string) => `${fn}: the descriptor must be one from inspect(), listeners() or listenersNamed(); found ${found}${found.endsWith('.') ? '' : '.'}`;
      expect(() => check(bad as never, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'descriptor', message: message('check()') }));
      expect(() => matches(bad as never, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: message('matches()') }));
      expect(() => describeFd(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: message('describe()') }));
    }
    expect(describeFd(inspect(0))).toMatch(/\S/);
  });

  it('parseNotifyAddress() of a value that is not a string', () => {
    for (const bad of [5, null, {}]) {
      expect(() => parseNotifyAddress(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'value', message: expect.stringMatching(/^parseNotifyAddress\(\): the value must be a string \(as NOTIFY_SOCKET holds\) or undefined; found /) }));
    }
    expect(parseNotifyAddress(undefined)).toBeUndefined();
  });

  it('judgeWatchdog() without an environment, or with a pid that is not one', () => {
    expect(() => judgeWatchdog(undefined as never, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'env', message: 'judgeWatchdog(): env must be an environment object (process.env, say); found undefined.' }));
    expect(() => judgeWatchdog({}, '12' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'pid', message: 'judgeWatchdog(): pid must be a process id (an integer from 1 to 2147483647); found "12".' }));
    expect(judgeWatchdog({}, 12)).toEqual({ enabled: false, reason: 'absent' });
  });

  it('controlPath() of something that is not a pid: no path of no process', () => {
    for (const bad of [undefined, -5, 1.5, '../../etc/x']) {
      expect(() => controlPath(bad as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'pid', message: expect.stringMatching(/^controlPath\(\): pid must be a process id \(an integer from 1 to 2147483647\); found /) }));
    }
    expect(() => controlPath(5, null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'env' }));
    expect(controlPath(5, { XDG_RUNTIME_DIR: '/run/user/1' })).toBe('/run/user/1/socket-activation-5.ctl');
  });
});

// err.argument says which argument for every ERR_INVALID_ARGUMENT, and the message which function.
describe('ERR_INVALID_ARGUMENT names the function and the argument', () => {
  it('in the message and in err.argument', async () => {
    await expect(mainPid(0)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'pid', message: 'mainPid(): pid must be a positive integer (a pid_t), found 0.' });
    await expect(reportErrno('EFOO')).rejects.toMatchObject({ argument: 'errno', message: expect.stringMatching(/^reportErrno\(\): errno must be/) });
    await expect(setWatchdogTimeout(-1)).rejects.toMatchObject({ argument: 'ms', message: expect.stringMatching(/^setWatchdogTimeout needs milliseconds > 0/) });
    expect(() => startWatchdog({ fraction: 2 })).toThrow(expect.objectContaining({ argument: 'fraction', message: 'startWatchdog(): fraction must be a number in (0, 0.5], found 2.' }));
    await expect(store('x', 1.5)).rejects.toMatchObject({ argument: 'target', message: expect.stringMatching(/^store\(\): expected an fd/) });
    await expect(store('x', new net.Socket())).rejects.toMatchObject({ argument: 'target' });
    await expect(store('x', { fd: 'a' } as never)).rejects.toMatchObject({ message: 'store(): expected an fd (integer >= 0), a descriptor, a server or a socket to store, found "a".' });
    await expect(store('x', {} as never)).rejects.toMatchObject({ message: expect.stringMatching(/, found \{\}\.$/) });
    await expect(keepConnection({} as net.Socket)).rejects.toMatchObject({ argument: 'socket' });
    await expect(listen({} as net.Server, 'web')).rejects.toMatchObject({ argument: 'server' });
    await expect(listen(net.createServer(), 3 as never)).rejects.toMatchObject({ argument: 'listener' });
    expect(() => connection(3 as never)).toThrow(expect.objectContaining({ argument: 'listener' }));
  });
});
