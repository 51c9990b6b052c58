// Accept=yes connection fds and FIFOs: real connections accepted by this process and handed
// to a fixture at fd 3, real FIFOs opened read-write.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { inspect } from '../src/descriptor.js';
import { fixtures, reportOf, startActivated } from './helpers/activated.js';
import { runInline } from './helpers/inline.js';
import { closeAllSockets, makeSocket } from './helpers/raw-sockets.js';
import { killAll, watch } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-connections-'));
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await killAll();
  closeAllSockets();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A connection accepted by this process (paused, so no byte is read here) and its client.
 * `fd` is the accepted socket's descriptor, to be placed at 3 in a child.
 */
async function accepted(where: { host: string } | { path: string }) {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen({ ...where, port: 0 }, resolve));
  const address = server.address();
  const client = net.connect(typeof address === 'string' ? { path: address } : { host: (where as { host: string }).host, port: address!.port });
  const [socket] = (await once(server, 'connection')) as [net.Socket];
  if (client.connecting) await once(client, 'connect');
  const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
  const release = () => {
    socket.destroy();
    server.close();
  };
  cleanups.push(() => {
    client.destroy();
    release();
  });
  return { client, fd, release };
}

/** Sends one HTTP/1.1 request on an open client socket and reads the response to the end. */
async function request(client: net.Socket, path: string): Promise<{ status: number; body: any }> {
  const chunks: Buffer[] = [];
  client.on('data', (d: Buffer) => chunks.push(d));
  const ended = once(client, 'end');
  client.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  await ended;
  const text = Buffer.concat(chunks).toString('utf8');
  const [head, body] = text.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(head!)?.[1]), body: JSON.parse(body!) };
}

describe('Accept=yes: a connected socket at fd 3', () => {
  it.each([{ host: '127.0.0.1' }, { host: '::1' }])('connections() + emit("connection") answers the client over $host', async (where) => {
    const { client, fd, release } = await accepted(where);
    const child = watch(startActivated('accept.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'connection' }, args: ['connections'] }));
    release(); // the child holds the only copy now
    const ready = await child.json('READY');
    expect(ready.count).toBe(1);
    expect(ready.sockets[0]).toMatchObject({ remoteAddress: where.host, remotePort: client.localPort, localPort: client.remotePort });

    const answer = await request(client, '/accepted');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ pid: ready.pid, url: '/accepted', remotePort: client.localPort, localPort: client.remotePort });
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it('a unix stream connection works the same', async () => {
    const { client, fd, release } = await accepted({ path: join(dir, 'accept.sock') });
    const child = watch(startActivated('accept.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'connection' }, args: ['connections'] }));
    release();
    expect((await child.json('READY')).count).toBe(1);
    const answer = await request(client, '/unix');
    expect(answer).toMatchObject({ status: 200, body: { url: '/unix' } });
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  // systemd names an Accept=yes instance's fd "connection" whatever FileDescriptorName= says
  // (Debian's systemd-socket-activate: "unknown"), so listen(server, 'web') must still take it.
  it.each(['web', 'connection', 'unknown'])('listen(server, "web") on a connection fd named %s hands the connection to the server', async (fdName) => {
    const { client, fd, release } = await accepted({ host: '127.0.0.1' });
    const child = watch(startActivated('accept.mjs', { fds: [fd], env: { LISTEN_FDNAMES: fdName }, args: ['listen', 'web'] }));
    release();
    const ready = await child.json('READY');
    expect(ready).toMatchObject({ count: 1, addresses: [], listening: false });
    expect(ready.sockets[0]).toMatchObject({ remotePort: client.localPort });
    const answer = await request(client, '/via-listen');
    expect(answer.body).toEqual({ pid: ready.pid, url: '/via-listen', remotePort: client.localPort, localPort: client.remotePort });
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  // The same rule for connection(name): the service's code asks for the listener's name.
  it.each(['connection', 'unknown'])('connection("echo") on the one connection fd, named %s, of an instance answers the client', async (fdName) => {
    const { client, fd, release } = await accepted({ host: '127.0.0.1' });
    const child = watch(startActivated('accept.mjs', { fds: [fd], env: { LISTEN_FDNAMES: fdName }, args: ['connection', 'echo'] }));
    release();
    const ready = await child.json('READY');
    expect(ready.sockets[0]).toMatchObject({ remotePort: client.localPort, localPort: client.remotePort });
    const answer = await request(client, '/via-connection');
    expect(answer.body).toEqual({ pid: ready.pid, url: '/via-connection', remotePort: client.localPort, localPort: client.remotePort });
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it('an instance with two connections, neither named "echo": connection("echo") is ERR_LISTENER_AMBIGUOUS, as for two fds of one name; connection("a") takes its own', async () => {
    const first = await accepted({ host: '127.0.0.1' });
    const second = await accepted({ host: '127.0.0.1' });
    const attempt = (name: string) =>
      runInline(
        `import { connection } from 'socket-activation';
        try { const s = connection(${JSON.stringify(name)}); console.log(JSON.stringify({ ok: true, remotePort: s.remotePort })); s.destroy(); }
        catch (err) { console.log(JSON.stringify({ code: err.code, found: err.found, message: err.message })); }`,
        { fds: [first.fd, second.fd], env: { LISTEN_FDNAMES: 'a:b' } },
      );
    const echo = await attempt('echo');
    expect(echo).toMatchObject({ code: 'ERR_LISTENER_AMBIGUOUS', found: [3, 4] });
    expect(echo.message).toMatch(/^No inherited fd is named "echo", and the 2 inherited fds are all connections \(fd 3 "a": TCP connection .*; fd 4 "b": TCP connection .*\)\. Take them all with connections\(\), or one by one/);
    expect(await attempt('a')).toEqual({ ok: true, remotePort: first.client.localPort });
  });

  // Such an instance inherits nothing else: FileDescriptorName= is not what to fix.
  it.each([
    ['bindDatagram', 'dns'],
    ['fifo', 'log'],
    ['listener', 'echo'],
  ])('%s("%s") in an instance that inherited only its connection: ERR_LISTENER_NOT_FOUND says so, without advising FileDescriptorName=', async (call, name) => {
    const { fd } = await accepted({ host: '127.0.0.1' });
    const r = await runInline(
      `import * as sa from 'socket-activation';
      try { await sa.${call}(${JSON.stringify(name)}); console.log(JSON.stringify({ ok: true })); }
      catch (err) { console.log(JSON.stringify({ code: err.code, listenerName: err.listenerName, found: err.found, message: err.message })); }`,
      { fds: [fd], env: { LISTEN_FDNAMES: 'connection' } },
    );
    expect(r).toMatchObject({ code: 'ERR_LISTENER_NOT_FOUND', listenerName: name, found: ['connection'] });
    expect(r.message).toMatch(new RegExp(`^No inherited fd is named "${name}"; the 1 inherited fd is: "connection" \\(fd 3 "connection": TCP connection on 127\\.0\\.0\\.1:\\d+\\)\\. `));
    expect(r.message).toContain('This process is an Accept=yes instance, which inherits only its connection, named "connection" by systemd whatever FileDescriptorName= says;');
    expect(r.message).toContain('Take it with connection(name) or listen(server, name)');
    expect(r.message).not.toContain(`Set FileDescriptorName=${name}`);
  });

  it('a connection its client reset before the instance started: described as closed by its peer, listen(server, "web") still serves it (it ends at once), the instance exits', async () => {
    const { client, fd, release } = await accepted({ host: '127.0.0.1' });
    client.resetAndDestroy(); // RST: the accepted socket keeps no peer address
    await once(client, 'close');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(inspect(fd)).toMatchObject({ kind: 'socket', type: 'stream', listening: false, peerClosed: true });
    expect(inspect(fd)).not.toHaveProperty('remote');
    const child = watch(startActivated('accept.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'connection' }, args: ['listen', 'web'] }));
    release();
    expect(await child.json('READY')).toMatchObject({ count: 1, addresses: [], listening: false });
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it('sockets that never were connections, though closed like one (a listener after shutdown(), a refused connect()): not peerClosed, and listen() refuses them', async () => {
    // Python makes them (Node cannot shut a listener down or keep a failed socket) and execs
    // node in its place, so LISTEN_PID is its own pid.
    const script = `import http from 'node:http';
      import { listen, listeners } from 'socket-activation';
      const found = listeners().map((d) => ({ name: d.name, listening: d.listening, peerClosed: d.peerClosed === true }));
      const refused = [];
      for (const name of ['shut', 'refused']) {
        try { await listen(http.createServer(), name); refused.push('served'); } catch (err) { refused.push(err.code); }
      }
      console.log(JSON.stringify({ found, refused }));`;
    const python = `import os, socket, sys
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8); l.shutdown(socket.SHUT_RD)
r = socket.socket()
try: r.connect(('127.0.0.1', 1))
except OSError: pass
a, b = os.dup(l.fileno()), os.dup(r.fileno())
os.dup2(a, 3); os.dup2(b, 4)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='2', LISTEN_FDNAMES='shut:refused')
os.execv(sys.argv[1], [sys.argv[1], '--input-type=module', '-e', sys.argv[2]])`;
    const r = await reportOf<{ found: object[]; refused: string[] }>('', { command: ['python3', '-c', python, process.execPath, script] });
    expect(r.found).toEqual([
      { name: 'shut', listening: false, peerClosed: false },
      { name: 'refused', listening: false, peerClosed: false },
    ]);
    expect(r.refused).toEqual(['ERR_LISTENER_MISMATCH', 'ERR_LISTENER_MISMATCH']);
  });

  it('once taken and closed with its socket: connection() is ERR_FD_TAKEN and connections() is empty, not ERR_FD_CHANGED', async () => {
    const { fd, release } = await accepted({ host: '127.0.0.1' });
    const r = await runInline(
      `import { once } from 'node:events';
      import { connection, connections } from 'socket-activation';
      const socket = connection('conn');
      socket.destroy();
      await once(socket, 'close');
      const again = (() => { try { connection('conn'); return 'ok'; } catch (err) { return err.code; } })();
      const all = (() => { try { return connections().length; } catch (err) { return err.code; } })();
      console.log(JSON.stringify({ again, all }));`,
      { fds: [fd], env: { LISTEN_FDNAMES: 'conn' } },
    );
    release();
    expect(r).toEqual({ again: 'ERR_FD_TAKEN', all: 0 });
  });

  it('null options are no options (not a TypeError); options that are not an object: ERR_INVALID_ARGUMENT', async () => {
    const { fd, release } = await accepted({ host: '127.0.0.1' });
    const r = await runInline(
      `import { connection, connections } from 'socket-activation';
      const attempt = (f) => { try { return f(); } catch (err) { return err.code + ': ' + err.message; } };
      const bad = attempt(() => connection('conn', 'allowHalfOpen'));
      const taken = attempt(() => { const all = connections(null); for (const socket of all) socket.destroy(); return all.length; });
      console.log(JSON.stringify({ bad, taken }));`,
      { fds: [fd], env: { LISTEN_FDNAMES: 'conn' } },
    );
    release();
    expect(r).toEqual({ bad: "ERR_INVALID_ARGUMENT: connection()'s options must be an object, found string.", taken: 1 });
  });

  it("connection() on an fd a Node socket of this process owns: EEXIST with the fd, and the fd is not marked taken", async () => {
    const r = await runInline(
      `import net from 'node:net';
      import { once } from 'node:events';
      import { connection, inspect } from 'socket-activation';
      const server = net.createServer().listen(0, '127.0.0.1');
      await once(server, 'listening');
      const client = net.connect(server.address().port, '127.0.0.1');
      await once(client, 'connect');
      const fd = client._handle.fd;
      const attempt = () => { try { connection(inspect(fd)); return { ok: true }; } catch (err) { return { code: err.code, errno: err.errno, syscall: err.syscall, fd: err.fd, message: err.message }; } };
      const first = attempt();
      const second = attempt();
      client.destroy();
      server.close();
      console.log(JSON.stringify({ fd, first, second }));`,
    );
    expect(r.first).toMatchObject({ code: 'EEXIST', errno: -17, fd: r.fd, message: expect.stringContaining('a Node socket of this process owns this fd already') });
    expect(r.second).toEqual(r.first);
  });

  it('connection(name) on a listening socket is ERR_LISTENER_MISMATCH', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const child = watch(startActivated('attempt.mjs', { fds: [socket.fd], env: { LISTEN_FDNAMES: 'connection' }, args: ['connection', 'connection'] }));
    const result = await child.json('RESULT');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({
      code: 'ERR_LISTENER_MISMATCH',
      fd: 3,
      listenerName: 'connection',
      expected: { type: 'stream', listening: false, connected: true },
      found: { kind: 'socket', type: 'stream', listening: true },
    });
    expect(result.error.message).toMatch(/expected a connected stream socket .*\. Take it with listen\(server, …\) instead\.$/);
    expect(result.fds).toMatchObject([{ fd: 3, open: true, listening: true }]);
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it('connection(name) on a UDP socket or a character device: the hint fits what was found, not "use listen()"', async () => {
    const udp = makeSocket({ family: 'inet', host: '127.0.0.1', type: 'dgram' });
    const device = openSync('/dev/null', 'r');
    cleanups.push(() => closeSync(device));
    const attempt = async (fd: number) => {
      const child = watch(startActivated('attempt.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'x' }, args: ['connection', 'x'] }));
      const result = await child.json('RESULT');
      expect(await child.finish()).toEqual({ code: 0, signal: null });
      return result.error;
    };
    const onUdp = await attempt(udp.fd);
    expect(onUdp).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', found: { kind: 'socket', type: 'dgram' } });
    expect(onUdp.message).toMatch(/^connection\(\): fd 3 named "x" is a UDP socket on 127\.0\.0\.1:\d+; expected a connected stream socket .*\. Take it with bindDatagram\(\) instead\.$/);
    const onDevice = await attempt(device);
    expect(onDevice).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', found: { kind: 'char' } });
    expect(onDevice.message).toMatch(/^connection\(\): fd 3 named "x" is a character device; expected a connected stream socket .*\. No call of this package serves a character device: use fd 3 as it is \(inspect\(\) describes it\)\.$/);
    for (const error of [onUdp, onDevice]) expect(error.message).not.toContain('listen(server');
  });

  it('connection(name) on a stream socket that is neither listening nor connected is ERR_LISTENER_MISMATCH, never a net.Socket', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1', backlog: false });
    const child = watch(startActivated('attempt.mjs', { fds: [socket.fd], env: { LISTEN_FDNAMES: 'connection' }, args: ['connection', 'connection'] }));
    const result = await child.json('RESULT');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd: 3, expected: { connected: true }, found: { kind: 'socket', type: 'stream', listening: false } });
    expect(result.error.message).toMatch(/with no peer; expected a connected stream socket/);
    expect(result.fds).toMatchObject([{ fd: 3, open: true }]);
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });
});

describe('FIFO', () => {
  const payload = Buffer.concat([Buffer.from([0x00, 0x01, 0xfe, 0xff]), Buffer.from('log line: héllo\n'), Buffer.alloc(5000, 0x61)]);
  let count = 0;
  const makeFifo = () => {
    const path = join(dir, `fifo-${++count}`);
    execFileSync('mkfifo', [path]);
    return path;
  };
  /** What a writer would do: open the FIFO for writing (a reader exists) and write. */
  const writeInto = (path: string, bytes: Buffer) => {
    const w = openSync(path, 'w');
    try {
      writeSync(w, bytes);
    } finally {
      closeSync(w);
    }
  };

  it('fifo(name) reads the bytes written into a FIFO opened read-write by the test', async () => {
    const path = makeFifo();
    const fd = openSync(path, 'r+');
    cleanups.push(() => closeSync(fd));
    const child = watch(startActivated('fifo-read.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'log' }, args: ['log', String(payload.length)] }));
    await child.json('READY');
    writeInto(path, payload);
    const data = await child.json('DATA');
    expect(Buffer.from(data.hex, 'hex')).toEqual(payload);
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it("fifo(name) on fd 3 opened by the shell (exec 3<>FIFO), as ListenFIFO= would give it", async () => {
    const path = makeFifo();
    const child = watch(
      startActivated('', {
        env: { LISTEN_FDS: '1', LISTEN_FDNAMES: 'log' },
        command: ['/bin/sh', '-c', 'exec 3<>"$0"; exec "$@"', path, process.execPath, join(fixtures, 'fifo-read.mjs'), 'log', String(payload.length)],
      }),
    );
    await child.json('READY');
    writeInto(path, payload);
    const data = await child.json('DATA');
    expect(Buffer.from(data.hex, 'hex')).toEqual(payload);
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });

  it('the direction the FIFO was opened in: write-only needs writable: true, read-only refuses it; write-only with it writes', async () => {
    const path = makeFifo();
    const reader = openSync(path, 'r+'); // keeps a reader, so a write-only open does not wait
    cleanups.push(() => closeSync(reader));
    const attempt = (flags: string, writable: boolean) =>
      reportOf(
        '',
        {
          env: { LISTEN_FDS: '1', LISTEN_FDNAMES: 'log' },
          command: ['/bin/sh', '-c', `exec 3${flags}"$0"; exec "$@"`, path, process.execPath, '--input-type=module', '-e', `import { fifo } from 'socket-activation';
        try {
          const s = fifo('log', { writable: ${writable} });
          if (s.writable) await new Promise((resolve) => s.end('written', resolve));
          else s.destroy();
          console.log(JSON.stringify({ ok: true, readable: s.readable }));
        } catch (err) { console.log(JSON.stringify({ code: err.code, fd: err.fd, message: err.message })); }`],
        },
      );
    expect(await attempt('>', false)).toEqual({
      code: 'ERR_LISTENER_MISMATCH',
      fd: 3,
      message: 'fifo(): fd 3 named "log" is a FIFO opened write-only; expected it readable. Pass { writable: true } to write to it, or open it the other way where it is passed.',
    });
    expect(await attempt('<', true)).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', message: expect.stringContaining('is a FIFO opened read-only; expected it writable. Call fifo() without writable: true') });
    expect(await attempt('>', true)).toEqual({ ok: true, readable: false });
    const buffer = Buffer.alloc(64);
    expect(buffer.subarray(0, readSync(reader, buffer)).toString()).toBe('written');
  });

  it('a FIFO given to listen() is ERR_LISTENER_MISMATCH and stays open (Node would close it)', async () => {
    const path = makeFifo();
    const fd = openSync(path, 'r+');
    cleanups.push(() => closeSync(fd));
    const ino = inspect(fd).ino;
    const child = watch(startActivated('attempt.mjs', { fds: [fd], env: { LISTEN_FDNAMES: 'log' }, args: ['listen-net', 'log'] }));
    const result = await child.json('RESULT');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd: 3, listenerName: 'log', expected: { kind: 'socket' }, found: { kind: 'fifo' } });
    expect(result.serverListening).toBe(false);
    expect(result.fds).toEqual([{ fd: 3, open: true, kind: 'fifo', ino }]);
    expect(await child.finish()).toEqual({ code: 0, signal: null });
  });
});
