// LISTEN_* handling inside real activated processes: every rule and bad value, the
// not-activated reasons, CLOEXEC as the kernel reports it, and one registry per process.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { ConnectionDescriptor, DatagramDescriptor, Descriptor, FifoDescriptor, listener, SocketDescriptor, StreamListenerDescriptor } from '../src/index.js';
import { cli, finish, fixtures, reportOf, root, runActivated, startActivated, waitForLine } from './helpers/activated.js';
import { bareSocket, closeAll, closeSocket, inetSocket, unixSocket } from './helpers/sockets.js';
import { runInline } from './helpers/inline.js';
import { native } from '../src/native.js';

afterAll(closeAll);

describe('activated', () => {
  it('the result type follows the expectation: its kind, and the type and listening state asked for', () => {
    type Of<E extends object> = ReturnType<typeof listener<E>>;
    expectTypeOf<Of<{ type: 'dgram' }>>().toMatchTypeOf<DatagramDescriptor>();
    expectTypeOf<Of<{ kind: 'socket'; type: 'dgram' }>>().toMatchTypeOf<DatagramDescriptor>();
    expectTypeOf<Of<{ kind: 'socket'; type: 'dgram' }>['type']>().toEqualTypeOf<'dgram'>();
    expectTypeOf<Of<{ listening: true }>>().toMatchTypeOf<StreamListenerDescriptor>();
    expectTypeOf<Of<{ listening: true; type: 'stream' }>['type']>().toEqualTypeOf<'stream'>();
    expectTypeOf<Of<{ kind: 'socket'; listening: true }>['listening']>().toEqualTypeOf<true>();
    expectTypeOf<Of<{ type: 'stream'; listening: false }>>().toMatchTypeOf<ConnectionDescriptor>();
    expectTypeOf<Of<{ listening: false }>['kind']>().toEqualTypeOf<'socket'>();
    expectTypeOf<Of<{ listening: false }>['listening']>().toEqualTypeOf<false>();
    expectTypeOf<Of<{ port: 80 }>>().toMatchTypeOf<SocketDescriptor>();
    expectTypeOf<Of<{ kind: 'fifo' }>>().toMatchTypeOf<FifoDescriptor>();
    expectTypeOf<Of<{ kind: 'fifo' }>['kind']>().toEqualTypeOf<'fifo'>();
    expectTypeOf<Of<Record<never, never>>['kind']>().toEqualTypeOf<Descriptor['kind']>();
    expectTypeOf<Of<{ listening: true }>['name']>().toEqualTypeOf<string>();
  });

  it('names from LISTEN_FDNAMES, in fd order, with descriptors', async () => {
    const a = inetSocket();
    const b = inetSocket({ type: 'dgram' });
    const r = await reportOf('report.mjs', { fds: [a.fd, b.fd], env: { LISTEN_FDNAMES: 'web:dns' } });
    expect(r.ok).toBe(true);
    const [web, dns] = r.result.descriptors;
    expect(web).toMatchObject({ fd: 3, name: 'web', kind: 'socket', type: 'stream', family: 'inet', protocol: 'tcp', listening: true, cloexec: true, backlog: 16 });
    expect(web.local).toEqual({ address: '127.0.0.1', port: a.port, family: 'IPv4' });
    expect(dns).toMatchObject({ fd: 4, name: 'dns', type: 'dgram', protocol: 'udp', listening: false });
  });
  it('absent LISTEN_FDNAMES: every name is "unknown"; empty fields are kept', async () => {
    const fds = [inetSocket().fd, inetSocket().fd, inetSocket().fd];
    const unnamed = await reportOf('report.mjs', { fds });
    expect(unnamed.result.descriptors.map((d: { name: string }) => d.name)).toEqual(['unknown', 'unknown', 'unknown']);
    const empty = await reportOf('report.mjs', { fds, env: { LISTEN_FDNAMES: 'a::c' } });
    expect(empty.result.descriptors.map((d: { name: string }) => d.name)).toEqual(['a', '', 'c']);
  });
  it('a shared name: listener() is ambiguous, listenersNamed() returns all', async () => {
    const fds = [inetSocket().fd, inetSocket().fd];
    const env = { LISTEN_FDNAMES: 'app.socket:app.socket' };
    const one = await reportOf('report.mjs', { fds, env, args: ['listener', 'app.socket'] });
    expect(one.error).toMatchObject({ code: 'ERR_LISTENER_AMBIGUOUS', listenerName: 'app.socket', found: [3, 4] });
    expect(one.error.message).toMatch(/Serve them all with listen\(server, name\), or take them one by one from listenersNamed\(name\), or give each/);
    const all = await reportOf('report.mjs', { fds, env, args: ['named', 'app.socket'] });
    expect(all.result.map((d: { fd: number }) => d.fd)).toEqual([3, 4]);
    // listen() cannot serve UDP sockets: the advice names the call that takes each one.
    const udp = await reportOf('report.mjs', { fds: [inetSocket({ type: 'dgram' }).fd, inetSocket({ type: 'dgram' }).fd], env: { LISTEN_FDNAMES: 'dns:dns' }, args: ['listener', 'dns'] });
    expect(udp.error).toMatchObject({ code: 'ERR_LISTENER_AMBIGUOUS', found: [3, 4] });
    expect(udp.error.message).toMatch(/Take them one by one: pass each descriptor of listenersNamed\(name\) to bindDatagram\(\), or give each/);
  });
  it('missing and mismatched listeners have their own codes, with expected vs found', async () => {
    const fds = [inetSocket({ type: 'dgram' }).fd];
    const env = { LISTEN_FDNAMES: 'dns' };
    const missing = await reportOf('report.mjs', { fds, env, args: ['listener', 'web'] });
    expect(missing.error).toMatchObject({ code: 'ERR_LISTENER_NOT_FOUND', listenerName: 'web', found: ['dns'] });
    const wrong = await reportOf('report.mjs', { fds, env, args: ['listener', 'dns', '{"type":"stream","listening":true}'] });
    expect(wrong.error).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd: 3, listenerName: 'dns', expected: { type: 'stream', listening: true } });
    expect(wrong.error.found).toMatchObject({ type: 'dgram', protocol: 'udp' });
    // The address once, an article that fits, and the call that takes a UDP socket.
    expect(wrong.error.message).toBe(
      `listener "dns": fd 3 named "dns" is a UDP socket on 127.0.0.1:${wrong.error.found.local.port} (type dgram, family inet, protocol udp); expected type stream, listening. ` +
        'Take it with bindDatagram() instead, or check the Listen…= line of the socket unit (or the launcher address) that produces this name.',
    );
    const right = await reportOf('report.mjs', { fds, env, args: ['listener', 'dns', '{"type":"dgram","family":"inet","protocol":"udp"}'] });
    expect(right.result).toMatchObject({ fd: 3, name: 'dns' });
  });
  it('a unix seqpacket listener (ListenSequentialPacket=): every call refuses it saying Node cannot serve it, none sends the reader to listen()', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-seqpacket-'));
    const path = join(dir, 'seq.sock');
    const fds = [unixSocket(path, 'seqpacket')];
    try {
      for (const op of ['listen-net', 'bindDatagram', 'fifo', 'connection']) {
        const r = await runActivated('attempt.mjs', { fds, env: { LISTEN_FDNAMES: 'seq' }, args: [op, 'seq'] });
        const result = JSON.parse(/^RESULT (.*)$/m.exec(r.stdout)?.[1] ?? 'null');
        expect(result?.error, `${op}: ${r.stdout}${r.stderr}`).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd: 3, listenerName: 'seq' });
        expect(result.error.message, op).toContain(`is a unix seqpacket listener on ${path}`);
        expect(result.error.message, op).toContain('Node cannot serve a unix seqpacket socket');
        expect(result.error.message, op).toContain('hand fd 3 to a native module that can');
        expect(result.error.message, op).not.toMatch(/Take it with|instead|use listen/);
        expect(result.fds, op).toMatchObject([{ fd: 3, open: true, type: 'seqpacket', listening: true }]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('an O_PATH fd (of a FIFO, of a unix socket file): inherited as kind "path"; every call refuses it naming the fd, what it expected and what it found', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-opath-'));
    try {
      const path = join(dir, 'log');
      execFileSync('mkfifo', [path]);
      unixSocket(join(dir, 'web.sock'));
      // Linux's O_PATH, which fs.constants does not export.
      const fds = [openSync(path, 0o10000000), openSync(join(dir, 'web.sock'), 0o10000000)];
      try {
        const env = { LISTEN_FDNAMES: 'log:web' };
        const listed = await reportOf('report.mjs', { fds, env });
        expect(listed.result.descriptors).toMatchObject([
          { fd: 3, name: 'log', kind: 'path', fileKind: 'fifo', cloexec: true },
          { fd: 4, name: 'web', kind: 'path', fileKind: 'socket', cloexec: true },
        ]);
        for (const [op, name, fd, expected] of [
          ['fifo', 'log', 3, { kind: 'fifo' }],
          ['listen-net', 'web', 4, { kind: 'socket' }],
          ['bindDatagram', 'web', 4, { type: 'dgram' }],
          ['connection', 'web', 4, { type: 'stream', listening: false, connected: true }],
        ] as const) {
          const r = await runActivated('attempt.mjs', { fds, env, args: [op, name] });
          const result = JSON.parse(/^RESULT (.*)$/m.exec(r.stdout)?.[1] ?? 'null');
          expect(result?.error, `${op}: ${r.stdout}${r.stderr}`).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd, listenerName: name, expected, found: { kind: 'path' } });
          expect(result.error.message, op).toContain(`fd ${fd} named "${name}" is an O_PATH descriptor of a ${name === 'log' ? 'FIFO' : 'socket file'}`);
          expect(result.error.message, op).toContain(`fd ${fd} was opened with O_PATH`);
          expect(result.fds, op).toMatchObject([{ fd: 3, open: true, kind: 'path' }, { fd: 4, open: true, kind: 'path' }]);
        }
      } finally {
        fds.forEach((fd) => closeSync(fd));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('messages escape the control characters of a unix name and keep the zone of a link-local address', async () => {
    const name = `sa-control-${process.pid}\nline\u0000zero`;
    const abstract = await runActivated('attempt.mjs', { fds: [unixSocket(Buffer.from(`\0${name}`))], env: { LISTEN_FDNAMES: 'web' }, args: ['bindDatagram', 'web'] });
    const refused = JSON.parse(/^RESULT (.*)$/m.exec(abstract.stdout)?.[1] ?? 'null');
    expect(refused?.error, abstract.stdout + abstract.stderr).toMatchObject({ code: 'ERR_LISTENER_MISMATCH', fd: 3 });
    expect(refused.error.message).toContain(`is a unix stream listener on @sa-control-${process.pid}\\nline\\x00zero (type stream`);
    expect(refused.error.message).not.toMatch(/[\n\u0000]/);

    const dir = mkdtempSync(join(tmpdir(), 'sa-link-local-'));
    try {
      const exe = join(dir, 'link-local');
      execFileSync('cc', ['-o', exe, join(fixtures, 'link-local.c')]);
      const env = { LISTEN_FDS: '1', LISTEN_FDNAMES: 'dns' };
      const linkLocal = await runActivated('', { env, command: [exe, process.execPath, join(fixtures, 'attempt.mjs'), 'listen-net', 'dns'] });
      const wrong = JSON.parse(/^RESULT (.*)$/m.exec(linkLocal.stdout)?.[1] ?? 'null');
      expect(wrong?.error?.message, linkLocal.stdout + linkLocal.stderr).toMatch(/fd 3 named "dns" is a UDP socket on \[fe80::1%lo\]:\d+ \(type dgram/);
      // An expectation without a zone asks for the address on any interface.
      const same = await runActivated('', { env, command: [exe, process.execPath, join(fixtures, 'report.mjs'), 'listener', 'dns', '{"address":"fe80::1"}'] });
      expect(JSON.parse(same.stdout)).toMatchObject({ ok: true, result: { local: { address: 'fe80::1%lo' } } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('expectations: port, address, path, abstract, and inet accepting a dual-stack [::] socket', async () => {
    const tcp = inetSocket();
    const dual = inetSocket({ host: '::', v6only: false });
    const v6only = inetSocket({ host: '::', v6only: true });
    const dir = mkdtempSync(join(tmpdir(), 'sa-expect-'));
    const path = join(dir, 's.sock');
    // Abstract names are shared by every process on the host (other test runs too): one of our own.
    const abstract = `sa-expect-abstract-${process.pid}`;
    const fds = [tcp.fd, dual.fd, v6only.fd, unixSocket(path), unixSocket(Buffer.from(`\0${abstract}`))];
    const env = { LISTEN_FDNAMES: 'tcp:dual:v6only:path:abstract' };
    const check = (name: string, expect: object) => reportOf('report.mjs', { fds, env, args: ['listener', name, JSON.stringify(expect)] });
    try {
      expect((await check('tcp', { port: tcp.port, address: '127.0.0.1', family: 'inet' })).ok).toBe(true);
      const otherPort = (await check('tcp', { port: tcp.port + 1 })).error;
      expect(otherPort.code).toBe('ERR_LISTENER_MISMATCH');
      // The right kind at another address: no other call to suggest.
      expect(otherPort.message).toMatch(new RegExp(`is a TCP listener on 127\\.0\\.0\\.1:${tcp.port} \\(type stream, family inet, protocol tcp\\); expected port ${tcp.port + 1}\\. Check the Listen`));
      expect((await check('dual', { family: 'inet', port: dual.port })).ok).toBe(true);
      expect((await check('v6only', { family: 'inet' })).error.code).toBe('ERR_LISTENER_MISMATCH');
      expect((await check('v6only', { family: 'inet6' })).result).toMatchObject({ v6only: true });
      expect((await check('path', { path, family: 'unix' })).ok).toBe(true);
      expect((await check('path', { path: `${path}.other` })).error.code).toBe('ERR_LISTENER_MISMATCH');
      expect((await check('abstract', { abstract })).result.local).toMatchObject({ abstract });
      expect((await check('abstract', { kind: 'fifo' })).error.code).toBe('ERR_LISTENER_MISMATCH');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('bad environments give a clear error, never a crash', () => {
  it.each(['abc', '-1', '0', '1.5', ' 2', '99999999999'])('LISTEN_FDS=%j → ERR_LISTEN_FDS', async (value) => {
    const r = await runActivated('probe.mjs', { args: ['afterError'], env: { LISTEN_FDS: value } });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.first).toMatchObject({ ok: false, code: 'ERR_LISTEN_FDS', fields: { variable: 'LISTEN_FDS', found: value } });
    expect(out.second.code).toBe('ERR_LISTEN_FDS');
    expect(out.envAfter).toEqual([]);
  });
  it('LISTEN_PID=abc → ERR_LISTEN_PID', async () => {
    const r = await reportOf('report.mjs', { listenPid: 'none', env: { LISTEN_PID: 'abc', LISTEN_FDS: '1' } });
    expect(r.error).toMatchObject({ code: 'ERR_LISTEN_PID', variable: 'LISTEN_PID' });
  });
  it('LISTEN_FDS larger than the fds passed: Node\'s own fds are named and left alone', async () => {
    const r = await runActivated('probe.mjs', { args: ['afterError'], fds: [inetSocket().fd], env: { LISTEN_FDS: '4' } });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.first).toMatchObject({ ok: false, code: 'ERR_LISTEN_FDS_NOT_INHERITED', fields: { fd: 4, expected: 4, found: 1 } });
    expect(out.second.code).toBe('ERR_LISTEN_FDS_NOT_INHERITED');
    expect(out.stillWorks).toBe(true);
    // the one fd that was passed is still made close-on-exec, as sd_listen_fds does
    expect(out.cloexec3).toBe(true);
  });
  it('both ends of a pipe passed (a service\'s own pipe, e.g. from the fd store): inherited FIFOs, not taken for one of Node\'s own pipes', async () => {
    const ends = native().pipe() as [number, number];
    try {
      const r = await reportOf('report.mjs', { fds: ends, env: { LISTEN_FDNAMES: 'state-r:state-w' } });
      expect(r).toMatchObject({ ok: true, result: { activated: true, descriptors: [{ fd: 3, name: 'state-r', kind: 'fifo' }, { fd: 4, name: 'state-w', kind: 'fifo' }] } });
    } finally {
      ends.forEach((fd) => native().close(fd));
    }
  });
  it('a worker thread that reads the activation first, then exits: the process lives on and the main thread sees the same', async () => {
    const r = await runActivated('worker-first.mjs', { fds: [inetSocket().fd, inetSocket().fd], env: { LISTEN_FDNAMES: 'web:admin' } });
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(JSON.parse(r.stdout)).toEqual({ worker: ['web', 'admin'], code: 0, main: ['web', 'admin'] });
  });
  it('LISTEN_FDS=2147483644 (the largest libsystemd takes) without LISTEN_FDNAMES: an error at the first fd not passed, no out-of-memory abort', async () => {
    const r = await runActivated('probe.mjs', { args: ['afterError'], fds: [inetSocket().fd], env: { LISTEN_FDS: '2147483644' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).first).toMatchObject({ ok: false, code: 'ERR_LISTEN_FDS_NOT_INHERITED', fields: { fd: 4, found: 1 } });
  });
  it.each(['2', '6'])('LISTEN_FDS=%s with no fd passed at all (Node\'s epoll at fd 3): error, no abort; Node\'s pipes named as its own, even with both ends claimed', async (count) => {
    const r = await runActivated('probe.mjs', { args: ['afterError'], env: { LISTEN_FDS: count } });
    expect(r.code).toBe(0);
    const { first } = JSON.parse(r.stdout);
    expect(first).toMatchObject({ code: 'ERR_LISTEN_FDS_NOT_INHERITED', fields: { fd: 3, found: 0 } });
    const reported = await reportOf('report.mjs', { env: { LISTEN_FDS: count } });
    expect(reported.error.message).not.toContain('is a FIFO');
  });
  it('more or fewer names than fds → ERR_LISTEN_FDNAMES, CLOEXEC still set', async () => {
    const fds = [inetSocket().fd, inetSocket().fd];
    for (const names of ['a', 'a:b:c']) {
      const r = await runActivated('probe.mjs', { args: ['afterError'], fds, env: { LISTEN_FDNAMES: names } });
      const out = JSON.parse(r.stdout);
      expect(out.first).toMatchObject({ code: 'ERR_LISTEN_FDNAMES', fields: { expected: 2, found: names.split(':').length } });
      expect(out.cloexec3).toBe(true);
      expect(out.envAfter).toEqual([]);
    }
  });
  it('LISTEN_PIDFDID: garbage is an error; a wrong id is "pid reused"; our own id is accepted', async () => {
    const fds = [inetSocket().fd];
    const garbage = await reportOf('report.mjs', { fds, env: { LISTEN_PIDFDID: 'x1' } });
    expect(garbage.error).toMatchObject({ code: 'ERR_LISTEN_PIDFDID', variable: 'LISTEN_PIDFDID' });
    const own = await reportOf('probe.mjs', { fds, args: ['pidfdMatch'] });
    expect(own.result).toMatchObject({ ok: true, value: { activated: true } });
    const wrong = await reportOf('report.mjs', { fds, env: { LISTEN_PIDFDID: '1' } });
    // pidfs (Linux >= 6.9) makes the id meaningful; older kernels skip the check as libsystemd does
    if (own.pidfs) expect(wrong.result).toMatchObject({ activated: false, reason: 'pidfd-mismatch' });
    else expect(wrong.result).toMatchObject({ activated: true });
  });
});

/** Asks listen() and bindDatagram() with a fallback each; prints what each did ('bound', or the error's code and reason). */
const FALLBACK_PROBE = `import net from 'node:net';
  import { bindDatagram, listen } from 'socket-activation';
  const out = {};
  for (const [what, call] of [['listen', () => listen(net.createServer(), 'web', { fallback: 0 })], ['bindDatagram', () => bindDatagram('dns', { fallback: 0 })]]) {
    try { await call(); out[what] = 'bound'; } catch (err) { out[what] = { code: err.code, reason: err.reason }; }
  }
  console.log(JSON.stringify(out));
  process.exit(0);`;

describe('not activated, and why', () => {
  it('absent: empty listeners, and asking for a name says so', async () => {
    const r = await reportOf('report.mjs', { listenPid: 'none' });
    expect(r.result).toMatchObject({ activated: false, reason: 'absent' });
    const asked = await reportOf('report.mjs', { listenPid: 'none', args: ['listener', 'web'] });
    expect(asked.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'absent', listenerName: 'web' });
  });
  it('a shell that did not exec: wrapper', async () => {
    // `; true` keeps the shell from exec'ing node itself
    const child = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 "${process.execPath}" "${fixtures}report.mjs" listener web; true`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', inetSocket().fd] });
    const r = JSON.parse((await finish(child)).stdout);
    expect(r.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
  });
  it('a wrapper holds LISTEN_PID: a fallback is not used (it would only meet EADDRINUSE); ERR_NOT_ACTIVATED says why', async () => {
    const child = spawn('/bin/sh', ['-c', `LISTEN_PID=$$ LISTEN_FDS=1 "${process.execPath}" --input-type=module -e "$1"; true`, 'sh', FALLBACK_PROBE], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', inetSocket().fd] });
    const r = JSON.parse((await finish(child)).stdout);
    const refused = { code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' };
    expect(r).toEqual({ listen: refused, bindDatagram: refused });
  });
  it('a child of the activated process that kept LISTEN_* (a cluster worker): a fallback is not used, since it would serve where no client connects', async () => {
    // What a cluster worker does when it calls listen() itself: before, it bound the fallback
    // (a fresh port) while the service's socket queued every client for good.
    const code = `import { spawnSync } from 'node:child_process';
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', ${JSON.stringify(FALLBACK_PROBE)}], { encoding: 'utf8' });
      console.log(r.stdout.trim());`;
    const r = await runInline(code, { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' } });
    const refused = { code: 'ERR_NOT_ACTIVATED', reason: 'inherited' };
    expect(r).toEqual({ listen: refused, bindDatagram: refused });
  });
  it('node --watch holds LISTEN_PID: a wrapper, named as watch mode (not an activated parent to take listeners in), and no fallback', async () => {
    const child = startActivated('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: [process.execPath, '--watch', `${fixtures}report.mjs`, 'listener', 'web'] });
    try {
      const [line] = await waitForLine(child, /^\{.*\}$/m);
      const r = JSON.parse(line);
      expect(r.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
      expect(r.error.message).toMatch(/watch mode runs the script in a child process .*start node without --watch/);
    } finally {
      child.kill('SIGKILL');
    }
  });
  it.skipIf(spawnSync('tini', ['--version']).status !== 0)('tini between the manager and node: a wrapper named as an init that forks, with the fix of running the launcher under it', async () => {
    const r = await reportOf('', { fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' }, command: ['tini', '-s', '--', process.execPath, `${fixtures}report.mjs`, 'listener', 'web'] });
    expect(r.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
    expect(r.error.message).toMatch(/is the init \d+ \(tini -s -- .*forks its command.*tini -- socket-activation -l ADDRESS -- node app\.js/);
  });
  it.skipIf(process.getuid?.() !== 0)('runuser between the manager and node: a wrapper that forks, with setpriv as the fix; env -i: absent, naming the listener at fd 3', async () => {
    const fds = [inetSocket().fd];
    const env = { LISTEN_FDNAMES: 'web' };
    const report = [process.execPath, `${fixtures}report.mjs`, 'listener', 'web'];
    const forked = await reportOf('', { fds, env, command: ['runuser', '-u', 'nobody', '--', ...report] });
    expect(forked.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
    expect(forked.error.message).toMatch(/is \d+ \(runuser -u nobody .*forks its command.*setpriv --reuid=USER --regid=GROUP --init-groups node app\.js/);
    const cleared = await reportOf('', { fds, env, command: ['env', '-i', ...report] });
    expect(cleared.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'absent' });
    expect(cleared.error.message).toMatch(/fd 3 is a TCP listener on 127\.0\.0\.1:\d+, though: .*cleared the environment \(env -i, sudo, su -l\).*setpriv/);
    // Not activated and no listener at fd 3: no such hint.
    const plain = await reportOf('report.mjs', { listenPid: 'none', args: ['listener', 'web'] });
    expect(plain.error.message).not.toMatch(/fd 3 is/);
  });
  /** Runs `run` in a throwaway app whose `npm start` asks report.mjs for the listener 'web'. */
  async function inNpmApp(run: (dir: string, npm: string) => Promise<void>): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'sa-npm-'));
    try {
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(root, join(dir, 'node_modules', 'socket-activation'));
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, scripts: { start: `node "${fixtures}report.mjs" listener web` } }));
      await run(dir, execFileSync('/bin/sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  it('npm start: the package manager is named as the wrapper', () =>
    inNpmApp(async (dir, npm) => {
      const r = await runActivated('', { fds: [inetSocket().fd], command: [npm, 'start', '--silent'], cwd: dir });
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
      expect(out.error.message).toMatch(/package manager/);
    }));
  it('npm start under the launcher: the fix named is what goes after the launcher\'s --, not ExecStart=', () =>
    inNpmApp(async (dir, npm) => {
      const child = spawn(process.execPath, [cli, '--restart', 'no', '-l', 'web=127.0.0.1:0', '--', npm, 'start', '--silent'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = await finish(child);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(out.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'wrapper' });
      expect(out.error.message).toMatch(/is the package manager .*Put node itself after the launcher's `--` \(`socket-activation -l ADDRESS -- node app\.js`\)/);
      expect(out.error.message).not.toMatch(/ExecStart=/);
    }));
  it.each(['spawn', 'fork', 'cluster'])('a %s child of an activated process: inherited (absent once the parent unset LISTEN_*)', async (how) => {
    const fds = [inetSocket().fd];
    const env = { LISTEN_FDNAMES: 'web' };
    const kept = await reportOf('probe.mjs', { fds, env, args: ['children', how, 'keep-env'] });
    expect(kept.child.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'inherited' });
    const unset = await reportOf('probe.mjs', { fds, env, args: ['children', how] });
    expect(unset.child.error).toMatchObject({ code: 'ERR_NOT_ACTIVATED', reason: 'absent' });
  });
  it('a cluster worker given the sockets by its primary (stdio) serves them with listen() and bindDatagram(), on its own fds', async () => {
    // Node's listen({ fd }) and bind({ fd }) in a worker ask the primary to open the primary's
    // fd of that number: the worker's duplicate was refused there (EEXIST) or named another file.
    const fds = [inetSocket({ backlog: 37 }).fd, inetSocket({ type: 'dgram' }).fd];
    const r = await reportOf('cluster.mjs', { fds, env: { LISTEN_FDNAMES: 'web:dns' } });
    expect(r.worker).toEqual({ ok: true, backlog: 37 });
    expect(r.http).toBe(String(r.workerPid));
    expect(r.udp).toBe(String(r.workerPid));
  });
  it('a LISTEN_PID that is no ancestor: other-process', async () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      const r = await reportOf('report.mjs', { listenPid: sleeper.pid!, env: { LISTEN_FDS: '1' } });
      expect(r.result).toMatchObject({ activated: false, reason: 'other-process', listenPid: sleeper.pid });
    } finally {
      sleeper.kill();
    }
  });
});

describe('CLOEXEC and the process-wide registry', () => {
  it('sets FD_CLOEXEC on every inherited fd (cleared first, read back from the kernel)', async () => {
    const r = await reportOf('probe.mjs', { args: ['cloexec'], fds: [inetSocket().fd, inetSocket().fd, inetSocket({ type: 'dgram' }).fd] });
    expect(r.before).toEqual([false, false, false]);
    expect(r.after).toEqual([true, true, true]);
    expect(r.result.value).toEqual([3, 4, 5].map((fd) => ({ fd, cloexec: true })));
    expect(r.childFds.filter((fd: number) => fd >= 3 && fd <= 5)).toEqual([]);
  });
  it('a FIFO between sockets: every fd in order, named, close-on-exec (cleared first)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-fifo-'));
    try {
      const path = join(dir, 'log');
      execFileSync('mkfifo', [path]);
      const fifo = openSync(path, 'r+');
      try {
        const fds = [inetSocket().fd, fifo, inetSocket({ type: 'dgram' }).fd];
        const r = await reportOf('probe.mjs', { args: ['cloexec'], fds });
        expect(r.before).toEqual([false, false, false]);
        expect(r.after).toEqual([true, true, true]);
        expect(r.result.value).toEqual([3, 4, 5].map((fd) => ({ fd, cloexec: true })));
        const named = await reportOf('report.mjs', { fds, env: { LISTEN_FDNAMES: 'web:log:dns' } });
        expect(named.result.descriptors.map((d: { fd: number; name: string; kind: string }) => [d.fd, d.name, d.kind])).toEqual([
          [3, 'web', 'socket'],
          [4, 'log', 'fifo'],
          [5, 'dns', 'socket'],
        ]);
      } finally {
        closeSync(fifo);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a second call, after unsetEnvironment, returns the very same listeners', async () => {
    const r = await reportOf('probe.mjs', { args: ['twice'], fds: [inetSocket().fd], env: { LISTEN_FDNAMES: 'web' } });
    expect(r.first.ok).toBe(true);
    expect(r.envAfter).toEqual([]);
    expect(r.second.value).toEqual(r.first.value);
    expect(r.same).toBe(true);
  });
  it('six hundred fds with a FIFO among them: in order, named, the same in a copy, require() and a worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-many-'));
    const sockets = Array.from({ length: 600 }, () => bareSocket('inet', 'dgram'));
    try {
      const path = join(dir, 'log');
      execFileSync('mkfifo', [path]);
      const fifo = openSync(path, 'r+');
      try {
        // Far more JSON than one of the addon's arrays holds, and the FIFO makes it go on from the first part.
        const fds = [...sockets.slice(0, 400), fifo, ...sockets.slice(400)];
        const env = { LISTEN_FDNAMES: fds.map((_, i) => `n${i}`).join(':') };
        const r = await reportOf('report.mjs', { fds, env });
        const seen = r.result.descriptors.map((d: { fd: number; name: string; kind: string }) => `${d.fd}:${d.name}:${d.kind}`);
        expect(seen).toEqual(fds.map((_, i) => `${i + 3}:n${i}:${i === 400 ? 'fifo' : 'socket'}`));
        const copies = await reportOf('probe.mjs', { args: ['copies'], fds, env });
        expect(copies.first).toEqual(fds.map((_, i) => `${i + 3}:n${i}`));
        expect(copies.viaCopy).toEqual(copies.first);
        expect(copies.viaRequire).toEqual(copies.first);
        expect(copies.viaWorker).toEqual(copies.first);
      } finally {
        closeSync(fifo);
      }
    } finally {
      for (const fd of sockets) closeSocket(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('the descriptors and their addresses are frozen: shared by every caller in the process, none can change them for the others', async () => {
    const code = `import { listeners } from 'socket-activation';
      const [d] = listeners();
      let threw = false;
      try { d.local.port = 1; } catch { threw = true; }
      console.log(JSON.stringify({ descriptor: Object.isFrozen(d), list: Object.isFrozen(listeners()), local: Object.isFrozen(d.local), threw, port: listeners()[0].local.port }));`;
    const socket = inetSocket();
    const r = await runInline(code, { fds: [socket.fd] });
    expect(r).toEqual({ descriptor: true, list: true, local: true, threw: true, port: socket.port });
  });

  it('two thousand inherited pipes: each judged on its own, all of them passed and made close-on-exec (the time they take: bench/pipes.mjs)', async () => {
    const count = 2000;
    const code = `import { listeners } from 'socket-activation';
      const found = listeners();
      console.log(JSON.stringify({ fds: found.map((d) => d.fd), kinds: [...new Set(found.map((d) => d.kind))], cloexec: found.every((d) => d.cloexec) }));`;
    const pipes: number[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const [read, write] = native().pipe() as [number, number];
        native().close(write);
        pipes.push(read);
      }
      const fds = Array.from({ length: count }, (_, i) => i + 3);
      expect(await runInline(code, { fds: pipes })).toMatchObject({ fds, kinds: ['fifo'], cloexec: true });
    } finally {
      pipes.forEach((fd) => native().close(fd));
    }
  }, 60_000);
  it('another module copy, require(), the ES module build and a worker thread agree after the env is gone', async () => {
    const abstract = unixSocket(Buffer.from([0, 0x73, 0x61, 0x00, 0xff]));
    const r = await reportOf('probe.mjs', { args: ['copies'], fds: [inetSocket().fd, abstract], env: { LISTEN_FDNAMES: 'a:b' } });
    expect(r.first).toEqual(['3:a', '4:b:736100ff']);
    expect(r.env).toBe(null);
    expect(r.viaCopyIsSeparate).toBe(true);
    expect(r.viaCopy).toEqual(r.first);
    expect(r.viaRequireIsSame).toBe(true);
    expect(r.viaRequire).toEqual(r.first);
    expect(r.viaEsmIsSeparate).toBe(true);
    expect(r.viaEsm).toEqual(r.first);
    expect(r.viaWorker).toEqual(r.first);
  });
});
