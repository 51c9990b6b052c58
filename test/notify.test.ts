// The notify protocol against a real unix datagram receiver: the exact bytes of every message,
// the sender's credentials, fds passed with SCM_RIGHTS, the barrier, a full queue, errors.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import {
  barrier,
  extendTimeout,
  mainPid,
  notify,
  ready,
  reloading,
  reportErrno,
  setWatchdogTimeout,
  status,
  stopping,
  store,
  storeRemove,
  watchdogPing,
  watchdogTrigger,
} from '../src/index.js';
import { inspect } from '../src/descriptor.js';
import { native } from '../src/native.js';
import { root } from './helpers/activated.js';
import { startReceiver, type Receiver } from './helpers/notify-receiver.js';
import { closeAll } from './helpers/sockets.js';
import { killAll } from './helpers/watch.js';

const receivers: Receiver[] = [];
async function receiver(options?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(options);
  receivers.push(r);
  process.env.NOTIFY_SOCKET = r.address;
  return r;
}

afterEach(async () => {
  delete process.env.NOTIFY_SOCKET;
  receivers.length = 0;
  closeAll();
  await killAll();
});

describe('no manager', () => {
  it('NOTIFY_SOCKET unset: every call resolves false and nothing is sent', async () => {
    delete process.env.NOTIFY_SOCKET;
    await expect(ready()).resolves.toBe(false);
    await expect(status('x')).resolves.toBe(false);
    await expect(store('x', 0)).resolves.toBe(false);
    await expect(barrier()).resolves.toBe(false);
  });
});

describe('messages', () => {
  it.each([{ abstract: false }, { abstract: true }])('READY=1 with STATUS reaches a %s socket with our pid', async (o) => {
    const r = await receiver(o);
    await expect(ready('serving')).resolves.toBe(true);
    const [m] = await r.waitFor(1);
    expect(m).toEqual({ text: 'READY=1\nSTATUS=serving', pid: process.pid, fds: [] });
  });

  it('each typed helper sends exactly its assignment, in call order', async () => {
    const r = await receiver();
    const before = process.hrtime.bigint() / 1000n;
    await Promise.all([
      status('half way'),
      stopping(),
      reloading(),
      reportErrno('ENOENT'),
      reportErrno(13),
      mainPid(4242),
      extendTimeout(1500),
      watchdogPing(),
      watchdogTrigger(),
      setWatchdogTimeout(2000),
      notify({ CUSTOM: 'a=b', N: 7, BIG: 12345678901234567890n }),
      notify('X_RAW=1\nY=2\n'),
    ]);
    const texts = (await r.waitFor(12)).map((m) => m.text);
    const monotonic = BigInt(/MONOTONIC_USEC=(\d+)/.exec(texts[2]!)![1]!);
    expect(monotonic >= before && monotonic <= process.hrtime.bigint() / 1000n).toBe(true);
    expect(texts).toEqual([
      'STATUS=half way',
      'STOPPING=1',
      `RELOADING=1\nMONOTONIC_USEC=${monotonic}`,
      'ERRNO=2',
      'ERRNO=13',
      'MAINPID=4242',
      'EXTEND_TIMEOUT_USEC=1500000',
      'WATCHDOG=1',
      'WATCHDOG=trigger',
      'WATCHDOG_USEC=2000000',
      'CUSTOM=a=b\nN=7\nBIG=12345678901234567890',
      'X_RAW=1\nY=2\n',
    ]);
  });

  it.each([
    ['a newline in STATUS', () => status('ok\nMAINPID=1')],
    ['a NUL in STATUS', () => status('ok\0MAINPID=1')],
    ['a newline in a field', () => notify({ STATUS: 'x', OTHER: 'y\nREADY=1' })],
    ['a lower-case key', () => notify({ ready: '1' })],
    ['a key with =', () => notify({ 'A=B': '1' })],
    ['no assignment', () => notify({})],
    ['a raw line without =', () => notify('READY=1\nMAINPID')],
    ['a raw NUL', () => notify('READY=1\0MAINPID=1')],
    ['a fractional number', () => notify({ MAINPID: 1.5 })],
    // systemd 252 splits lines at \r too, reads backslash escapes and ignores messages over 4096 bytes.
    ['a carriage return in STATUS', () => status('x\rREADY=1')],
    ['a backslash in STATUS', () => status('C:\\')],
    ['a message over 4096 bytes', () => status('x'.repeat(5000))],
  ])('%s is refused (ERR_NOTIFY_MESSAGE) and nothing reaches the socket', async (_, call) => {
    const r = await receiver();
    await expect(call()).rejects.toMatchObject({ code: 'ERR_NOTIFY_MESSAGE' });
    await status('after');
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=after']);
  });

  it.each([
    ['STATUS', () => status(undefined as never), 'undefined'],
    ['READY', () => notify({ READY: null as never }), 'null'],
    ['READY', () => notify({ READY: false as never }), 'false'],
  ])('%s of the wrong kind (%#): ERR_NOTIFY_MESSAGE naming the key and what was found (null, not "object"; false, not "boolean")', async (key, call, found) => {
    const r = await receiver();
    await expect(call()).rejects.toMatchObject({ code: 'ERR_NOTIFY_MESSAGE', key, message: `${key}: expected a string, a number, a bigint or true, found ${found}.` });
    await status('after');
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=after']);
  });

  it('an integer too large for a number: ERR_NOTIFY_MESSAGE saying to pass a bigint (not "expected an integer, found" an integer)', async () => {
    const r = await receiver();
    await expect(notify({ EXTEND_TIMEOUT_USEC: 2 ** 64 })).rejects.toMatchObject({
      code: 'ERR_NOTIFY_MESSAGE',
      message: 'EXTEND_TIMEOUT_USEC=18446744073709552000: a number beyond ±9007199254740991 is not exact (nor written in decimal past 1e21): pass it as a bigint (EXTEND_TIMEOUT_USEC: 18446744073709551616n is what this number holds).',
    });
    await expect(notify({ MAINPID: 1e21 })).rejects.toMatchObject({ code: 'ERR_NOTIFY_MESSAGE', message: expect.stringMatching(/^MAINPID=1e\+21: a number beyond .* pass it as a bigint/) });
    await expect(notify({ EXTEND_TIMEOUT_USEC: 2n ** 64n })).resolves.toBe(true);
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['EXTEND_TIMEOUT_USEC=18446744073709551616']);
  });

  it.each([
    ['reportErrno', () => reportErrno('ENOTANERRNO')],
    ['mainPid', () => mainPid(0)],
    ['extendTimeout', () => extendTimeout(-1)],
    ['setWatchdogTimeout', () => setWatchdogTimeout(Number.NaN)],
    ['timeout', () => ready(undefined, { timeout: -5 })],
  ])('bad argument to %s: ERR_INVALID_ARGUMENT', async (_, call) => {
    await receiver();
    await expect(call()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('stopping() right before process.exit() is still delivered (sent before the call returns)', async () => {
    const r = await receiver();
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', "const sa = await import('socket-activation'); sa.stopping(); process.exit(0);"], {
      cwd: root,
      env: { ...process.env, NOTIFY_SOCKET: r.address },
      encoding: 'utf8',
    });
    expect(run.status).toBe(0);
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STOPPING=1']);
  });

  it('unsetEnvironment removes NOTIFY_SOCKET but later messages still arrive', async () => {
    const r = await receiver();
    await ready(undefined, { unsetEnvironment: true });
    expect(process.env.NOTIFY_SOCKET).toBeUndefined();
    await expect(status('still here')).resolves.toBe(true);
    expect((await r.waitFor(2)).map((m) => m.text)).toEqual(['READY=1', 'STATUS=still here']);
  });
});

describe('a hot-upgrade successor', () => {
  /** A successor (SOCKET_ACTIVATION_SUCCESSOR=1) with its channel to us at fd 3, running `script`; our end of the channel. */
  function successor(script: string, type = native().constants.SOCK_SEQPACKET): { child: ReturnType<typeof spawn>; channel: number; lines: string[] } {
    const pair = native().socketPair(type);
    if (typeof pair === 'number') throw new Error(`socketpair: ${pair}`);
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, SOCKET_ACTIVATION_SUCCESSOR: '1', SOCKET_ACTIVATION_HANDOFF_FD: '3' },
      stdio: ['ignore', 'pipe', 'inherit', pair[1]],
    });
    native().close(pair[1]);
    const lines: string[] = [];
    child.stdout!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter((l) => l !== '')));
    return { child, channel: pair[0], lines };
  }

  /** The next message the successor sends up the channel. */
  async function fromSuccessor(channel: number): Promise<string> {
    for (;;) {
      const got = native().receive(channel);
      if (typeof got !== 'number') return got.data.toString();
      if (got !== -constants.errno.EAGAIN) throw new Error(`receive: ${got}`);
      await sleep(10);
    }
  }

  it('speaks through its predecessor until told it is the main process, with the same option checks and unsetEnvironment', async () => {
    const r = await receiver();
    const { child, channel, lines } = successor(`
      import { subscribe } from 'node:diagnostics_channel';
      const sa = await import('socket-activation');
      subscribe('socket-activation:main', async () => {
        await sa.status('direct');
        process.exit(0);
      });
      const bad = await sa.status('x', { timeout: -1 }).then(() => 'sent', (e) => e.code);
      await sa.status('through the predecessor', { unsetEnvironment: true });
      console.log(JSON.stringify({ bad, notifySocket: process.env.NOTIFY_SOCKET ?? null }));
      setInterval(() => {}, 1000);`);
    try {
      expect(await fromSuccessor(channel)).toBe('STATUS=through the predecessor');
      while (lines.length === 0) await sleep(10);
      expect(JSON.parse(lines[0]!)).toEqual({ bad: 'ERR_INVALID_ARGUMENT', notifySocket: null });
      expect(r.messages()).toHaveLength(0);
      native().sendOn(channel, Buffer.from('main'), new Int32Array(0));
      expect((await once(child, 'exit'))[0]).toBe(0);
      // As the main process it sends itself, to the address it remembered.
      expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=direct']);
    } finally {
      child.kill();
      native().close(channel);
    }
  });

  it.each(['SOCK_SEQPACKET', 'SOCK_DGRAM (macOS)'])('sends itself once its predecessor is gone (the channel closed), over %s', async (type) => {
    const r = await receiver();
    const { child, channel, lines } = successor(`
      const sa = await import('socket-activation');
      await sa.status('first');
      console.log('sent');
      setTimeout(async () => { await sa.status('second'); process.exit(0); }, 500);`,
      type.startsWith('SOCK_DGRAM') ? native().constants.SOCK_DGRAM : native().constants.SOCK_SEQPACKET,
    );
    try {
      expect(await fromSuccessor(channel)).toBe('STATUS=first');
      while (lines.length === 0) await sleep(10);
      native().close(channel);
      expect((await once(child, 'exit'))[0]).toBe(0);
      expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=second']);
    } finally {
      child.kill();
    }
  });

  it('messages wait, in order, while the predecessor does not read (a full channel), instead of failing', async () => {
    await receiver();
    const { child, channel, lines } = successor(`
      const sa = await import('socket-activation');
      await Promise.all(Array.from({ length: 600 }, (_, i) => sa.status('n' + i)));
      console.log('all sent');`);
    try {
      await sleep(500);
      expect(lines).toEqual([]);
      const got: string[] = [];
      while (got.length < 600) got.push(await fromSuccessor(channel));
      expect(got).toEqual(Array.from({ length: 600 }, (_, i) => `STATUS=n${i}`));
      expect((await once(child, 'exit'))[0]).toBe(0);
      expect(lines).toEqual(['all sent']);
    } finally {
      child.kill();
      native().close(channel);
    }
  });
});

describe('a NOTIFY_SOCKET path that is not UTF-8', () => {
  it('is sent to at its own bytes, not at the path Node decodes it to (U+FFFD)', () => {
    // Node cannot set such a variable: python binds the socket, runs node with it and reads.
    const python = `import json, os, socket, subprocess, sys, tempfile
d = tempfile.mkdtemp().encode()
path = d + b'/notify\\xff.sock'
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(10)
env = dict(os.environb)
env[b'NOTIFY_SOCKET'] = path
r = subprocess.run([sys.argv[1].encode(), b'--input-type=module', b'-e', sys.argv[2].encode()], env=env, capture_output=True)
try:
    got = s.recv(4096).decode()
except OSError as e:
    got = str(e)
os.unlink(path)
os.rmdir(d)
print(json.dumps({ 'sent': r.stdout.decode().strip(), 'stderr': r.stderr.decode(), 'got': got }))`;
    const script = `import { ready } from 'socket-activation';
      try { console.log(await ready()); } catch (err) { console.log(err.code, err.message); }`;
    const r = spawnSync('python3', ['-c', python, process.execPath, script], { cwd: root, encoding: 'utf8' });
    const out = JSON.parse(r.stdout || 'null') ?? r.stderr;
    expect(out).toEqual({ sent: 'true', stderr: '', got: 'READY=1' });
  });
});

describe('errors', () => {
  it('a socket file nobody reads: ECONNREFUSED with syscall and address', async () => {
    const r = await receiver();
    r.stop();
    await r.process.exited;
    await expect(ready()).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'sendmsg', address: r.address });
  });

  it('a closed fd among the fds passed: EBADF naming that fd (not the notify socket), and nothing sent', async () => {
    const r = await receiver();
    const err = (await notify({ FDSTORE: 1, FDNAME: 'x' }, { fds: [0, 987] }).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'EBADF', syscall: 'sendmsg', fd: 987, address: r.address });
    expect(err.message).toMatch(/^EBADF: bad file descriptor, sendmsg fd 987 \(passed with the message to NOTIFY_SOCKET .* but it is not open: pass only open fds\)$/);
    await expect(ready()).resolves.toBe(true);
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['READY=1']);
  });

  it('a path that does not exist: ENOENT', async () => {
    process.env.NOTIFY_SOCKET = '/nonexistent/notify';
    await expect(ready()).rejects.toMatchObject({ code: 'ENOENT', syscall: 'sendmsg', address: '/nonexistent/notify' });
  });

  it.each(['relative/notify', 'vsock::1', 'tcp:1.2.3.4:5', '@'])('NOTIFY_SOCKET=%j: ERR_NOTIFY_SOCKET naming the variable', async (value) => {
    process.env.NOTIFY_SOCKET = value;
    await expect(ready()).rejects.toMatchObject({ code: 'ERR_NOTIFY_SOCKET', variable: 'NOTIFY_SOCKET', found: value });
  });

  it('vsock: a system error from the vsock transport (no manager at that port), never a hang', async () => {
    process.env.NOTIFY_SOCKET = 'vsock:2:59999';
    const err = await ready().then(
      () => undefined,
      (e: unknown) => e as { code: string; syscall: string; address: string },
    );
    expect(err).toMatchObject({ address: 'vsock:2:59999' });
    expect(err!.code).toMatch(/^E[A-Z]+$/);
    expect(['socket', 'connect', 'sendto', 'send', 'recv']).toContain(err!.syscall);
  });

  it('fds over vsock: ENOTSUP (the fd store needs a unix socket)', async () => {
    process.env.NOTIFY_SOCKET = 'vsock:2:59999';
    await expect(store('x', 1)).rejects.toMatchObject({ code: 'ENOTSUP', syscall: 'sendmsg' });
  });
});

describe('a full manager queue', () => {
  it('never blocks the event loop; messages wait and arrive complete and in order', async () => {
    const r = await receiver({ paused: true });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const sends = Array.from({ length: 60 }, (_, i) => status(`n${i}`));
    let settled = 0;
    for (const s of sends) void s.then(() => settled++);
    // The kernel queues max_dgram_qlen (10 here) datagrams; the rest wait in our queue while
    // timers keep firing.
    const qlen = Number(readFileSync('/proc/sys/net/unix/max_dgram_qlen', 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ticks).toBeGreaterThan(10);
    expect(settled).toBeLessThan(60);
    expect(settled).toBeGreaterThanOrEqual(Math.min(qlen, 60) - 1);
    r.resume();
    await Promise.all(sends);
    clearInterval(ticker);
    expect((await r.waitFor(60)).map((m) => m.text)).toEqual(sends.map((_, i) => `STATUS=n${i}`));
  });

  it('gives up after `timeout` with ETIMEDOUT when the queue stays full', async () => {
    await receiver({ paused: true });
    const first = Array.from({ length: 30 }, () => status('fill', { timeout: 200 }).catch((e: { code: string }) => e.code));
    const codes = await Promise.all(first);
    expect(codes).toContain('ETIMEDOUT');
  });
});

describe('fd store messages', () => {
  it('store(name, server) sends FDSTORE=1 + FDNAME with a duplicate of the listening socket', async () => {
    const r = await receiver();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    await expect(store('web', server)).resolves.toBe(true);
    await expect(store('web-nopoll', server, { poll: false })).resolves.toBe(true);
    await storeRemove('web');
    const [one, two, three] = await r.waitFor(3);
    expect(one!.text).toBe('FDSTORE=1\nFDNAME=web');
    expect(one!.fds).toEqual([expect.objectContaining({ mode: 'socket', listening: true, local: `('127.0.0.1', ${port})` })]);
    expect(two!.text).toBe('FDSTORE=1\nFDNAME=web-nopoll\nFDPOLL=0');
    expect(three).toEqual({ text: 'FDSTOREREMOVE=1\nFDNAME=web', pid: process.pid, fds: [] });
    // Ours is untouched: the server still accepts.
    await new Promise<void>((resolve, reject) => net.connect(port, '127.0.0.1', resolve).on('error', reject).unref());
    server.close();
  });

  // Node's dgram.Socket#_handle getter is deprecated (DEP0112): reading it warned, and crashed
  // a process run with --throw-deprecation, with or without a manager.
  it.each([true, false])('store(name, dgramSocket) under node --throw-deprecation (NOTIFY_SOCKET set: %s): sent, exit 0, no DEP0112', async (withManager) => {
    const r = withManager ? await receiver() : undefined;
    const code = `import dgram from 'node:dgram';
      import { store } from 'socket-activation';
      const socket = dgram.createSocket('udp4');
      await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
      const sent = await store('dns', socket);
      const { port } = socket.address();
      socket.close();
      console.log(JSON.stringify({ sent, port }));`;
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_OPTIONS;
    if (!r) delete env.NOTIFY_SOCKET;
    const child = spawnSync(process.execPath, ['--throw-deprecation', '--input-type=module', '-e', code], { cwd: root, env, encoding: 'utf8', timeout: 20_000 });
    expect(child.stderr).not.toMatch(/DEP0112|DeprecationWarning/);
    expect({ status: child.status, signal: child.signal }).toEqual({ status: 0, signal: null });
    const { sent, port } = JSON.parse(child.stdout);
    expect(sent).toBe(withManager);
    if (r) {
      const [message] = await r.waitFor(1);
      expect(message!.text).toBe('FDSTORE=1\nFDNAME=dns');
      // SOCK_DGRAM (2): the socket's own fd went, not another.
      expect(message!.fds).toEqual([expect.objectContaining({ mode: 'socket', type: 2, local: `('127.0.0.1', ${port})` })]);
    }
  });

  it.each([
    ['notify({ FDNAME })', () => notify({ FDSTORE: 1, FDNAME: 'a:b' })],
    ['a raw FDNAME= line', () => notify('FDSTORE=1\nFDNAME=tab\there')],
  ])('an FDNAME systemd would not take, through %s, is ERR_FDNAME and nothing is sent', async (_, call) => {
    const r = await receiver();
    await expect(call()).rejects.toMatchObject({ code: 'ERR_FDNAME' });
    await status('after');
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=after']);
  });

  it('a message of exactly 4096 bytes is sent whole', async () => {
    const r = await receiver();
    const text = 'a'.repeat(4096 - 'READY=1\nSTATUS='.length);
    await expect(ready(text)).resolves.toBe(true);
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual([`READY=1\nSTATUS=${text}`]);
  });

  it.each(['', 'a:b', 'tab\there', 'x'.repeat(256), 'caf\u00e9', 'del\u007f', 'back\\slash'])('store(%j) is ERR_FDNAME and nothing is sent', async (name) => {
    const r = await receiver();
    await expect(store(name, 0)).rejects.toMatchObject({ code: 'ERR_FDNAME', found: name });
    await expect(storeRemove(name)).rejects.toMatchObject({ code: 'ERR_FDNAME' });
    await status('after');
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=after']);
  });

  it('a name of 255 printable characters is accepted', async () => {
    const r = await receiver();
    const name = 'n'.repeat(255);
    await store(name, 0);
    expect((await r.waitFor(1))[0]!.text).toBe(`FDSTORE=1\nFDNAME=${name}`);
  });

  it('an fd that is not open: EBADF naming the fd; a closed server: ERR_INVALID_ARGUMENT; a TLS socket: ERR_NOT_MOVABLE', async () => {
    await receiver();
    await expect(store('x', 987)).rejects.toMatchObject({ code: 'EBADF', syscall: 'fcntl', fd: 987 });
    await expect(store('x', net.createServer())).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(store('x', new tls.TLSSocket(new net.Socket()))).rejects.toMatchObject({ code: 'ERR_NOT_MOVABLE' });
    await expect(store('x', -1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('store(descriptor) whose fd number was reused since: ERR_FD_CHANGED, nothing sent; a poll option that is not a boolean: ERR_INVALID_ARGUMENT', async () => {
    const r = await receiver();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const d = inspect(fd);
    await new Promise((resolve) => server.close(resolve));
    const reused = native().socket(native().constants.AF_INET, native().constants.SOCK_DGRAM);
    try {
      expect(reused).toBe(fd);
      await expect(store('web', d)).rejects.toMatchObject({ code: 'ERR_FD_CHANGED', fd });
      await expect(store('web', reused, { poll: 'no' as unknown as boolean })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'poll' });
      await sleep(200);
      expect(r.messages()).toEqual([]);
    } finally {
      native().close(reused);
    }
  });

  it('an eventfd or epoll fd: ERR_NOT_MOVABLE saying why (the next start could not tell it from Node\'s own), and nothing is sent', async () => {
    const r = await receiver();
    const own = readdirSync('/proc/self/fd').map((e) => {
      try {
        return { fd: Number(e), target: readlinkSync(`/proc/self/fd/${e}`) };
      } catch {
        return { fd: Number(e), target: '' };
      }
    });
    for (const kind of ['eventfd', 'eventpoll']) {
      // This process's own (store() only inspects it before refusing).
      const fd = own.find((o) => o.target === `anon_inode:[${kind}]`)!.fd;
      const err = await store('state', fd).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_NOT_MOVABLE', found: `fd ${fd} (an ${kind})` });
      expect((err as Error).message).toContain(`cannot be told from Node's own ${kind}`);
    }
    await status('after');
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual(['STATUS=after']);
  });
});

describe('arguments', () => {
  it('fds that are not fd numbers are refused before anything is sent (Int32Array.from would make "x" or true into stdin/stdout)', async () => {
    const r = await receiver();
    for (const fds of ['x', [1.5], [true], '12', [-1], null]) {
      await expect(notify({ FDSTORE: true, FDNAME: 'probe' }, { fds: fds as number[] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'fds' });
    }
    await sleep(200);
    expect(r.messages()).toEqual([]);
  });

  it('a message that is neither assignments nor a string, a pid past pid_t, an extension past exact µs, a timeout past a Node timer: ERR_INVALID_ARGUMENT', async () => {
    await receiver();
    for (const message of [null, undefined, 42, ['READY=1']]) {
      await expect(notify(message as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'message' });
    }
    await expect(mainPid(2 ** 40)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(extendTimeout(1e13)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'ms' });
    await expect(barrier({ timeout: 3e9 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'timeout', message: /from 0 to 2147483647/ });
  });
});

describe('barrier', () => {
  it('resolves once the manager has closed its end of the pipe', async () => {
    const r = await receiver();
    await status('before');
    await expect(barrier()).resolves.toBe(true);
    const [, b] = await r.waitFor(2);
    expect(b!.text).toBe('BARRIER=1');
    expect(b!.fds).toEqual([expect.objectContaining({ mode: 'fifo' })]);
  });

  it('rejects with ETIMEDOUT when the manager keeps the pipe open, and leaves no fd behind', async () => {
    await receiver({ keepFds: true });
    const before = (await import('node:fs')).readdirSync('/proc/self/fd').length;
    await expect(barrier({ timeout: 300 })).rejects.toMatchObject({ code: 'ETIMEDOUT', syscall: 'poll' });
    await new Promise((resolve) => setImmediate(resolve));
    expect((await import('node:fs')).readdirSync('/proc/self/fd').length).toBe(before);
  });
});
