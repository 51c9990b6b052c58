// Under Debian's real systemd-socket-activate (252): it binds, waits for the first
// connection or datagram, then execs the command in the same process (no --now), passing
// only a few variables (-E adds more). With -a it forks one child per connection and sets
// no LISTEN_FDNAMES. Clients therefore connect first and then wait for the answer.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixtures } from './helpers/activated.js';
import { get, udpRequest } from './helpers/clients.js';
import { freePort, freeUdpPort } from './helpers/raw-sockets.js';
import { killAll, start, type Watched } from './helpers/watch.js';

const SSA = '/usr/bin/systemd-socket-activate';
const hasSsa = existsSync(SSA);
const dir = mkdtempSync(join(tmpdir(), 'sa-ssa-'));
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let unique = 0;

/** systemd-socket-activate ARGS… -- node FIXTURE…, started once it listens on `count` fds. */
async function ssa(args: string[], fixture: string[], count = 1): Promise<Watched> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NODE_OPTIONS']) delete env[v];
  const w = start(SSA, [...args, '-E', 'SA_TEST=1', process.execPath, join(fixtures, fixture[0]!), ...fixture.slice(1)], { cwd: dir, env });
  await w.waitFor(new RegExp(`Listening on .* as ${2 + count}\\.`), { stream: 'stderr' });
  return w;
}

describe.skipIf(!hasSsa)('systemd-socket-activate', () => {
  it('TCP with --fdname=web: the first connection starts the server, which answers it', async () => {
    const port = await freePort();
    const w = await ssa(['-l', `127.0.0.1:${port}`, '--fdname=web'], ['serve.mjs', 'http', 'web']);
    expect(w.stdout).toBe(''); // nothing started before a client came
    const answer = await get({ host: '127.0.0.1', port });
    expect(answer.status).toBe(200);
    // Exec in place: the server is the process systemd-socket-activate was.
    expect(JSON.parse(answer.body)).toEqual({ kind: 'http', pid: w.pid, httpVersion: '1.1', encrypted: false });
    const ready = await w.json('READY');
    expect(ready).toMatchObject({ activated: true, addresses: [{ address: '127.0.0.1', port, family: 'IPv4' }], descriptors: [{ fd: 3, name: 'web' }] });
  });

  it('two -l with --fdname=a:b: both named, both served', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const w = await ssa(['-l', `127.0.0.1:${pa}`, '-l', `127.0.0.1:${pb}`, '--fdname=a:b'], ['serve.mjs', 'http', 'a,b'], 2);
    expect(JSON.parse((await get({ host: '127.0.0.1', port: pb })).body).pid).toBe(w.pid);
    expect(JSON.parse((await get({ host: '127.0.0.1', port: pa })).body).pid).toBe(w.pid);
    const ready = await w.json('READY');
    expect(ready.descriptors.map((d: { fd: number; name: string }) => [d.fd, d.name])).toEqual([
      [3, 'a'],
      [4, 'b'],
    ]);
    expect(ready.addresses).toEqual([
      { address: '127.0.0.1', port: pa, family: 'IPv4' },
      { address: '127.0.0.1', port: pb, family: 'IPv4' },
    ]);
  });

  it('-d: the first datagram starts a udp4 echo, which answers it', async () => {
    const port = await freeUdpPort();
    const w = await ssa(['-d', '-l', `127.0.0.1:${port}`, '--fdname=dns'], ['udp-echo.mjs', 'dns']);
    const bytes = Buffer.from([1, 2, 3, 0, 0xff, ...Buffer.from('ssa')]);
    const { reply } = await udpRequest('udp4', '127.0.0.1', port, bytes);
    expect(reply).toEqual(Buffer.concat([Buffer.from('echo:'), bytes]));
    expect(await w.json('READY')).toMatchObject({ pid: w.pid, type: 'udp4', address: { address: '127.0.0.1', port } });
  });

  it('-d -l PORT is dual-stack [::]: a udp6 socket answers a udp4 client', async () => {
    const port = await freeUdpPort('::');
    const w = await ssa(['-d', '-l', String(port), '--fdname=dns'], ['udp-echo.mjs', 'dns']);
    const bytes = Buffer.from('dual-stack');
    const { reply } = await udpRequest('udp4', '127.0.0.1', port, bytes);
    expect(reply).toEqual(Buffer.concat([Buffer.from('echo:'), bytes]));
    expect(await w.json('READY')).toMatchObject({ type: 'udp6', address: { address: '::', port } });
    expect(w.stdout).not.toMatch(/SEND_ERROR/);
  });

  it('-a: one child per connection, served through connections()', async () => {
    const port = await freePort();
    const w = await ssa(['-a', '-l', `127.0.0.1:${port}`], ['accept.mjs', 'connections']);
    for (const path of ['/first', '/second']) {
      const client = net.connect({ host: '127.0.0.1', port });
      await once(client, 'connect');
      const chunks: Buffer[] = [];
      client.on('data', (d: Buffer) => chunks.push(d));
      const ended = once(client, 'end');
      client.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      await ended;
      const [head, body] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      const answer = JSON.parse(body!);
      expect(answer).toMatchObject({ url: path, remotePort: client.localPort, localPort: port });
      // A child of systemd-socket-activate, not the listener process itself.
      expect(answer.pid).not.toBe(w.pid);
    }
    const readies = [...w.stdout.matchAll(/^READY (.*)$/gm)].map((m) => JSON.parse(m[1]!));
    expect(readies).toHaveLength(2);
    for (const r of readies) expect(r.count).toBe(1);
  });

  it('-a with listener(): the fd is a connection named "unknown" (no LISTEN_FDNAMES)', async () => {
    const port = await freePort();
    const w = await ssa(['-a', '-l', `127.0.0.1:${port}`], ['report.mjs']);
    const client = net.connect({ host: '127.0.0.1', port });
    await once(client, 'connect');
    const clientPort = client.localPort;
    const m = await w.waitFor(/^(\{.*\})$/m);
    client.destroy();
    const report = JSON.parse(m[1]!);
    expect(report.ok).toBe(true);
    expect(report.result.descriptors).toMatchObject([
      { fd: 3, name: 'unknown', type: 'stream', family: 'inet', listening: false, local: { address: '127.0.0.1', port }, remote: { address: '127.0.0.1', port: clientPort } },
    ]);
  });

  it('a unix socket path', async () => {
    const path = join(dir, `web-${++unique}.sock`);
    const w = await ssa(['-l', path, '--fdname=web'], ['serve.mjs', 'http', 'web']);
    const answer = await get({ path });
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'http', pid: w.pid });
    expect((await w.json('READY')).addresses).toEqual([{ path, raw: { type: 'Buffer', data: [...Buffer.from(path)] } }]);
  });

  it('an @abstract socket', async () => {
    const abstract = `sa-ssa-${process.pid}-${++unique}`;
    const w = await ssa(['-l', `@${abstract}`, '--fdname=web'], ['serve.mjs', 'http', 'web']);
    const answer = await get({ abstract });
    expect(JSON.parse(answer.body)).toMatchObject({ kind: 'http', pid: w.pid });
    expect((await w.json('READY')).addresses).toMatchObject([{ abstract }]);
  });
});
