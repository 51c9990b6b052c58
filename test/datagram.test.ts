// UDP through bindDatagram(): replies work on every family (the dgram type follows the fd),
// and every fd that is not a UDP socket is refused with ERR_LISTENER_MISMATCH.
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { reportOf, startActivated } from './helpers/activated.js';
import { udpRequest } from './helpers/clients.js';
import { closeAllSockets, makeSocket, type RawSocket } from './helpers/raw-sockets.js';
import { killAll, watch } from './helpers/watch.js';

const dir = mkdtempSync(join(tmpdir(), 'sa-datagram-'));
afterEach(async () => {
  await killAll();
  closeAllSockets();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(fixture: string, socket: RawSocket, args: string[]) {
  const child = watch(startActivated(fixture, { fds: [socket.fd], env: { LISTEN_FDNAMES: 'dns' }, args }));
  socket.close();
  return child;
}

describe('UDP echo through bindDatagram(name)', () => {
  it.each([
    { label: 'IPv4 127.0.0.1', family: 'inet', host: '127.0.0.1', v6only: true, type: 'udp4', client: 'udp4', to: '127.0.0.1' },
    { label: 'IPv6 ::1', family: 'inet6', host: '::1', v6only: true, type: 'udp6', client: 'udp6', to: '::1' },
    { label: 'dual-stack [::] from a udp4 client', family: 'inet6', host: '::', v6only: false, type: 'udp6', client: 'udp4', to: '127.0.0.1' },
    { label: 'dual-stack [::] from a udp6 client', family: 'inet6', host: '::', v6only: false, type: 'udp6', client: 'udp6', to: '::1' },
  ] as const)('$label: a $type socket, reply bytes intact', async (c) => {
    const socket = makeSocket({ family: c.family, type: 'dgram', host: c.host, v6only: c.v6only });
    const child = run('udp-echo.mjs', socket, ['dns']);
    const ready = await child.json('READY');
    expect(ready.type).toBe(c.type);
    expect(ready.address).toEqual({ address: c.host, family: c.family === 'inet' ? 'IPv4' : 'IPv6', port: socket.port });

    const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80, ...Buffer.from(`query ${c.label}`)]);
    const { reply, from } = await udpRequest(c.client, c.to, socket.port, bytes);
    expect(reply).toEqual(Buffer.concat([Buffer.from('echo:'), bytes]));
    expect(from.port).toBe(socket.port);
    expect(child.stdout).not.toMatch(/SEND_ERROR/);
  });
});

describe('a connected UDP fd', () => {
  it.each([
    { label: 'IPv4', type: 'udp4', host: '127.0.0.1', family: 'AF_INET' },
    { label: 'IPv6', type: 'udp6', host: '::1', family: 'AF_INET6' },
  ] as const)('$label: a connected dgram socket, remoteAddress() its peer, send() without an address reaches it', async (c) => {
    const peer = dgram.createSocket(c.type);
    peer.on('message', (msg, rinfo) => peer.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    await new Promise<void>((r) => peer.bind(0, c.host, r));
    try {
      // Connected before the service starts, as a unit's socket may be, and inherited as fd 3.
      const python = `import os, socket, sys
s = socket.socket(socket.${c.family}, socket.SOCK_DGRAM)
s.bind(('${c.host}', 0))
s.connect(('${c.host}', int(sys.argv[3])))
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='peer')
os.execv(sys.argv[1], [sys.argv[1], '--input-type=module', '-e', sys.argv[2]])`;
      const script = `import { bindDatagram } from 'socket-activation';
        const s = await bindDatagram('peer');
        let remote;
        try { remote = s.remoteAddress(); } catch (err) { remote = err.code; }
        const reply = new Promise((r) => s.once('message', (m, rinfo) => r({ text: m.toString(), port: rinfo.port })));
        s.send('hello');
        const local = s.address();
        console.log(JSON.stringify({ remote, reply: await reply, local }));
        s.close();`;
      const port = peer.address().port;
      const r = await reportOf<{ remote: unknown; reply: unknown; local: { address: string } }>('', { command: ['python3', '-c', python, process.execPath, script, String(port)] });
      expect(r.remote).toEqual({ address: c.host, family: c.type === 'udp4' ? 'IPv4' : 'IPv6', port });
      expect(r.reply).toEqual({ text: 'echo:hello', port });
      expect(r.local.address).toBe(c.host);
    } finally {
      peer.close();
    }
  });
});

describe('fds bindDatagram() and listen() refuse', () => {
  const attempt = async (socket: RawSocket, op: string) => {
    const child = run('attempt.mjs', socket, [op, 'dns']);
    const result = await child.json('RESULT');
    expect(await child.finish()).toEqual({ code: 0, signal: null });
    return result;
  };

  it('a TCP listener given to bindDatagram', async () => {
    const socket = makeSocket({ family: 'inet', host: '127.0.0.1' });
    const result = await attempt(socket, 'bindDatagram');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({
      code: 'ERR_LISTENER_MISMATCH',
      fd: 3,
      listenerName: 'dns',
      expected: { type: 'dgram' },
      found: { kind: 'socket', type: 'stream', family: 'inet', listening: true },
      // The message names the call that was made, not listener().
      message: expect.stringMatching(/^bindDatagram\("dns"\): fd 3 named "dns" is a TCP listener/),
    });
    expect(result.fds).toMatchObject([{ fd: 3, open: true, type: 'stream', listening: true }]);
  });

  it('a UDP socket given to an http server through listen(): an error, no crash, fd kept', async () => {
    const socket = makeSocket({ family: 'inet', type: 'dgram', host: '127.0.0.1' });
    const result = await attempt(socket, 'listen-http');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({
      code: 'ERR_LISTENER_MISMATCH',
      fd: 3,
      listenerName: 'dns',
      found: { kind: 'socket', type: 'dgram', family: 'inet', listening: false },
    });
    expect(result.serverListening).toBe(false);
    expect(result.fds).toMatchObject([{ fd: 3, open: true, type: 'dgram' }]);
  });

  it('an ICMP ping socket (inet, datagram, protocol icmp) given to bindDatagram: refused, not adopted as udp4', async () => {
    // Ping sockets need net.ipv4.ping_group_range to cover the group: set in a network
    // namespace of its own (root), where python makes one and execs node in its place.
    const script = `import { bindDatagram } from 'socket-activation';
      import http from 'node:http'; import { listen } from 'socket-activation';
      // listen() refuses it too, and must not send the reader to bindDatagram().
      const hint = await listen(http.createServer(), 'ping').then(() => 'served', (err) => err.message);
      try { await bindDatagram('ping'); console.log(JSON.stringify({ ok: true })); }
      catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message, protocol: err.found?.protocol, hint })); }`;
    const python = `import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
os.dup2(os.dup(s.fileno()), 3)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', LISTEN_FDNAMES='ping')
os.execv(sys.argv[1], [sys.argv[1], '--input-type=module', '-e', sys.argv[2]])`;
    const r = await reportOf<{ code: string; message: string; protocol: string; hint: string }>('', {
      command: ['unshare', '-n', 'sh', '-c', 'echo "0 0" > /proc/sys/net/ipv4/ping_group_range && exec "$@"', 'sh', 'python3', '-c', python, process.execPath, script],
    });
    expect(r).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', protocol: 'icmp', message: expect.stringMatching(/is an ICMP .*\(family inet, protocol icmp\); expected UDP/) });
    expect(r.hint).not.toContain('bindDatagram');
  });

  it.each([
    { label: 'path', spec: () => ({ path: join(dir, 'dgram.sock') }) },
    { label: 'abstract', spec: () => ({ abstract: `sa-datagram-${process.pid}` }) },
  ])('a unix datagram socket ($label) given to bindDatagram', async ({ spec }) => {
    const socket = makeSocket({ family: 'unix', type: 'dgram', ...spec() });
    const result = await attempt(socket, 'bindDatagram');
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({
      code: 'ERR_LISTENER_MISMATCH',
      fd: 3,
      listenerName: 'dns',
      expected: { type: 'dgram', family: ['inet', 'inet6'] },
      found: { kind: 'socket', type: 'dgram', family: 'unix' },
    });
    expect(result.fds).toMatchObject([{ fd: 3, open: true, type: 'dgram' }]);
  });
});
