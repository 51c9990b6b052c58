// keepConnection() against a stand-in notify socket: what is sent, that giving up our fd sends
// nothing on the wire, and the connections it refuses to move.
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { keepConnection, keptConnections, storeRemove } from '../src/index.js';
import { storedByThisProcess } from '../src/fd-store.js';
import { runInline } from './helpers/inline.js';
import { startReceiver } from './helpers/notify-receiver.js';
import { killAll } from './helpers/watch.js';

const cleanup: (() => void)[] = [];
afterEach(async () => {
  delete process.env.NOTIFY_SOCKET;
  delete process.env.FDSTORE;
  for (const c of cleanup.splice(0)) c();
  await killAll();
});

/** A server and a connected client; resolves the server side of the connection. */
async function pair(): Promise<{ server: net.Server; client: net.Socket; accepted: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = once(server, 'connection');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const [socket] = (await accepted) as [net.Socket];
  await once(client, 'connect').catch(() => undefined);
  cleanup.push(() => {
    client.destroy();
    socket.destroy();
    server.close();
  });
  return { server, client, accepted: socket };
}

describe('keepConnection', () => {
  it('stores the connection under kept.<pid>.<n>, flushes unsent writes first, and sends no FIN when giving up the fd', async () => {
    const r = await startReceiver({ keepFds: true });
    process.env.NOTIFY_SOCKET = r.address;
    const { client, accepted } = await pair();
    let received = '';
    let ended = false;
    client.setEncoding('utf8').on('data', (d: string) => (received += d));
    client.on('end', () => (ended = true));
    accepted.write('last words\n');
    await expect(keepConnection(accepted)).resolves.toBe(true);
    expect(accepted.destroyed).toBe(true);
    const [m] = await r.waitFor(1);
    expect(m!.text).toMatch(new RegExp(`^FDSTORE=1\\nFDNAME=kept\\.${process.pid}\\.\\d+$`));
    expect(m!.fds).toEqual([expect.objectContaining({ mode: 'socket', listening: false, type: 1 })]);
    await sleep(300);
    // The receiver holds the connection now: the client got our bytes and no end.
    expect(received).toBe('last words\n');
    expect(ended).toBe(false);
  });

  it('an idle() that is not a function is refused; one that throws rejects with its error: either way the socket reads on', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    for (const idle of ['yes', () => { throw new Error('boom in idle()'); }]) {
      const { client, accepted } = await pair();
      const got: string[] = [];
      accepted.setEncoding('utf8').on('data', (d: string) => got.push(d));
      client.write('one');
      await sleep(100);
      const refused = keepConnection(accepted, { idle: idle as () => boolean });
      await (typeof idle === 'function' ? expect(refused).rejects.toThrow('boom in idle()') : expect(refused).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'idle' }));
      client.write('two');
      await sleep(100);
      expect(got.join('')).toBe('onetwo');
      client.destroy();
    }
    expect(r.messages()).toEqual([]);
  });

  it('keptConnections(): a prefix that is empty (every inherited connection) or not a string is ERR_INVALID_ARGUMENT; null options are none', async () => {
    for (const prefix of ['', 5]) {
      await expect(keptConnections({ prefix: prefix as string })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'prefix' });
    }
    await expect(keptConnections(null)).resolves.toEqual([]);
  });

  it('a custom name is checked (ERR_FDNAME) before anything happens to the socket', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    const { accepted } = await pair();
    await expect(keepConnection(accepted, { name: 'bad:name' })).rejects.toMatchObject({ code: 'ERR_FDNAME' });
    expect(accepted.destroyed).toBe(false);
  });

  it('no manager: resolves false and the socket keeps working', async () => {
    delete process.env.NOTIFY_SOCKET;
    const { client, accepted } = await pair();
    await expect(keepConnection(accepted)).resolves.toBe(false);
    accepted.setEncoding('utf8');
    client.write('still here');
    const [data] = await once(accepted, 'data');
    expect(data).toBe('still here');
  });

  it('bytes read by Node but not consumed: ERR_NOT_MOVABLE, socket left working', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    const { client, accepted } = await pair();
    accepted.pause();
    client.write('unread');
    await sleep(100);
    expect(accepted.readableLength).toBeGreaterThan(0);
    await expect(keepConnection(accepted)).rejects.toMatchObject({ code: 'ERR_NOT_MOVABLE' });
    expect(accepted.destroyed).toBe(false);
    expect(r.messages()).toEqual([]);
  });

  it('a TLS socket: ERR_NOT_MOVABLE; not a socket: ERR_INVALID_ARGUMENT', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    const { accepted } = await pair();
    await expect(keepConnection(new tls.TLSSocket(accepted))).rejects.toMatchObject({ code: 'ERR_NOT_MOVABLE' });
    await expect(keepConnection({} as net.Socket)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('$FDSTORE announced: past the room left, ERR_FD_STORE_FULL and the socket reads on; two kept at once cannot both take the last place; a removal makes room again', async () => {
    const r = await startReceiver({ keepFds: true });
    process.env.NOTIFY_SOCKET = r.address;
    // Earlier tests of this file stored fds too: they count, as systemd counts them.
    process.env.FDSTORE = String(storedByThisProcess() + 2);
    const pairs = await Promise.all([pair(), pair(), pair()]);
    const outcomes = await Promise.allSettled(pairs.map(({ accepted }, i) => keepConnection(accepted, { name: `kept.room.${i}` })));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    const refused = pairs[2]!;
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({
      code: 'ERR_FD_STORE_FULL',
      fd: (refused.accepted as unknown as { _handle: { fd: number } })._handle.fd,
      message: expect.stringMatching(/fd store is full \(\$FDSTORE=\d+, and \d+ fds are in it.*End it by its protocol instead, or raise FileDescriptorStoreMax=/),
    });
    expect(refused.accepted.destroyed).toBe(false);
    refused.accepted.setEncoding('utf8');
    refused.client.write('still here');
    expect((await once(refused.accepted, 'data'))[0]).toBe('still here');
    expect((await r.waitFor(2)).map((m) => m.text)).toEqual(['FDSTORE=1\nFDNAME=kept.room.0', 'FDSTORE=1\nFDNAME=kept.room.1']);

    await storeRemove('kept.room.0');
    await expect(keepConnection(refused.accepted, { name: 'kept.room.2' })).resolves.toBe(true);
  });

  it('$FDSTORE: kept connections inherited and not taken back count as in the store; keptConnections() frees their places', async () => {
    const r = await startReceiver({ keepFds: true });
    const inherited = await Promise.all([pair(), pair()]);
    const fds = inherited.map(({ accepted }) => (accepted as unknown as { _handle: { fd: number } })._handle.fd);
    const report = await runInline<{ before: string[]; taken: number; after: string }>(
      `
import { once } from 'node:events';
import net from 'node:net';
import { keepConnection, keptConnections } from 'socket-activation';
const server = net.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const own = [];
for (let i = 0; i < 2; i++) {
  net.connect(server.address().port, '127.0.0.1');
  own.push((await once(server, 'connection'))[0]);
}
const outcome = (socket) => keepConnection(socket).then(String, (err) => err.code);
const before = [await outcome(own[0]), await outcome(own[1])];
const taken = (await keptConnections()).length;
const after = await outcome(own[1]);
console.log(JSON.stringify({ before, taken, after }));
process.exit(0);
`,
      { fds, env: { LISTEN_FDNAMES: 'kept.a:kept.b', NOTIFY_SOCKET: r.address, FDSTORE: '3' } },
    );
    expect(report).toEqual({ before: ['true', 'ERR_FD_STORE_FULL'], taken: 2, after: 'true' });
  });

  it('a socket never connected, or closed: ERR_INVALID_ARGUMENT saying there is no connection to keep (not "store it once it is listening")', async () => {
    const r = await startReceiver();
    process.env.NOTIFY_SOCKET = r.address;
    const { accepted } = await pair();
    accepted.destroy();
    for (const socket of [new net.Socket(), accepted]) {
      await expect(keepConnection(socket)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
        message: 'keepConnection(): the socket has no open fd (not connected yet, or already closed): there is no connection to keep.',
      });
    }
    expect(r.messages()).toEqual([]);
  });
});
