// The declarative form: one call sets up every named listener; result types follow the spec.
import dgram from 'node:dgram';
import { once } from 'node:events';
import type http from 'node:http';
import net from 'node:net';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { activate, type Listening, type StreamListenerDescriptor } from '../src/index.js';
import { finish, reportOf, startActivated, waitForLine } from './helpers/activated.js';
import { native } from '../src/native.js';
import { OPEN_FDS, runInline } from './helpers/inline.js';
import { closeAll, inetSocket } from './helpers/sockets.js';

afterAll(closeAll);

async function udpRoundTrip(port: number, text: string): Promise<string> {
  const client = dgram.createSocket('udp4');
  client.send(text, port, '127.0.0.1');
  const [msg] = (await once(client, 'message')) as [Buffer];
  client.close();
  return msg.toString();
}

describe('activate()', () => {
  it('types follow the spec object', () => {
    type Result = Awaited<ReturnType<typeof activate<{ web: { server: http.Server }; dns: { datagram: true }; admin: { expect: { type: 'stream'; listening: true } }; log: { fifo: true } }>>>;
    expectTypeOf<Result['web']>().toEqualTypeOf<Listening<http.Server>>();
    expectTypeOf<Result['dns']>().toEqualTypeOf<dgram.Socket>();
    expectTypeOf<Result['log']>().toEqualTypeOf<net.Socket>();
    expectTypeOf<Result['admin'][number]>().toMatchTypeOf<StreamListenerDescriptor>();
  });

  it('serves http, echoes udp and returns checked descriptors', async () => {
    const web = inetSocket();
    const dns = inetSocket({ type: 'dgram' });
    const admin = inetSocket();
    const child = startActivated('declarative.mjs', { fds: [web.fd, dns.fd, admin.fd], env: { LISTEN_FDNAMES: 'web:dns:admin' } });
    try {
      const [line] = await waitForLine(child, /^\{.*\}$/m);
      expect(JSON.parse(line)).toEqual({
        ok: true,
        activated: true,
        web: [`127.0.0.1:${web.port}`],
        dns: { address: '127.0.0.1', family: 'IPv4', port: dns.port },
        admin: [5],
      });
      const body = await fetch(`http://127.0.0.1:${web.port}/`).then((r) => r.text());
      expect(body).toBe('web ok');
      expect(await udpRoundTrip(dns.port, 'ping')).toBe('echo:ping');
    } finally {
      child.kill('SIGTERM');
      await finish(child);
    }
  });

  it('a missing name fails the whole call with its code', async () => {
    const r = await reportOf('declarative.mjs', { fds: [inetSocket().fd, inetSocket({ type: 'dgram' }).fd], env: { LISTEN_FDNAMES: 'web:dns' } });
    expect(r).toEqual({ ok: false, code: 'ERR_LISTENER_NOT_FOUND', listenerName: 'admin' });
  });

  it('when an entry fails, what was set up before it is closed again, a FIFO stream included', async () => {
    const [readEnd, writeEnd] = native().pipe() as [number, number];
    try {
      const r = await runInline(
        `${OPEN_FDS}
        import net from 'node:net';
        import { activate } from 'socket-activation';
        const before = openFds();
        let code;
        try {
          await activate({ log: { fifo: true }, web: { server: net.createServer() }, missing: { server: net.createServer() } });
        } catch (err) {
          code = err.code ?? String(err);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
        console.log(JSON.stringify({ code, before, after: openFds() }));`,
        { fds: [readEnd, inetSocket().fd], env: { LISTEN_FDNAMES: 'log:web' } },
      );
      expect(r.code).toBe('ERR_LISTENER_NOT_FOUND');
      expect(r.after).toEqual(r.before);
    } finally {
      native().close(readEnd);
      native().close(writeEnd);
    }
  });

  it('not activated: the fallbacks are used, a spec without one says why', async () => {
    const r = await reportOf('declarative.mjs', { listenPid: 'none' });
    expect(r).toEqual({ ok: false, code: 'ERR_NOT_ACTIVATED', listenerName: 'web' });
  });
});

// The kind of an entry is read from its keys: a misspelt key must not make it another kind.
describe('activate() with a spec of the wrong shape', () => {
  const server = net.createServer();
  it.each([
    ['undefined', undefined, 'spec', /^activate\(\): the spec must be an object with one entry per listener .*; found undefined\.$/],
    ['a string', 'web', 'spec', /; found "web"\.$/],
    ['a null entry', { web: null }, 'spec.web', /^activate\(\): spec\.web must be one of \{ server, fallback\?, backlog\?, name\? \}, .*; found null\.$/],
    ['{ sever }', { web: { sever: server } }, 'spec.web', /^activate\(\): spec\.web has the key "sever", which an entry without server, datagram or fifo \(the checked descriptors\) does not take; it takes expect, name\.$/],
    ['{ server, fallbak }', { web: { server, fallbak: 8080 } }, 'spec.web', /spec\.web has the key "fallbak", which a server entry does not take; it takes server, fallback, backlog, name\.$/],
    ['{ server, datagram }', { web: { server, datagram: true } }, 'spec.web', /spec\.web has the key "datagram", which a server entry does not take/],
    ['{ datagram: false }', { dns: { datagram: false, fallback: 5353 } }, 'spec.dns', /^activate\(\): spec\.dns\.datagram must be true; found false\.$/],
  ])('%s: ERR_INVALID_ARGUMENT naming the entry, nothing set up', async (_label, spec, argument, message) => {
    await expect(activate(spec as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument, message: expect.stringMatching(message) });
    expect(server.listening).toBe(false);
  });
});
