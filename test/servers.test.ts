// Every server kind answering a real client through an inherited fd, on every address kind;
// backlog preservation; several fds sharing one name; adoption of a duplicate.
import { execFileSync, spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startActivated } from './helpers/activated.js';
import { OPEN_FDS, runInline } from './helpers/inline.js';
import { echo, get, get2, tryConnect, type Target } from './helpers/clients.js';
import { closeAllSockets, makeSocket, type RawSocket, type SocketSpec } from './helpers/raw-sockets.js';
import { killAll, watch, type Watched } from './helpers/watch.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'sa-servers-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
let unique = 0;

beforeAll(() => {
  if (!hasOpenssl) return;
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], {
    stdio: 'ignore',
  });
});
afterEach(async () => {
  await killAll();
  closeAllSockets();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Kind = 'net' | 'http' | 'https' | 'h2c' | 'h2';

/**
 * Starts test/fixtures/serve.mjs with these sockets at 3.. named `names`, closes this
 * process's copies (so the child holds the only ones), and waits until it listens.
 */
async function serve(kind: Kind, sockets: RawSocket[], names: string[], options: Record<string, unknown> = {}): Promise<{ child: Watched; ready: any }> {
  const secure = kind === 'https' || kind === 'h2';
  const child = watch(
    startActivated('serve.mjs', {
      fds: sockets.map((s) => s.fd),
      env: { LISTEN_FDNAMES: names.join(':') },
      args: [kind, names[0]!, JSON.stringify({ ...options, ...(secure ? { cert, key } : {}) })],
    }),
  );
  for (const s of sockets) s.close();
  const ready = await child.json('READY');
  return { child, ready };
}

interface Place {
  label: string;
  spec: () => SocketSpec;
  target: (s: RawSocket, spec: SocketSpec) => Target;
  address: (s: RawSocket, spec: SocketSpec) => Record<string, unknown>;
}

const places: Place[] = [
  {
    label: 'TCP 127.0.0.1',
    spec: () => ({ family: 'inet', host: '127.0.0.1' }),
    target: (s) => ({ host: '127.0.0.1', port: s.port }),
    address: (s) => ({ address: '127.0.0.1', port: s.port, family: 'IPv4' }),
  },
  {
    label: 'TCP [::1]',
    spec: () => ({ family: 'inet6', host: '::1' }),
    target: (s) => ({ host: '::1', port: s.port }),
    address: (s) => ({ address: '::1', port: s.port, family: 'IPv6' }),
  },
  {
    label: 'dual-stack [::] reached over IPv4',
    spec: () => ({ family: 'inet6', host: '::', v6only: false }),
    target: (s) => ({ host: '127.0.0.1', port: s.port }),
    address: (s) => ({ address: '::', port: s.port, family: 'IPv6' }),
  },
  {
    label: 'unix path',
    spec: () => ({ family: 'unix', path: join(dir, `s${++unique}.sock`) }),
    target: (_s, spec) => ({ path: (spec as { path: string }).path }),
    address: (_s, spec) => ({ path: (spec as { path: string }).path }),
  },
  {
    label: 'abstract unix',
    spec: () => ({ family: 'unix', abstract: `sa-servers-${process.pid}-${++unique}` }),
    target: (_s, spec) => ({ abstract: (spec as { abstract: string }).abstract }),
    address: (_s, spec) => ({ abstract: (spec as { abstract: string }).abstract }),
  },
];

describe.each(places)('on $label', (place) => {
  const open = async (kind: Kind) => {
    const spec = place.spec();
    const socket = makeSocket(spec);
    const { child, ready } = await serve(kind, [socket], ['web']);
    expect(ready.activated).toBe(true);
    expect(ready.addresses).toHaveLength(1);
    expect(ready.addresses[0]).toMatchObject(place.address(socket, spec));
    // Node's address() knows no unix addresses of an adopted fd: the result has them.
    if (spec.family === 'unix') expect(ready.nodeAddress).toBeNull();
    return { child, target: place.target(socket, spec), pid: ready.pid as number };
  };

  it('net server echoes bytes', async () => {
    const { target } = await open('net');
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, ...Buffer.from('héllo\r\n')]);
    expect(await echo(target, bytes)).toEqual(bytes);
  });

  it('http server answers GET', async () => {
    const { target, pid } = await open('http');
    const answer = await get(target);
    expect(answer.status).toBe(200);
    expect(answer.httpVersion).toBe('1.1');
    expect(JSON.parse(answer.body)).toEqual({ kind: 'http', pid, httpVersion: '1.1', encrypted: false });
  });

  it.skipIf(!hasOpenssl)('https server answers GET over TLS', async () => {
    const { target, pid } = await open('https');
    const answer = await get(target, { secure: true });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ kind: 'https', pid, httpVersion: '1.1', encrypted: true });
  });

  it('http2 server answers h2c (prior knowledge)', async () => {
    const { target, pid } = await open('h2c');
    const answer = await get2(target);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ kind: 'h2c', pid, httpVersion: '2.0', encrypted: false });
  });

  it.skipIf(!hasOpenssl)('secure http2 server answers h2 (ALPN) and HTTP/1.1 (allowHTTP1)', async () => {
    const { target, pid } = await open('h2');
    const h2 = await get2(target, { secure: true });
    expect(h2.alpn).toBe('h2');
    expect(JSON.parse(h2.body)).toEqual({ kind: 'h2', pid, httpVersion: '2.0', encrypted: true });
    const h1 = await get(target, { secure: true });
    expect(h1.httpVersion).toBe('1.1');
    expect(JSON.parse(h1.body)).toEqual({ kind: 'h2', pid, httpVersion: '1.1', encrypted: true });
  });
});

/** Send-Q of a listening TCP socket, as `ss` shows it: the accept queue limit. */
// Only 127.0.0.1: the same port number may be in use on another address by other test runs.
function ssBacklog(port: number): number {
  const out = execFileSync('ss', ['-Hltn', `src 127.0.0.1:${port}`], { encoding: 'utf8' }).trim().split('\n');
  expect(out).toHaveLength(1);
  return Number(out[0]!.trim().split(/\s+/)[2]);
}
const hasSs = spawnSync('ss', ['-V']).status === 0;

describe('backlog', () => {
  it('an inherited listener with backlog 77 keeps 77 (Node would reset it to 511)', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1', backlog: 77 });
    const { ready } = await serve('http', [socket], ['web']);
    expect(ready.descriptors[0].now).toMatchObject({ open: true, listening: true, backlog: 77 });
    if (hasSs) expect(ssBacklog(socket.port)).toBe(77);
    expect((await get({ host: '127.0.0.1', port: socket.port })).status).toBe(200);
  });

  it('listen(server, name, { backlog: 200 }) listens with 200', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1', backlog: 77 });
    const { ready } = await serve('http', [socket], ['web'], { backlog: 200 });
    expect(ready.descriptors[0].now).toMatchObject({ listening: true, backlog: 200 });
    if (hasSs) expect(ssBacklog(socket.port)).toBe(200);
  });
});

describe('several fds with one name', () => {
  it('listen(server, name) serves both ports; listener(name) is ambiguous; close() closes both', async () => {
    const a = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const b = makeSocket({ family: 'inet', host: '127.0.0.1' });

    const report = watch(startActivated('report.mjs', { fds: [a.fd, b.fd], env: { LISTEN_FDNAMES: 'web:web' }, args: ['listener', 'web'] }));
    await report.finish();
    const line = JSON.parse(report.stdout.trim().split('\n').pop()!);
    expect(line.ok).toBe(false);
    expect(line.error).toMatchObject({ code: 'ERR_LISTENER_AMBIGUOUS', listenerName: 'web', found: [3, 4] });

    const { child, ready } = await serve('http', [a, b], ['web', 'web'], { closeOriginals: true });
    expect(ready.addresses).toEqual([
      { address: '127.0.0.1', port: a.port, family: 'IPv4' },
      { address: '127.0.0.1', port: b.port, family: 'IPv4' },
    ]);
    expect(ready.descriptors.map((d: { fd: number; name: string }) => [d.fd, d.name])).toEqual([
      [3, 'web'],
      [4, 'web'],
    ]);
    for (const port of [a.port, b.port]) {
      const answer = await get({ host: '127.0.0.1', port });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).pid).toBe(ready.pid);
    }

    child.kill('SIGHUP');
    const closed = await child.json('CLOSED');
    expect(closed.listening).toBe(false);
    // Node's duplicates (the main server's and the helper's) are gone; the inherited fds stay.
    expect(closed.originals).toMatchObject([
      { fd: 3, copies: 1, now: { open: true, listening: true } },
      { fd: 4, copies: 1, now: { open: true, listening: true } },
    ]);
    // With the inherited fds closed as well, nothing in the process listens on either port.
    expect(await child.json('ORIGINALS_CLOSED')).toEqual({ copies: [0, 0] });
    expect(await tryConnect({ host: '127.0.0.1', port: a.port })).toBe('ECONNREFUSED');
    expect(await tryConnect({ host: '127.0.0.1', port: b.port })).toBe('ECONNREFUSED');
  });
});

describe.each(['net', 'https', 'h2c', 'h2'] as const)('several fds with one name, %s server', (kind) => {
  it.skipIf(!hasOpenssl && (kind === 'https' || kind === 'h2'))('both ports answer', async () => {
    const a = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const b = makeSocket({ family: 'inet6', host: '::1' });
    const { ready } = await serve(kind, [a, b], ['web', 'web']);
    expect(ready.addresses).toMatchObject([{ port: a.port }, { port: b.port }]);
    for (const target of [
      { host: '127.0.0.1', port: a.port },
      { host: '::1', port: b.port },
    ]) {
      if (kind === 'net') expect((await echo(target, Buffer.from(`to ${target.host}`))).toString()).toBe(`to ${target.host}`);
      else if (kind === 'https') expect(JSON.parse((await get(target, { secure: true })).body)).toMatchObject({ kind, pid: ready.pid, encrypted: true });
      else expect(JSON.parse((await get2(target, { secure: kind === 'h2' })).body)).toMatchObject({ kind, pid: ready.pid, httpVersion: '2.0' });
    }
  });
});

describe('drain: server.close() waits for requests in flight', () => {
  /**
   * Holds a GET /hold on `port`, closes the server, then releases the request. A correct
   * close callback (CLOSED) comes only after the response (RELEASED).
   */
  async function closeWhileHolding(child: Watched, port: number) {
    const pending = get({ host: '127.0.0.1', port }, { path: '/hold' });
    await child.waitFor(/^HOLDING$/m);
    child.kill('SIGHUP');
    await child.waitFor(/^CLOSING$/m);
    child.kill('SIGUSR2');
    const answer = await pending;
    await child.waitFor(/^CLOSED /m);
    const order = child.stdout.split('\n').filter((l) => /^(HOLDING|CLOSING|RELEASED|CLOSED)\b/.test(l)).map((l) => l.split(' ')[0]);
    return { answer, order };
  }

  it('one fd', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const { child } = await serve('http', [socket], ['web']);
    const { answer, order } = await closeWhileHolding(child, socket.port);
    expect(answer.status).toBe(200);
    expect(order).toEqual(['HOLDING', 'CLOSING', 'RELEASED', 'CLOSED']);
  });

  it.each([0, 1])('two fds with one name, request on the fd at index %i', async (index) => {
    const sockets = [makeSocket({ family: 'inet', host: '127.0.0.1' }), makeSocket({ family: 'inet', host: '127.0.0.1' })];
    const { child } = await serve('http', sockets, ['web', 'web']);
    const { answer, order } = await closeWhileHolding(child, sockets[index]!.port);
    expect(answer.status).toBe(200);
    expect(order).toEqual(['HOLDING', 'CLOSING', 'RELEASED', 'CLOSED']);
  });
});

describe('adoption', () => {
  it('Node gets a duplicate: after server.close() the inherited fd is still open and listening', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const { child, ready } = await serve('http', [socket], ['web']);
    // The inherited fd 3 plus the duplicate Node listens on.
    expect(ready.descriptors).toMatchObject([{ fd: 3, copies: 2, now: { open: true, listening: true } }]);
    expect((await get({ host: '127.0.0.1', port: socket.port })).status).toBe(200);

    child.kill('SIGHUP');
    const closed = await child.json('CLOSED');
    expect(closed).toMatchObject({ error: null, listening: false, originals: [{ fd: 3, copies: 1, now: { open: true, kind: 'socket', listening: true } }] });
    expect(closed.originals[0].now.ino).toBe(ready.descriptors[0].ino);
    // The kernel still queues connections on the inherited socket (as under systemd during a restart).
    expect(await tryConnect({ host: '127.0.0.1', port: socket.port })).toBe('connected');
  });

  it('a server already listening elsewhere: Node refuses the fd, and the duplicate made for it is closed', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const r = await runInline(
      `${OPEN_FDS}
      import net from 'node:net';
      import { listen } from 'socket-activation';
      const server = net.createServer();
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const before = openFds();
      const code = await listen(server, 'web').then(() => 'ok', (err) => err.code);
      console.log(JSON.stringify({ code, listening: server.listening, before, after: openFds() }));
      server.close();`,
      { fds: [socket.fd], env: { LISTEN_FDNAMES: 'web' } },
    );
    expect(r).toMatchObject({ code: 'ERR_SERVER_ALREADY_LISTEN', listening: true });
    expect(r.after).toEqual(r.before);
  });

  it('out of fds: EMFILE on the duplicate, saying the process is at its limit and what to change (not only "fcntl fd 3")', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const r = await runInline(
      `import { openSync, closeSync } from 'node:fs';
      import net from 'node:net';
      import { listeners, listen } from 'socket-activation';
      listeners();
      const held = [];
      try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
      const err = await listen(net.createServer(), 'web').then(() => ({}), (e) => e);
      for (const fd of held) closeSync(fd);
      console.log(JSON.stringify({ code: err.code, syscall: err.syscall, fd: err.fd, message: err.message }));`,
      { fds: [socket.fd], env: { LISTEN_FDNAMES: 'web' } },
    );
    expect(r).toMatchObject({ code: 'EMFILE', syscall: 'fcntl', fd: 3 });
    expect(r.message).toMatch(/^EMFILE: too many open files, fcntl fd 3 \(F_DUPFD_CLOEXEC: this process has as many files open as it may \(RLIMIT_NOFILE\), so no duplicate could be made; close fds it no longer needs, or raise the limit \(LimitNOFILE=, ulimit -n\)\)$/);
  });

  it('on a unix path: server.close() leaves the socket file (it belongs to the service manager)', async () => {
    const path = join(dir, `adopt-${++unique}.sock`);
    const socket = makeSocket({ family: 'unix', path });
    const { child } = await serve('http', [socket], ['web']);
    expect((await get({ path })).status).toBe(200);
    child.kill('SIGHUP');
    expect(await child.json('CLOSED')).toMatchObject({ listening: false, originals: [{ fd: 3, copies: 1, now: { open: true, listening: true } }] });
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(await tryConnect({ path })).toBe('connected');
  });
});
