// channelHandOff(): drain() passing idle keep-alive connections over a datagram channel (the
// hot upgrade's way to its successor), checked at the receiving end of the channel in this process;
// a real receiving process (test/fixtures/takeover.mjs), which adopts the connections with a
// request waiting first; and the warm-up a process taking over connections does before it listens.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { channelHandOff } from '../src/handoff-channel.js';
import { drain, trackConnections } from '../src/index.js';
import { native } from '../src/native.js';
import { root, startActivated, waitForLine } from './helpers/activated.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A datagram pair; `close(end)` closes one end early (each is closed once). */
function channel(): { sender: number; receiver: number; close: (fd: number) => void } {
  const pair = native().socketPair(native().constants.SOCK_DGRAM);
  if (typeof pair === 'number') throw new Error(`socketpair failed: ${pair}`);
  const open = new Set(pair);
  const close = (fd: number): void => {
    if (open.delete(fd)) native().close(fd);
  };
  cleanup.push(() => pair.forEach(close));
  return { sender: pair[0], receiver: pair[1], close };
}

/**
 * Sends the accepted connection (its reading stopped) over `sender` and gives up this process's
 * copy, then asks for /moved on its client: the answer, or what came instead ("closed …" from
 * a closed server, <EOF>).
 */
async function moveAndAsk(sender: number, accepted: net.Socket, client: net.Socket): Promise<string> {
  const fd = (accepted as unknown as { _handle: { fd: number } })._handle.fd;
  expect(native().sendOn(sender, Buffer.from('connections'), Int32Array.of(fd))).toBeGreaterThan(0);
  accepted.destroy();
  let answer = '';
  client.setEncoding('utf8').on('data', (d: string) => (answer += d));
  client.on('end', () => (answer += '<EOF>'));
  client.write('GET /moved HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!answer.includes('/moved') && !answer.includes('closed') && !answer.includes('<EOF>')) await sleep(10);
  return answer;
}

/**
 * test/fixtures/takeover.mjs serving `listener` (as "web") and receiving connections on
 * `receiver` (its SOCKET_ACTIVATION_HANDOFF_FD), once it has said LISTENING; all it printed.
 */
async function takeover(listener: net.Server, receiver: number, command?: string[]): Promise<{ child: ReturnType<typeof startActivated>; output: () => string }> {
  const listenerFd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const child = startActivated('takeover.mjs', { fds: [listenerFd, receiver], env: { LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', SOCKET_ACTIVATION_HANDOFF_FD: '4' }, command });
  cleanup.push(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  while (!out.includes('LISTENING')) await sleep(10);
  return { child, output: () => out };
}

/** One keep-alive request on a raw client connection; resolves the client once it is idle again. */
async function idleClient(port: number): Promise<{ socket: net.Socket; received: () => string; ended: () => boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  let ended = false;
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  socket.on('end', () => (ended = true));
  socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
  while (!text.includes('/first')) await sleep(10);
  cleanup.push(() => socket.destroy());
  return { socket, received: () => text, ended: () => ended };
}

describe('channelHandOff', () => {
  it('every idle connection of a drain goes in one datagram, without a FIN; a request sent meanwhile waits in the kernel for the receiver', async () => {
    const server = http.createServer((req, res) => res.end(`${process.pid}${req.url}`));
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    const port = (server.address() as net.AddressInfo).port;
    const clients = await Promise.all(Array.from({ length: 5 }, () => idleClient(port)));
    const { sender, receiver } = channel();

    const report = await drain(server, { timeout: 5000, notify: false, handOff: channelHandOff(sender) });
    expect(report).toMatchObject({ handedOff: 5, closed: 0, cut: 0 });
    const got = native().receive(receiver);
    if (typeof got === 'number') throw new Error(`receive failed: ${got}`);
    expect(got.fds).toHaveLength(5);
    expect(native().receive(receiver)).toBe(-constants.errno.EAGAIN);

    // This process gave up its fds: a request now is not read here, and no client saw an end.
    clients[0]!.socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(200);
    expect(clients.map((c) => c.ended())).toEqual([false, false, false, false, false]);
    expect(clients[0]!.received()).not.toContain('/second');
    const taken = got.fds.map((fd) => new net.Socket({ fd, readable: true, writable: true }));
    cleanup.push(() => taken.forEach((s) => s.destroy()));
    const local = clients[0]!.socket.localPort;
    const mine = taken.find((s) => s.remotePort === local)!;
    const [bytes] = (await new Promise((resolve) => mine.once('data', (d) => resolve([d])))) as [Buffer];
    expect(bytes.toString()).toContain('GET /second');
  });

  it('a connection it cannot send stays with this process and ends by protocol', async () => {
    const server = http.createServer((req, res) => res.end(req.url));
    server.keepAliveTimeout = 500;
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    const client = await idleClient((server.address() as net.AddressInfo).port);
    const { sender, receiver, close } = channel();
    // No one at the other end: the send fails (ECONNREFUSED), the connection is kept here.
    close(receiver);
    const report = await drain(server, { timeout: 5000, notify: false, handOff: channelHandOff(sender) });
    expect(report).toMatchObject({ handedOff: 0, closed: 1, cut: 0 });
    expect(client.ended()).toBe(true);
  });
});

describe('the receiving process', () => {
  it('adopts the connections with a request waiting first, the idle ones after it has read', async () => {
    const accepted: net.Socket[] = [];
    const listener = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => listener.close());
    const port = (listener.address() as net.AddressInfo).port;
    const clients = await Promise.all(
      [0, 1, 2].map(async () => {
        const socket = net.connect(port, '127.0.0.1');
        await new Promise((resolve) => socket.once('connect', resolve));
        cleanup.push(() => socket.destroy());
        return socket;
      }),
    );
    while (accepted.length < 3) await sleep(10);
    // Our accepted sockets stop reading, so the request below stays in the kernel for the child.
    for (const s of accepted) (s as unknown as { _handle: { readStop(): void } })._handle.readStop();
    const ordered = clients.map((c) => accepted.find((a) => a.remotePort === c.localPort)!);
    let answer = '';
    clients[1]!.setEncoding('utf8').on('data', (d: string) => (answer += d));
    clients[1]!.write('GET /waiting HTTP/1.1\r\nHost: x\r\n\r\n');

    const { sender, receiver } = channel();
    const { child, output } = await takeover(listener, receiver);
    // Sent in the order idle, waiting, idle.
    const fds = Int32Array.from(ordered, (s) => (s as unknown as { _handle: { fd: number } })._handle.fd);
    expect(native().sendOn(sender, Buffer.from('connections'), fds)).toBeGreaterThan(0);
    for (const s of accepted) s.destroy();
    while ((output().match(/^ADOPTED /gm) ?? []).length < 3) await sleep(10);
    const adopted = [...output().matchAll(/^ADOPTED (\d+)$/gm)].map((m) => Number(m[1]));
    expect(adopted).toEqual([clients[1]!.localPort, clients[0]!.localPort, clients[2]!.localPort]);
    while (!answer.includes('/waiting')) await sleep(10);
    expect(answer).toContain(`${child.pid}/waiting`);
  });
});

describe('the receiving process, on unix listeners', () => {
  it.each([
    ['a path', () => join(tmpdir(), `sa-handoff-${process.pid}-${Date.now()}.sock`)],
    ['an abstract name', () => `\0sa-handoff-${process.pid}-${Date.now()}`],
  ])('on %s: the connection is given to the server of that listener and answered there', async (_, address) => {
    const path = address();
    const accepted: net.Socket[] = [];
    const listener = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => listener.listen(path, resolve));
    cleanup.push(() => listener.close());
    const client = net.connect(path);
    await once(client, 'connect');
    cleanup.push(() => client.destroy());
    while (accepted.length < 1) await sleep(10);
    (accepted[0] as unknown as { _handle: { readStop(): void } })._handle.readStop();
    const { sender, receiver } = channel();
    const { child, output } = await takeover(listener, receiver);
    expect(await moveAndAsk(sender, accepted[0]!, client)).toContain(`${child.pid}/moved`);
  });
});

describe('the receiving process, after listen() and close() cycles on the listener', () => {
  it('gives a connection to the server that listens now, and keeps none of the closed ones alive', async () => {
    // 30 servers listen on "web" and close in turn, then one serves: a connection handed over
    // went to the first, long closed (answered "closed 0"), and every closed one stayed reachable.
    const script = `
      import http from 'node:http';
      import v8 from 'node:v8';
      import vm from 'node:vm';
      import { setTimeout as sleep } from 'node:timers/promises';
      import { listen } from 'socket-activation';
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc');
      const closed = [];
      for (let i = 0; i < 30; i++) {
        const s = http.createServer((req, res) => res.end('closed ' + i));
        await listen(s, 'web');
        await new Promise((resolve) => s.close(resolve));
        closed.push(new WeakRef(s));
      }
      const serving = http.createServer((req, res) => res.end(process.pid + req.url));
      serving.on('connection', (socket) => console.log('ADOPTED ' + socket.remotePort));
      await listen(serving, 'web');
      await sleep(20);
      gc();
      await sleep(20);
      gc();
      console.log('CLOSED_ALIVE ' + closed.filter((r) => r.deref() !== undefined).length);
      console.log('LISTENING');`;
    const accepted: net.Socket[] = [];
    const listener = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => listener.close());
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    await once(client, 'connect');
    cleanup.push(() => client.destroy());
    while (accepted.length < 1) await sleep(10);
    (accepted[0] as unknown as { _handle: { readStop(): void } })._handle.readStop();
    const { sender, receiver } = channel();
    const { child, output } = await takeover(listener, receiver, [process.execPath, '--input-type=module', '-e', script]);
    expect(output()).toContain('CLOSED_ALIVE 0\n');
    expect(await moveAndAsk(sender, accepted[0]!, client)).toContain(`${child.pid}/moved`);
  });
});

describe('a hand-over variable without its channel', () => {
  it('naming one of Node\'s own fds (inherited without the fd): ignored with a warning, the fd untouched, the process unharmed', async () => {
    // The child names its lowest pipe, then loads the package, then uses child_process (which
    // aborted when that pipe was taken over as a channel and closed).
    const script = `
      import { readdirSync, readlinkSync } from 'node:fs';
      import { execFile } from 'node:child_process';
      const own = readdirSync('/proc/self/fd').map(Number).filter((fd) => fd > 2).sort((a, b) => a - b).map((fd) => { try { return [fd, readlinkSync('/proc/self/fd/' + fd)]; } catch { return [fd, '']; } });
      const [fd, target] = own.find(([, t]) => t.startsWith('pipe:'));
      process.env.SOCKET_ACTIVATION_HANDOFF_FD = String(fd);
      await import('socket-activation');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const still = readlinkSync('/proc/self/fd/' + fd);
      execFile('true', (err) => console.log(JSON.stringify({ fd, same: still === target, exec: err ? err.code : 'ok', left: process.env.SOCKET_ACTIVATION_HANDOFF_FD ?? null })));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code, signal] = await once(child, 'exit');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const r = JSON.parse(stdout);
    expect(r).toMatchObject({ same: true, exec: 'ok', left: null });
    expect(stderr).toContain(`socket-activation: SOCKET_ACTIVATION_HANDOFF_FD=${r.fd} ignored: fd ${r.fd} is `);
    expect(stderr).toContain('not a hand-over channel');
  });
});

describe('warm-up of a process taking over connections', () => {
  it('serves a few requests on a private server over a socket pair, never on the application’s servers, and leaves nothing open', async () => {
    const { startWarmUp, warmedUp } = await import('../src/warm-up.js');
    const appServer = http.createServer(() => expect.fail('the application’s handler was called'));
    const seen: number[] = [];
    const emit = http.Server.prototype.emit;
    http.Server.prototype.emit = function (this: http.Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'request') seen.push(this === appServer ? 0 : 1);
      return Reflect.apply(emit, this, [event, ...args]) as boolean;
    } as typeof emit;
    cleanup.push(() => (http.Server.prototype.emit = emit));
    const handlesBefore = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    startWarmUp();
    startWarmUp();
    await warmedUp();
    expect(seen).toEqual([1, 1, 1]);
    await sleep(50);
    expect((process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length).toBeLessThanOrEqual(handlesBefore);
  });
});
