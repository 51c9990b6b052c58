// drain() on real servers and clients in this process: in-flight requests answered with
// Connection: close, idle keep-alive connections never closed under a request, hand-off rules,
// the timeout, HTTP/2 GOAWAY, servers drain() meets first, TLS never moved, bad arguments.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, drainOnSignal, trackConnections, type DrainOnSignalOptions, type DrainOptions } from '../src/index.js';
import { finish, startActivated } from './helpers/activated.js';
import { runInline } from './helpers/inline.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { storedByThisProcess } from '../src/fd-store.js';
import { closeAll, inetSocket } from './helpers/sockets.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
  closeAll();
});

async function serve(handler: http.RequestListener, keepAliveTimeout = 5000): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  server.keepAliveTimeout = keepAliveTimeout;
  trackConnections(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => server.closeAllConnections());
  return { server, port: (server.address() as net.AddressInfo).port };
}

function get(port: number, agent: http.Agent, path = '/'): Promise<{ status: number; connection: string | undefined; body: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        const localPort = res.socket.localPort!;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body, localPort }));
      })
      .on('error', reject);
  });
}

/** The messages of the process warnings emitted from now until the test's cleanup. */
function warningsSeen(): string[] {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  cleanup.push(() => process.off('warning', onWarning));
  return warnings;
}

/** A raw TCP client of the server on `port` (closed after the test); `received()` is all it got. */
function rawClient(port: number): { client: net.Socket; received: () => string } {
  const client = net.connect(port, '127.0.0.1');
  cleanup.push(() => client.destroy());
  let text = '';
  client.setEncoding('utf8').on('data', (d: string) => (text += d));
  return { client, received: () => text };
}

describe('drain (HTTP/1.1)', () => {
  it('an in-flight request finishes with Connection: close, then the drain resolves', async () => {
    const { server, port } = await serve((req, res) => setTimeout(() => res.end('slow'), 300));
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    const pending = get(port, agent);
    await sleep(50);
    const report = await drain(server, { timeout: 5000, notify: false });
    expect(await pending).toMatchObject({ status: 200, body: 'slow', connection: 'close' });
    expect(report).toMatchObject({ requestsFinished: 1, closed: 1, handedOff: 0, cut: 0 });
  });

  it.each([
    ['both still being answered: only the last says Connection: close', 400, 'close'],
    ['the last already answered (queued behind the first): both keep-alive, then the keep-alive timeout ends it', 0, 'keep-alive'],
  ])('pipelined requests received before the drain are all answered; %s', async (_, delayB, lastConnection) => {
    const { server, port } = await serve((req, res) => setTimeout(() => res.end(req.url), req.url === '/a' ? 300 : delayB), 1000);
    const { client, received } = rawClient(port);
    const closed = once(client, 'close');
    client.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    const report = await drain(server, { timeout: 5000, notify: false });
    await closed;
    const responses = received().split(/(?=HTTP\/1\.1 )/);
    expect(responses).toHaveLength(2);
    expect(responses[0]).toMatch(/\r\nConnection: keep-alive\r\n[\s\S]*\/a$/i);
    expect(responses[1]).toMatch(new RegExp(`\\r\\nConnection: ${lastConnection}\\r\\n[\\s\\S]*\\/b$`, 'i'));
    expect(report).toMatchObject({ requestsFinished: 2, closed: 1, cut: 0 });
  });

  it('a request handled by a checkContinue listener (Expect: 100-continue) is tracked like any other: Connection: close, counted', async () => {
    const { server, port } = await serve(() => undefined);
    server.on('checkContinue', (req, res) => {
      res.writeContinue();
      req.resume().on('end', () => setTimeout(() => res.end('posted'), 200));
    });
    const { client, received } = rawClient(port);
    client.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n');
    while (!received().includes('100 Continue')) await sleep(10);
    const closed = once(client, 'close');
    client.write('data');
    await sleep(50);
    const report = await drain(server, { timeout: 5000, notify: false });
    await closed;
    expect(received()).toMatch(/HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close[\s\S]*posted/i);
    expect(report).toMatchObject({ requestsFinished: 1, closed: 1, cut: 0 });
  });

  it('a server without a checkContinue listener still answers Expect: 100-continue itself (tracking adds no listener of its own)', async () => {
    const { server, port } = await serve((req, res) => req.resume().on('end', () => res.end('ok')));
    expect(server.listenerCount('checkContinue')).toBe(0);
    const { client, received } = rawClient(port);
    client.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n');
    while (!received().includes('100 Continue')) await sleep(10);
    client.write('ok');
    while (!received().includes('200 OK')) await sleep(10);
  });

  it('a second drain() while the first runs joins it: one drain, one report, the first call\'s options', async () => {
    const { server, port } = await serve((req, res) => setTimeout(() => res.end('slow'), 300));
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    const pending = get(port, agent);
    await sleep(50);
    const first = drain(server, { timeout: 5000, notify: false });
    const second = drain(server, { timeout: 10, notify: false }); // would cut the request if it ran
    expect(await pending).toMatchObject({ status: 200, body: 'slow', connection: 'close' });
    const [a, b] = await Promise.all([first, second]);
    expect(b).toBe(a);
    expect(a).toMatchObject({ requestsFinished: 1, closed: 1, cut: 0 });
  });

  it('an idle keep-alive connection is not closed under a request: one sent during the drain is answered', async () => {
    const { server, port } = await serve((req, res) => res.end(req.url));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    const first = await get(port, agent, '/one');
    const draining = drain(server, { timeout: 5000, notify: false });
    await sleep(200);
    const second = await get(port, agent, '/two');
    expect(second).toMatchObject({ body: '/two', connection: 'close', localPort: first.localPort });
    expect(await draining).toMatchObject({ requestsFinished: 1, closed: 1, cut: 0 });
  });

  it('with no hand-off, an idle connection is left to end by the Keep-Alive timeout the server advertised', async () => {
    // Keep-Alive: timeout=2 — Node's agent closes its idle socket 1 s before that.
    const { server, port } = await serve((req, res) => res.end('x'), 2000);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await get(port, agent);
    const report = await drain(server, { timeout: 5000, notify: false });
    expect(report).toMatchObject({ closed: 1, cut: 0, handedOff: 0 });
    expect(report.durationMs).toBeGreaterThan(500);
    expect(report.durationMs).toBeLessThan(4000);
  });

  it('keepAliveTimeout 0 (no timer, none advertised): an idle keep-alive connection is closed at once, not cut at the timeout; one that has not sent its first request is not', async () => {
    const { server, port } = await serve((req, res) => res.end(req.url), 0);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await get(port, agent);
    const { client, received } = rawClient(port);
    await once(client, 'connect');
    await sleep(50); // accepted, no request yet
    const draining = drain(server, { timeout: 5000, notify: false });
    await sleep(100);
    const closed = once(client, 'close');
    client.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    const report = await draining;
    await closed;
    expect(received()).toMatch(/^HTTP\/1\.1 200 [\s\S]*Connection: close[\s\S]*\/first$/);
    expect(report).toMatchObject({ closed: 2, cut: 0, handedOff: 0, requestsFinished: 1 });
    expect(report.durationMs).toBeLessThan(4000);
  });

  it('a hand-off function gets idle connections only; what it refuses stays and ends by protocol', async () => {
    // Node's agent closes an idle socket 1 s before the Keep-Alive timeout the server advertises.
    const { server, port } = await serve((req, res) => res.end('x'), 2000);
    const agents = [new http.Agent({ keepAlive: true }), new http.Agent({ keepAlive: true })];
    cleanup.push(() => agents.forEach((a) => a.destroy()));
    await get(port, agents[0]!);
    await get(port, agents[1]!);
    const given: net.Socket[] = [];
    const report = await drain(server, {
      timeout: 5000,
      notify: false,
      handOff: async (socket) => {
        if (given.length > 0) return false;
        given.push(socket);
        socket.destroy();
        return true;
      },
    });
    expect(report).toMatchObject({ handedOff: 1, closed: 1, cut: 0 });
  });

  it('bytes of a next request already read (no request event yet): not handed off, answered with Connection: close', async () => {
    const { server, port } = await serve((req, res) => res.end(req.url));
    const socket = net.connect(port, '127.0.0.1');
    cleanup.push(() => socket.destroy());
    await once(socket, 'connect');
    let received = '';
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!received.includes('/first')) await sleep(10);
    socket.write('GET /second HTTP/1.1\r\nHo'); // half a request: the parser holds it
    await sleep(100);
    let offered = 0;
    const draining = drain(server, {
      timeout: 5000,
      notify: false,
      handOff: async () => {
        offered++;
        return false;
      },
    });
    await sleep(100);
    socket.write('st: x\r\n\r\n');
    const report = await draining;
    if (!socket.readableEnded) await once(socket, 'end');
    expect(offered).toBe(0);
    expect(received).toMatch(/\/second/);
    expect(received.split('HTTP/1.1 200').pop()).toMatch(/Connection: close/i);
    expect(report).toMatchObject({ requestsFinished: 1, closed: 1, handedOff: 0, cut: 0 });
  });

  it('at the timeout the rest is cut and reported', async () => {
    const { server, port } = await serve(() => undefined);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    const pending = get(port, agent).catch((e: NodeJS.ErrnoException) => e.code);
    await sleep(50);
    const report = await drain(server, { timeout: 300, notify: false });
    expect(report).toMatchObject({ cut: 1, requestsFinished: 0 });
    expect(await pending).toBe('ECONNRESET');
  });

  it('a server still starting (listen() looking its host up) when the drain begins stops as soon as it listens', async () => {
    const server = http.createServer((req, res) => res.end('x'));
    trackConnections(server);
    server.listen(0, 'localhost');
    expect(server.listening).toBe(false);
    expect(await drain(server, { timeout: 1000, notify: false })).toMatchObject({ closed: 0, cut: 0 });
    await once(server, 'listening');
    await sleep(10);
    expect(server.listening).toBe(false);
  });

  it('a drain while listen() of a shared name is still starting: neither the server nor the helper listen() adds for the second fd accepts afterwards', async () => {
    const fds = [inetSocket().fd, inetSocket().fd];
    const r = await runInline<{ answered: (string | null)[] }>(
      `import http from 'node:http'; import net from 'node:net';
      import { drain, listen, listenersNamed } from 'socket-activation';
      const server = http.createServer((req, res) => res.end('served'));
      const ports = listenersNamed('web').map((d) => d.local.port);
      const listening = listen(server, 'web');
      await drain(server, { timeout: 1000, notify: false });
      await listening;
      await new Promise((r) => setTimeout(r, 100));
      // The test holds the sockets too: a connection queues there, and only an answer shows that this process accepts.
      const ask = (port) => new Promise((resolve) => {
        const c = net.connect(port, '127.0.0.1', () => c.write('GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'));
        let got = '';
        c.on('data', (d) => (got += d)).on('error', () => resolve(null));
        setTimeout(() => { c.destroy(); resolve(got || null); }, 300);
      });
      console.log(JSON.stringify({ answered: [await ask(ports[0]), await ask(ports[1])] }));
      process.exit(0);`,
      { fds, env: { LISTEN_FDNAMES: 'web:web' } },
    );
    expect(r.answered).toEqual([null, null]);
  });

  it('drains of a server that is not listening (closed, or never started) add no listeners one upon another', async () => {
    const server = http.createServer();
    trackConnections(server);
    await drain(server, { timeout: 1000, notify: false });
    const after = server.listenerCount('listening');
    for (let i = 0; i < 12; i++) await drain(server, { timeout: 1000, notify: false });
    expect(server.listenerCount('listening')).toBe(after);
  });

  it('new connections are no longer accepted by this process', async () => {
    const { server, port } = await serve((req, res) => res.end('x'));
    await drain(server, { timeout: 1000, notify: false });
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => net.connect(port, '127.0.0.1').on('error', resolve));
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('a bad timeout or linger: ERR_INVALID_ARGUMENT', async () => {
    const { server } = await serve(() => undefined);
    await expect(drain(server, { timeout: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    // Past a Node timer's limit it would fire after 1 ms and cut every connection at once.
    await expect(drain(server, { timeout: 3e9 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /drain timeout must be a number of milliseconds from 0 to 2147483647 .*found 3000000000/ });
    await expect(drain(server, { linger: Number.NaN })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: /drain linger must be/ });
  });
});

describe('drain: what it leaves behind', () => {
  it('a drained server is not kept alive: 30 drained servers, none reachable after gc (Node\'s connections check of each stopped once its connections are gone)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const drainOne = async (): Promise<WeakRef<http.Server>> => {
      const { server, port } = await serve((req, res) => res.end('x'));
      const agent = new http.Agent({ keepAlive: true });
      await get(port, agent);
      agent.destroy();
      expect(await drain(server, { timeout: 2000, notify: false })).toMatchObject({ cut: 0 });
      return new WeakRef(server);
    };
    const drained: WeakRef<http.Server>[] = [];
    for (let i = 0; i < 30; i++) drained.push(await drainOne());
    // Node keeps references to the latest connection's objects for a while (whichever held the
    // last server): one more drain, not counted, takes them over.
    await drainOne();
    // The serve() cleanups hold each server until the end of the test: run them now.
    for (const c of cleanup.splice(0)) c();
    for (let i = 0; i < 5; i++) {
      await sleep(20);
      gc();
    }
    expect(drained.flatMap((r, i) => (r.deref() !== undefined ? [i] : []))).toEqual([]);
  });
});

describe('drain with linger (the next process already serves)', () => {
  // Records when each connection is offered, and takes it (closing our fd, as a real transfer does).
  function recordingHandOff(): { offered: { at: number; socket: net.Socket }[]; handOff: (socket: net.Socket) => Promise<boolean> } {
    const offered: { at: number; socket: net.Socket }[] = [];
    return {
      offered,
      handOff: async (socket) => {
        offered.push({ at: Date.now(), socket });
        socket.destroy();
        return true;
      },
    };
  }

  it('a request on an idle connection is answered here with keep-alive, and the connection goes right after that answer', async () => {
    const { server, port } = await serve((req, res) => res.end(req.url));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    const first = await get(port, agent, '/one');
    const { offered, handOff } = recordingHandOff();
    const started = Date.now();
    const draining = drain(server, { timeout: 5000, linger: 2000, notify: false, handOff });
    await sleep(100);
    expect(offered).toHaveLength(0);
    const second = await get(port, agent, '/two');
    expect(second).toMatchObject({ body: '/two', localPort: first.localPort });
    expect(second.connection).not.toBe('close');
    const report = await draining;
    expect(offered).toHaveLength(1);
    expect(offered[0]!.at - started).toBeLessThan(1500); // after the answer, not at the linger's end
    expect(report).toMatchObject({ requestsFinished: 1, handedOff: 1, closed: 0, cut: 0 });
  });

  it('a connection that stays idle is handed off when the linger ends; in-flight requests still get Connection: close', async () => {
    const { server, port } = await serve((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('slow'), 300) : res.end(req.url)));
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => [idleAgent, busyAgent].forEach((a) => a.destroy()));
    await get(port, idleAgent);
    const slow = get(port, busyAgent, '/slow');
    await sleep(50);
    const { offered, handOff } = recordingHandOff();
    const started = Date.now();
    const report = await drain(server, { timeout: 5000, linger: 400, notify: false, handOff });
    expect(await slow).toMatchObject({ body: 'slow', connection: 'close' });
    expect(offered).toHaveLength(1);
    expect(offered[0]!.at - started).toBeGreaterThanOrEqual(390);
    expect(report).toMatchObject({ requestsFinished: 1, handedOff: 1, closed: 1, cut: 0 });
  });

  it('without a hand-off target there is nothing to linger for: a request on an idle connection gets Connection: close', async () => {
    const { server, port } = await serve((req, res) => res.end(req.url));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    await get(port, agent, '/one');
    const draining = drain(server, { timeout: 5000, linger: 2000, notify: false });
    await sleep(50);
    expect(await get(port, agent, '/two')).toMatchObject({ body: '/two', connection: 'close' });
    expect(await draining).toMatchObject({ requestsFinished: 1, closed: 1 });
  });
});

describe('drain (HTTP/2)', () => {
  it('sends GOAWAY: the open stream completes, the session closes', async () => {
    const server = http2.createServer();
    server.on('stream', (stream) =>
      setTimeout(() => {
        stream.respond({ ':status': 200 });
        stream.end('h2');
      }, 300),
    );
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    cleanup.push(() => client.destroy());
    let goaway = false;
    client.on('goaway', () => (goaway = true));
    const req = client.request({ ':path': '/' });
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    await sleep(50);
    const report = drain(server, { timeout: 5000, notify: false });
    await once(req, 'end');
    expect(body).toBe('h2');
    expect(goaway).toBe(true);
    expect(await report).toMatchObject({ cut: 0, requestsFinished: 1 });
  });

  it('a stream cut at the timeout is reset (RST_STREAM INTERNAL_ERROR: Node\'s client would take a CANCEL for a normal end): its client gets an error, not a truncated body that ends as if whole', async () => {
    const server = http2.createServer((req, res) => {
      res.writeHead(200);
      res.write('partial'); // and never ends
    });
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    cleanup.push(() => client.destroy());
    client.on('error', () => undefined);
    const req = client.request({ ':path': '/' });
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    const outcome = new Promise<string>((resolve) => {
      req.once('end', () => resolve('ended'));
      req.once('error', (err: NodeJS.ErrnoException) => resolve(`${err.code}: ${err.message}`));
    });
    await once(req, 'response');
    const report = await drain(server, { timeout: 300, notify: false });
    expect(report).toMatchObject({ cut: 1, requestsFinished: 0 });
    expect(await outcome).toBe('ERR_HTTP2_STREAM_ERROR: Stream closed with error code NGHTTP2_INTERNAL_ERROR');
    expect(req.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    expect(body).toBe('partial');
  });
});

describe('drain: upgraded (WebSocket) and CONNECT connections, which only the application can end', () => {
  /** A server whose 'upgrade' and 'connect' listeners keep the socket and echo on it; a raw client that switched. */
  async function switched(track: boolean, kind: 'upgrade' | 'connect'): Promise<{ server: http.Server; client: net.Socket; received: () => string }> {
    const server = http.createServer((req, res) => res.end('plain'));
    const keep = (req: http.IncomingMessage, socket: net.Socket): void => {
      socket.write(kind === 'upgrade' ? 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n' : 'HTTP/1.1 200 Connection Established\r\n\r\n');
      socket.on('data', (d) => socket.write(d)).on('end', () => socket.end());
    };
    server.on(kind, keep);
    if (track) trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    const { client, received } = rawClient((server.address() as net.AddressInfo).port);
    client.write(kind === 'upgrade' ? 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n' : 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    while (!/\r\n\r\n/.test(received())) await sleep(10);
    return { server, client, received };
  }

  it.each(['upgrade', 'connect'] as const)('tracked (%s): closeConnection is called once for it, and the drain ends when the application closes it', async (kind) => {
    const { server, client, received } = await switched(true, kind);
    const asked: net.Socket[] = [];
    const ended = once(client, 'end');
    const report = await drain(server, { timeout: 5000, notify: false, closeConnection: (socket) => (asked.push(socket), socket.end('bye')) });
    await ended;
    expect(asked).toHaveLength(1);
    expect(received().endsWith('bye')).toBe(true);
    expect(report).toMatchObject({ closed: 1, cut: 0, requestsFinished: 0 });
    expect(report.durationMs).toBeLessThan(4000);
  });

  it.each(['upgrade', 'connect'] as const)('tracked (%s), switched during the drain: closeConnection is called for it too', async (kind) => {
    const server = http.createServer((req, res) => res.end('plain'));
    server.on(kind, (req: http.IncomingMessage, socket: net.Socket) => {
      socket.write(kind === 'upgrade' ? 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n' : 'HTTP/1.1 200 Connection Established\r\n\r\n');
      socket.on('data', (d) => socket.write(d)).on('end', () => socket.end());
    });
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    const { client, received } = rawClient((server.address() as net.AddressInfo).port);
    await once(client, 'connect');
    await sleep(50);
    const asked: net.Socket[] = [];
    const draining = drain(server, { timeout: 3000, notify: false, closeConnection: (socket) => (asked.push(socket), socket.end('bye')) });
    await sleep(50);
    client.write(kind === 'upgrade' ? 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n' : 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n');
    const report = await draining;
    expect(asked).toHaveLength(1);
    expect(report).toMatchObject({ closed: 1, cut: 0 });
    expect(report.durationMs).toBeLessThan(2500);
    expect(received()).toMatch(/bye$/);
  });

  it.each(['upgrade', 'connect'] as const)('a server drain() meets first (%s): the connection Node no longer lists is waited for, not forgotten, and counted cut at the timeout', async (kind) => {
    const { server, client, received } = await switched(false, kind);
    const started = Date.now();
    const report = await drain(server, { timeout: 600, notify: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    expect(report).toMatchObject({ cut: 1 });
    client.write('still there');
    while (!received().endsWith('still there')) await sleep(10); // out of reach: it ends with the process
  });

  it('a server drain() meets first: an upgraded connection that its client closes ends the drain', async () => {
    const { server, client } = await switched(false, 'upgrade');
    const draining = drain(server, { timeout: 5000, notify: false });
    await sleep(100);
    client.destroy();
    expect((await draining).durationMs).toBeLessThan(4000);
  });
});

describe('drain (HTTP/2): a session accepted just before the drain', () => {
  async function h2c(): Promise<{ server: http2.Http2Server; port: number }> {
    const server = http2.createServer((req, res) => res.end('h2'));
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.close());
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  it('whose client sends its first requests after the drain began: all answered, not refused', async () => {
    const { server, port } = await h2c();
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    await sleep(50); // accepted: the server has its session
    const draining = drain(server, { timeout: 5000, notify: false });
    await sleep(100);
    const client = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => socket });
    cleanup.push(() => client.destroy());
    client.on('error', () => undefined);
    // Several at once, as a browser opening a page sends them.
    const answers = ['/a', '/b', '/c', '/d'].map(async (path) => {
      const stream = client.request({ ':path': path });
      let body = '';
      stream.setEncoding('utf8').on('data', (d: string) => (body += d));
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      await once(stream, 'end');
      return { status: headers[':status'], body };
    });
    expect(await Promise.all(answers)).toEqual(Array(4).fill({ status: 200, body: 'h2' }));
    expect(await draining).toMatchObject({ requestsFinished: 4, cut: 0 });
  });

  it('whose client never sends a request (a preconnect): told GOAWAY after a moment, not cut at the timeout', async () => {
    const { server, port } = await h2c();
    const client = http2.connect(`http://127.0.0.1:${port}`);
    cleanup.push(() => client.destroy());
    client.on('error', () => undefined);
    await once(client, 'remoteSettings');
    const report = await drain(server, { timeout: 5000, notify: false });
    expect(report).toMatchObject({ cut: 0, requestsFinished: 0 });
    expect(report.durationMs).toBeLessThan(4000);
  });
});

describe('drain (HTTP/2): what counts as finished', () => {
  it('a stream cut at the timeout and one its client cancels are not counted as answered; an answered one is', async () => {
    const server = http2.createServer((req, res) => {
      if (req.url === '/ok') setTimeout(() => res.end('ok'), 100);
    });
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    cleanup.push(() => client.destroy());
    client.on('error', () => undefined);
    const open = (path: string): http2.ClientHttp2Stream => {
      const stream = client.request({ ':path': path });
      stream.on('error', () => undefined).resume();
      return stream;
    };
    open('/ok');
    const cancelled = open('/cancel');
    open('/never');
    await sleep(50);
    const report = drain(server, { timeout: 600, notify: false });
    await sleep(50);
    cancelled.close(http2.constants.NGHTTP2_CANCEL);
    expect(await report).toMatchObject({ requestsFinished: 1, cut: 1 });
  });
});

describe('a server drain() meets first (no trackConnections() before it accepted)', () => {
  /** An HTTP server no one told drain() about: /slow answers after 300 ms, anything else with its URL. */
  async function untracked(): Promise<{ server: http.Server; port: number }> {
    const server = http.createServer((req, res) => (req.url === '/slow' ? setTimeout(() => res.end('slow'), 300) : res.end(req.url)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  it('HTTP/1: its open connections are found: the in-flight request finishes with Connection: close, the idle one is handed off, a half-read request is not', async () => {
    const { server, port } = await untracked();
    const idleAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const busyAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => [idleAgent, busyAgent].forEach((a) => a.destroy()));
    const idle = await get(port, idleAgent, '/idle');
    const slow = get(port, busyAgent, '/slow');
    const half = net.connect(port, '127.0.0.1');
    cleanup.push(() => half.destroy());
    let received = '';
    half.setEncoding('utf8').on('data', (d: string) => (received += d));
    half.write('GET /half HTTP/1.1\r\nHo');
    await sleep(100);
    const offered: number[] = [];
    const draining = drain(server, {
      timeout: 5000,
      notify: false,
      handOff: async (socket) => {
        offered.push(socket.remotePort!);
        socket.destroy();
        return true;
      },
    });
    await sleep(50);
    half.write('st: x\r\n\r\n');
    expect(await slow).toMatchObject({ body: 'slow', connection: 'close' });
    const report = await draining;
    expect(offered).toEqual([idle.localPort]);
    expect(received).toMatch(/Connection: close[\s\S]*\/half$/i);
    expect(report).toMatchObject({ requestsFinished: 2, handedOff: 1, closed: 2, cut: 0 });
  });

  it('HTTP/1: pipelined requests queued behind the one in progress are all answered (none is told Connection: close, which would drop the rest)', async () => {
    const { server, port } = await untracked();
    const { client, received } = rawClient(port);
    client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    await drain(server, { timeout: 1500, notify: false });
    expect(received().match(/HTTP\/1\.1 200/g)).toHaveLength(3);
    expect(received()).toMatch(/slow[\s\S]*\/b[\s\S]*\/c$/);
  });

  it('HTTP/1: once that queue is out, a later request on the connection is told Connection: close, and the drain ends with it', async () => {
    const { server, port } = await untracked();
    const { client, received } = rawClient(port);
    client.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await sleep(100);
    const draining = drain(server, { timeout: 5000, notify: false });
    await sleep(400);
    client.write('GET /third HTTP/1.1\r\nHost: x\r\n\r\n');
    const report = await draining;
    if (!client.readableEnded) await once(client, 'end'); // the last bytes may still be on their way
    expect(received()).toMatch(/Connection: close[\s\S]*\/third$/i);
    expect(report).toMatchObject({ cut: 0, closed: 1 });
    expect(report.durationMs).toBeLessThan(4000);
  });

  it('a net server with connections it cannot see: ERR_NOT_TRACKED, which says what to call', async () => {
    const server = net.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanup.push(() => {
      client.destroy();
      server.close();
    });
    await once(server, 'connection');
    await expect(drain(server, { notify: false })).rejects.toMatchObject({ code: 'ERR_NOT_TRACKED', message: /1 open connection\(s\).*trackConnections\(server\)/ });
  });
});

describe('drain: what is not moved, and bad arguments', () => {
  async function tlsServer(keepAliveTimeout = 5000, track = true): Promise<{ server: https.Server; port: number }> {
    const dir = mkdtempSync(join(tmpdir(), 'sa-drain-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key'), '-out', join(dir, 'cert')], { stdio: 'ignore' });
    const server = https.createServer({ key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'cert')), keepAliveTimeout }, (req, res) => res.end('tls'));
    if (track) trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.closeAllConnections());
    return { server, port: (server.address() as net.AddressInfo).port };
  }

  it('TLS connections are never offered to a hand-off function: an idle one ends by the keep-alive timeout', async () => {
    const { server, port } = await tlsServer(2000);
    const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    cleanup.push(() => agent.destroy());
    await new Promise<void>((resolve, reject) => https.get({ host: '127.0.0.1', port, agent }, (res) => res.resume().on('end', resolve)).on('error', reject));
    let offered = 0;
    const report = await drain(server, {
      timeout: 5000,
      notify: false,
      handOff: async () => {
        offered++;
        return false;
      },
    });
    expect(offered).toBe(0);
    expect(report).toMatchObject({ handedOff: 0, closed: 1, cut: 0 });
  });

  it.each([true, false])('a TLS connection still in its handshake is waited for (server tracked: %s): its request is answered (Connection: close) before the drain resolves', async (track) => {
    const { server, port } = await tlsServer(5000, track);
    const raw = net.connect(port, '127.0.0.1');
    cleanup.push(() => raw.destroy());
    await once(raw, 'connect');
    await sleep(50); // accepted, no ClientHello yet
    let resolved = false;
    const draining = drain(server, { timeout: 5000, notify: false }).then((r) => ((resolved = true), r));
    await sleep(200);
    expect(resolved).toBe(false);
    const client = tls.connect({ socket: raw, rejectUnauthorized: false });
    await once(client, 'secureConnect');
    client.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    let response = '';
    client.setEncoding('utf8').on('data', (d: string) => (response += d));
    await once(client, 'close');
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toMatch(/\r\nConnection: close\r\n/i);
    expect(response.endsWith('tls')).toBe(true);
    expect(await draining).toMatchObject({ requestsFinished: 1, closed: 1, cut: 0 });
  });

  it('a TLS handshake that never ends is cut at the timeout and counted; one whose client leaves counts as closed', async () => {
    const { server, port } = await tlsServer();
    const silent = net.connect(port, '127.0.0.1');
    const leaving = net.connect(port, '127.0.0.1');
    cleanup.push(() => [silent, leaving].forEach((s) => s.destroy()));
    await Promise.all([once(silent, 'connect'), once(leaving, 'connect')]);
    await sleep(50);
    const started = Date.now();
    const draining = drain(server, { timeout: 600, notify: false });
    await sleep(100);
    leaving.destroy();
    const ended = once(silent, 'close');
    expect(await draining).toMatchObject({ requestsFinished: 0, closed: 1, cut: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
    await ended; // the server closed it
  });

  it('an https server drain() meets first: a handshake that never ends, which it cannot reach, is counted cut at the timeout', async () => {
    const { server, port } = await tlsServer(5000, false);
    const silent = net.connect(port, '127.0.0.1');
    cleanup.push(() => silent.destroy());
    await once(silent, 'connect');
    await sleep(50);
    const started = Date.now();
    expect(await drain(server, { timeout: 600, notify: false })).toMatchObject({ requestsFinished: 0, closed: 0, cut: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
  });

  /** An HTTP/2 server with allowHTTP1, and an HTTP/1.1 keep-alive GET to it. */
  async function http1OnHttp2(handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void): Promise<{ server: http2.Http2SecureServer; get: () => Promise<{ connection: string | undefined; body: string }> }> {
    const dir = mkdtempSync(join(tmpdir(), 'sa-drain-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key'), '-out', join(dir, 'cert')], { stdio: 'ignore' });
    const server = http2.createSecureServer({ key: readFileSync(join(dir, 'key')), cert: readFileSync(join(dir, 'cert')), allowHTTP1: true }, handler);
    trackConnections(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => server.close());
    const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    cleanup.push(() => agent.destroy());
    const get = (): Promise<{ connection: string | undefined; body: string }> =>
      new Promise((resolve, reject) =>
        https
          .get({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, agent }, (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d: string) => (body += d));
            res.on('end', () => resolve({ connection: res.headers.connection, body }));
          })
          .on('error', reject),
      );
    return { server, get };
  }

  it('HTTP/2 with allowHTTP1: an HTTP/1.1 request in flight is answered with Connection: close and nothing is cut', async () => {
    const { server, get } = await http1OnHttp2((req, res) => setTimeout(() => res.end('h1'), 500));
    const answered = get();
    await sleep(200);
    const report = await drain(server, { timeout: 5000, notify: false });
    expect(await answered).toEqual({ connection: 'close', body: 'h1' });
    expect(report).toMatchObject({ requestsFinished: 1, closed: 1, cut: 0 });
    expect(report.durationMs).toBeLessThan(4000);
  });

  it('HTTP/2 with allowHTTP1: an idle HTTP/1.1 keep-alive connection, which no keep-alive timer ends, is closed, not cut at the timeout', async () => {
    const { server, get } = await http1OnHttp2((req, res) => res.end('h1'));
    expect(await get()).toEqual({ connection: 'keep-alive', body: 'h1' });
    const report = await drain(server, { timeout: 5000, notify: false });
    expect(report).toMatchObject({ requestsFinished: 0, closed: 1, cut: 0 });
    expect(report.durationMs).toBeLessThan(4000);
  });

  it('ERR_INVALID_ARGUMENT naming the argument, what was expected and found', async () => {
    const { server } = await serve(() => undefined);
    const bad: [unknown, unknown, RegExp][] = [
      [undefined, undefined, /drain server must be a net\.Server .*found undefined/],
      [null, undefined, /drain server must be .*found null/],
      [{}, undefined, /drain server must be .*found "Object"/],
      ['x', undefined, /drain server must be .*found "x"/],
      [server, { handOff: false }, /drain handOff must be 'none', 'fd-store' or a function, found false/],
      [server, { handOff: 'bogus' }, /drain handOff must be .*found "bogus"/],
      [server, { closeConnection: 5 }, /drain closeConnection must be a function, found 5/],
      [server, { notify: 'no' }, /drain notify must be a boolean/],
      [server, 7, /drain options must be an object, found 7/],
    ];
    for (const [s, o, message] of bad) {
      await expect(drain(s as http.Server, o as DrainOptions)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message });
    }
    // null options are no options.
    expect(await drain(server, null)).toMatchObject({ cut: 0, closed: 0 });
    for (const bad of [undefined, {}, 5]) {
      expect(() => trackConnections(bad as http.Server)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/^trackConnections\(\) server must be a net\.Server/) }));
    }
  });

  it('drainOnSignal(): a bad server or option is ERR_INVALID_ARGUMENT at the call, not a crash (or no drain at all) when the signal comes', () => {
    const server = net.createServer();
    const bad: [unknown, unknown, RegExp][] = [
      [{}, {}, /^drainOnSignal\(\) servers must be a net\.Server .*found "Object"\.$/],
      [server, 'x', /^drainOnSignal\(\) options must be an object, found "x"\.$/],
      [server, { signal: 'SIGTREM' }, /^drainOnSignal\(\) signal must be a signal name such as SIGTERM, found "SIGTREM"\.$/],
      [server, { signal: 15 }, /^drainOnSignal\(\) signal must be .*found 15\.$/],
      [server, { timeout: -1 }, /^drainOnSignal\(\) timeout must be a number of milliseconds from 0 to 2147483647 .*found -1\.$/],
      [server, { linger: Number.NaN }, /^drainOnSignal\(\) linger must be .*found NaN\.$/],
      [server, { handOff: 'bogus' }, /^drainOnSignal\(\) handOff must be 'none', 'fd-store' or a function, found "bogus"\.$/],
      [server, { onDrained: 5 }, /^drainOnSignal\(\) onDrained must be a function, found 5\.$/],
      [server, { exit: 'no' }, /^drainOnSignal\(\) exit must be true or false, found "no"\.$/],
    ];
    const listening = process.listenerCount('SIGTERM');
    for (const [s, o, message] of bad) {
      expect(() => drainOnSignal(s as http.Server, o as DrainOnSignalOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) }));
    }
    expect(process.listenerCount('SIGTERM')).toBe(listening);
  });

  it('the report counts every connection once: one whose client leaves during a slow hand-off is closed; a hand-off that answers anything but true moved nothing', async () => {
    const { server, port } = await serve((req, res) => res.end('x'), 2000);
    const agents = [new http.Agent({ keepAlive: true }), new http.Agent({ keepAlive: true })];
    cleanup.push(() => agents.forEach((a) => a.destroy()));
    await get(port, agents[0]!);
    await get(port, agents[1]!);
    const report = await drain(server, {
      timeout: 1500,
      notify: false,
      handOff: async () => 'yes' as unknown as boolean,
    });
    expect(report.handedOff).toBe(0);
    expect(report.closed + report.cut).toBe(2);

    const second = await serve((req, res) => res.end('x'), 2000);
    const leaving = new http.Agent({ keepAlive: true });
    await get(second.port, leaving);
    const slow = await drain(second.server, {
      timeout: 3000,
      notify: false,
      handOff: async () => {
        leaving.destroy(); // the client goes while the hand-off decides
        await sleep(300);
        return false;
      },
    });
    expect(slow).toMatchObject({ closed: 1, handedOff: 0, cut: 0 });
  });

  it('a hand-off that destroys the socket once it has sent it counts as handed off, and the drain waits for its answer', async () => {
    const { server, port } = await serve((req, res) => res.end('x'), 2000);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await get(port, agent);
    let settledAt = 0;
    const report = await drain(server, {
      timeout: 3000,
      notify: false,
      handOff: async (socket) => {
        socket.destroy(); // "sent": our copy goes
        await sleep(300);
        settledAt = Date.now();
        return true;
      },
    });
    expect(report).toMatchObject({ handedOff: 1, closed: 0, cut: 0 });
    expect(settledAt).toBeGreaterThan(0);
  });

  it('a hand-off still deciding at the timeout is cut and counted once: the drain does not wait for it, and its late answer changes nothing', async () => {
    const { server, port } = await serve((req, res) => res.end('x'), 2000);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await get(port, agent);
    const started = Date.now();
    const report = await drain(server, { timeout: 400, notify: false, handOff: () => sleep(1000).then(() => true) });
    expect(report).toMatchObject({ handedOff: 0, closed: 0, cut: 1 });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('a handOff that rejects with something that is not an Error (undefined) leaves the connection here with a warning, no crash', async () => {
    const { server, port } = await serve((req, res) => res.end('x'), 1000);
    const agent = new http.Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    await get(port, agent);
    const warnings = warningsSeen();
    const report = await drain(server, {
      timeout: 3000,
      notify: false,
      handOff: async () => {
        throw undefined;
      },
    });
    expect(report.handedOff).toBe(0);
    expect(report.closed + report.cut).toBe(1);
    await sleep(10);
    expect(warnings).toContain('drain: the hand-off of a connection failed (undefined); it is closed here instead');
  });

  it('that warning is printed even when the process exits as soon as the drain settles (as drainOnSignal() and a hot upgrade do)', async () => {
    const code = `import http from 'node:http';
      import { drain, trackConnections } from 'socket-activation';
      const server = http.createServer((req, res) => res.end('ok'));
      trackConnections(server);
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const agent = new http.Agent({ keepAlive: true });
      await new Promise((resolve) => http.get({ port: server.address().port, host: '127.0.0.1', agent }, (res) => res.resume().on('end', resolve)));
      drain(server, { timeout: 2000, handOff: async () => { throw new Error('no fd left'); } }).then(() => process.exit(0));`;
    const r = await finish(startActivated('', { command: [process.execPath, '--input-type=module', '-e', code], listenPid: 'none' }));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('drain: the hand-off of a connection failed (no fd left); it is closed here instead');
  });

  it('hand-offs that fail alike (no fd left, say) are told in one warning per drain, with their count, not one per connection', async () => {
    const { server, port } = await serve((req, res) => res.end('x'), 1000);
    // Three keep-alive connections, each idle after one answered request.
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(port, '127.0.0.1');
      cleanup.push(() => socket.destroy());
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(socket, 'data');
    }
    const warnings = warningsSeen();
    const report = await drain(server, {
      timeout: 3000,
      notify: false,
      handOff: async () => {
        throw Object.assign(new Error('EMFILE: too many open files, socket'), { code: 'EMFILE' });
      },
    });
    expect(report.handedOff).toBe(0);
    await sleep(10);
    expect(warnings.filter((w) => w.startsWith('drain:'))).toEqual(['drain: the hand-off of 3 connections failed (EMFILE: too many open files, socket); they are closed here instead']);
  });

  it("handOff 'fd-store' with $FDSTORE announced: what fits is stored, the rest is not sent to be dropped but ends by its keep-alive timeout, told in one warning", async () => {
    const r = await startReceiver({ keepFds: true });
    process.env.NOTIFY_SOCKET = r.address;
    process.env.FDSTORE = String(storedByThisProcess() + 1);
    cleanup.push(() => {
      delete process.env.NOTIFY_SOCKET;
      delete process.env.FDSTORE;
    });
    const { server, port } = await serve((req, res) => res.end('x'), 1500);
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const c = rawClient(port);
      c.client.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await once(c.client, 'data');
      clients.push(Object.assign(c, { ended: once(c.client, 'end').then(() => true) }));
    }
    const warnings = warningsSeen();
    const report = await drain(server, { timeout: 5000, notify: false, handOff: 'fd-store' });
    expect(report).toMatchObject({ handedOff: 1, closed: 2, cut: 0 });
    expect((await r.waitFor(1)).map((m) => m.text)).toEqual([expect.stringMatching(/^FDSTORE=1\nFDNAME=kept\./)]);
    await sleep(10);
    expect(warnings.filter((w) => w.startsWith('drain:'))).toEqual([
      expect.stringMatching(/^drain: the hand-off of 2 connections failed \(This connection cannot be kept: the fd store is full \(\$FDSTORE=\d+, .*\); they are closed here instead$/),
    ]);
    // The two left here were ended (FIN) by the server, not dropped by the manager mid-request.
    const ended = await Promise.all(clients.map((c) => Promise.race([c.ended, sleep(300).then(() => false)])));
    expect(ended.filter(Boolean)).toHaveLength(2);
  });
});

describe('what the service manager is told', () => {
  it('STOPPING=1 comes with a STATUS= that says the drain runs and for how long at most (else systemctl status shows the serving status through it)', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    cleanup.push(() => delete process.env.NOTIFY_SOCKET);
    const { server } = await serve((req, res) => res.end('x'));
    await drain(server, { timeout: 2500 });
    expect((await r.waitFor(2)).map((m) => m.text).sort()).toEqual(['EXTEND_TIMEOUT_USEC=7500000', 'STOPPING=1\nSTATUS=stopping: draining connections (at most 2.5 s)']);
  });
});
