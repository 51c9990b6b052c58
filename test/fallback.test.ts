// Development fallback: only when the process was not activated at all. This test process
// itself is not activated, so it runs here directly.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { activation, bindDatagram, listen } from '../src/index.js';
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

  it('binds a unix path, and Node removes the file it created on close', async () => {
    const path = join(dir, 'app.sock');
    const { server, addresses } = await listen(hello(), 'web', { fallback: { path } });
    expect(addresses).toEqual([{ path }]);
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

  it('activated but the name is missing: an error, never the fallback', async () => {
    const r = await reportOf('declarative.mjs', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'other', FALLBACK_PORT: '0' } });
    expect(r).toEqual({ ok: false, code: 'ERR_LISTENER_NOT_FOUND', listenerName: 'web' });
  });
});
