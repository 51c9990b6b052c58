// Development fallback: only when the process was not activated at all. This test process
// itself is not activated, so it runs here directly.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { activation, bindDatagram, inspect, listen, type SocketDescriptor } from '../src/index.js';
import { reportOf } from './helpers/activated.js';
import { closeAll, closeSocket, inetSocket, unixSocket } from './helpers/sockets.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-fallback-'));
afterAll(() => {
  closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const hello = () => http.createServer((req, res) => res.end('fallback ok'));
const close = (s: net.Server) => new Promise((r) => s.close(r));

describe('fallback', () => {
  it('this process is not activated', () => {
    expect(activation()).toMatchObject({ activated: false, reason: 'absent' });
  });

  it('binds a TCP port itself', async () => {
    const { server, activated, addresses } = await listen(hello(), 'web', { fallback: { port: 0, host: '127.0.0.1' } });
    try {
      expect(activated).toBe(false);
      const { port } = addresses[0] as { port: number };
      expect(await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text())).toBe('fallback ok');
    } finally {
      await close(server);
    }
  });

  it('an IPv6 fallback reports its address as an inherited socket\'s is, with flowinfo and scopeId', async () => {
    const { server, addresses } = await listen(hello(), 'web', { fallback: { port: 0, host: '::1' } });
    try {
      const { port } = server.address() as net.AddressInfo;
      expect(addresses).toEqual([{ address: '::1', port, family: 'IPv6', flowinfo: 0, scopeId: 0 }]);
      // An inherited socket on the same address: the same shape.
      const inherited = (inspect(inetSocket({ host: '::1' }).fd) as SocketDescriptor).local;
      expect(Object.keys(addresses[0]!)).toEqual(Object.keys(inherited));
    } finally {
      await close(server);
    }
  });

  it('binds a unix path, and Node removes the file it created on close', async () => {
    const path = join(dir, 'app.sock');
    const { server, addresses } = await listen(hello(), 'web', { fallback: { path } });
    expect(addresses).toEqual([{ path, raw: Buffer.from(path) }]);
    expect(lstatSync(path).isSocket()).toBe(true);
    await close(server);
    expect(existsSync(path)).toBe(false);
  });

  it('a stale socket file is an error unless removeStale is given; other files are never removed', async () => {
    const path = join(dir, 'stale.sock');
    // a socket file nobody accepts on, as a crashed run leaves it
    closeSocket(unixSocket(path));
    expect(lstatSync(path).isSocket()).toBe(true);
    await expect(listen(hello(), 'web', { fallback: { path } })).rejects.toMatchObject({ code: 'ERR_FALLBACK_PATH_IN_USE', path });
    const { server } = await listen(hello(), 'web', { fallback: { path, removeStale: true } });
    await close(server);

    const plainFile = join(dir, 'not-a-socket');
    writeFileSync(plainFile, 'keep me');
    await expect(listen(hello(), 'web', { fallback: { path: plainFile, removeStale: true } })).rejects.toMatchObject({ code: 'ERR_FALLBACK_PATH_IN_USE' });
    expect(existsSync(plainFile)).toBe(true);
  });

  it('a path freed while it is looked at (its server removes it on the probe\'s connection): listened on, or ERR_FALLBACK_PATH_IN_USE, never ENOENT', async () => {
    // Another process serves each path and, on its first connection (the in-use probe's),
    // removes its socket file. Whether that happens before listen() looks at the file again
    // is up to the scheduler (no order to wait for), so the race is run on many paths.
    const paths = Array.from({ length: 20 }, (_, i) => join(dir, `vanishing-${i}.sock`));
    const script =
      "const fs = require('fs'); const net = require('net'); const paths = process.argv.slice(1); let n = 0;" +
      "for (const p of paths) { const s = net.createServer((c) => { fs.unlinkSync(p); c.destroy(); s.close(); }); s.listen(p, () => { if (++n === paths.length) console.log('LISTENING'); }); }" +
      'process.stdin.resume();';
    const peer = spawn(process.execPath, ['-e', script, ...paths], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(peer.stdout!, 'data');
      const outcomes: string[] = [];
      for (const path of paths) {
        const outcome = await listen(hello(), 'web', { fallback: { path } }).then(
          async ({ server, addresses }) => {
            expect(addresses).toEqual([{ path, raw: Buffer.from(path) }]);
            await close(server);
            return 'listened';
          },
          (err: NodeJS.ErrnoException) => err.code ?? String(err),
        );
        outcomes.push(outcome);
      }
      expect(outcomes.filter((o) => o !== 'listened' && o !== 'ERR_FALLBACK_PATH_IN_USE')).toEqual([]);
    } finally {
      peer.kill();
    }
  });

  it('a UDP fallback, udp6 for an IPv6 host', async () => {
    const socket = await bindDatagram('dns', { fallback: { port: 0, host: '::1' } });
    try {
      expect(socket.address()).toMatchObject({ family: 'IPv6', address: '::1' });
      socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
      const client = dgram.createSocket('udp6');
      client.send('x', socket.address().port, '::1');
      const [msg] = (await once(client, 'message')) as [Buffer];
      expect(msg.toString()).toBe('x');
      client.close();
    } finally {
      socket.close();
    }
  });

  it('no fallback: ERR_NOT_ACTIVATED with the reason', async () => {
    await expect(listen(hello(), 'web')).rejects.toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'absent', listenerName: 'web' });
    await expect(bindDatagram('dns')).rejects.toMatchObject({ code: 'ERR_NOT_ACTIVATED' });
  });

  it('a fallback path whose directory does not exist: ENOENT naming it (libuv says EACCES)', async () => {
    const path = join(dir, 'missing', 'app.sock');
    await expect(listen(hello(), 'web', { fallback: { path } })).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'listen',
      address: path,
      message: `ENOENT: no such file or directory, listen ${path} (the directory ${join(dir, 'missing')} of the fallback path does not exist: create it first)`,
    });
  });

  it('activated but the name is missing: an error, never the fallback', async () => {
    const r = await reportOf('declarative.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'other', FALLBACK_PORT: '0' } });
    expect(r).toEqual({ ok: false, code: 'ERR_LISTENER_NOT_FOUND', listenerName: 'web' });
  });
});

// Checked whether or not they are used; a wrong value must never bind another address.
// Node's own error, its code and fields unchanged, but saying it was the fallback and what to do.
describe('a fallback address that cannot be bound', () => {
  it('a port another process holds: EADDRINUSE saying so (TCP and UDP)', async () => {
    const tcp = inetSocket();
    await expect(listen(hello(), 'web', { fallback: { port: tcp.port, host: '127.0.0.1' } })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      syscall: 'listen',
      port: tcp.port,
      message: `listen EADDRINUSE: address already in use 127.0.0.1:${tcp.port} (the fallback address, this process not being activated: another process listens on this port (see \`ss -ltnp\`): stop it, or choose another fallback port)`,
    });
    const udp = inetSocket({ type: 'dgram' });
    await expect(bindDatagram('dns', { fallback: { port: udp.port, host: '127.0.0.1' } })).rejects.toMatchObject({
      code: 'EADDRINUSE',
      message: expect.stringMatching(/\(the fallback address, this process not being activated: another process is bound to this port \(see `ss -lunp`\): stop it, or choose another fallback port\)$/),
    });
  });

  it('a host that is not an address of this machine: EADDRNOTAVAIL naming it', async () => {
    await expect(listen(hello(), 'web', { fallback: { port: 0, host: '192.0.2.1' } })).rejects.toMatchObject({
      code: 'EADDRNOTAVAIL',
      message: expect.stringMatching(/\(the fallback address, this process not being activated: 192\.0\.2\.1 is not an address of this machine: choose another fallback host\)$/),
    });
  });
});

describe('fallback and backlog values of the wrong kind: ERR_INVALID_ARGUMENT before anything is bound', () => {
  it.each([
    ['21050', /found "21050"\. For a port from the environment, pass Number\("21050"\)/],
    ['/tmp/x.sock', /For a unix socket path, pass \{ path: "\/tmp\/x\.sock" \}/],
    [70000, /found 70000\./],
    [-1, /found -1\./],
    [1.5, /found 1\.5\./],
    [true, /found true\./],
    [null, /found null\./],
    [{ host: '127.0.0.1' }, /found port undefined, which is not an integer from 0 to 65535/],
    [{ port: '80' }, /found port "80", which is not an integer/],
    [{ port: 80, host: '' }, /found host "", which is not an address or host name/],
  ])('%j: listen() and bindDatagram() both refuse it', async (bad, message) => {
    const server = hello();
    await expect(listen(server, 'web', { fallback: bad as number })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'fallback', found: bad, message: expect.stringMatching(message) });
    expect(server.listening).toBe(false);
    await expect(bindDatagram('dns', { fallback: bad as number })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'fallback', message: expect.stringMatching(/^bindDatagram\(\): fallback must be a port number \(0–65535\) or \{ port, host\? \}/) });
  });

  it('stream only: a port and a path at once, an empty path, a removeStale that is not a boolean', async () => {
    for (const [bad, message] of [
      [{ port: 80, path: '/tmp/a.sock' }, /which has both a port and a path/],
      [{ path: '' }, /path "", which is not a file-system path/],
      [{ path: join(dir, 'x.sock'), removeStale: 'yes' }, /removeStale "yes", which is not a boolean/],
    ] as const) {
      await expect(listen(hello(), 'web', { fallback: bad as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) });
    }
  });

  it('datagram: a path is refused with the reason (Node binds UDP only)', async () => {
    await expect(bindDatagram('dns', { fallback: { path: join(dir, 'd.sock') } as never })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining("Node's dgram module binds UDP only, not unix datagram sockets"),
    });
  });

  it('keys it does not use are left alone (a spread configuration object), and so is removeStale beside a port', async () => {
    const config = { port: 0, host: '127.0.0.1', name: 'web', path: undefined, removeStale: false };
    const { server, addresses } = await listen(hello(), 'web', { fallback: { ...config } });
    expect(addresses[0]).toMatchObject({ address: '127.0.0.1' });
    await close(server);
    const socket = await bindDatagram('dns', { fallback: { ...config } });
    socket.close();
  });

  it('a backlog that Node would silently replace with 511', async () => {
    for (const bad of [1.5, '128', 2 ** 31]) {
      await expect(listen(hello(), 'web', { fallback: 0, backlog: bad as number })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'backlog', found: bad });
    }
  });

  it('also when the process is activated and the fallback is not used', async () => {
    const r = await reportOf('declarative.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web', FALLBACK_PORT: 'not-a-port' } });
    expect(r).toMatchObject({ ok: false, code: 'ERR_INVALID_ARGUMENT' });
  });
});
