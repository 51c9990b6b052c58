// Address decoding and formatting, pure.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatAddress, unixAddress } from '../src/address.js';
import { classifyHolder } from '../src/ancestry.js';
import { parseLaunchAddress } from '../src/launcher/address.js';
import { root } from './helpers/activated.js';

describe('unix addresses', () => {
  it('path, abstract with any bytes, unnamed', () => {
    expect(unixAddress(Buffer.from('/run/app.sock'))).toEqual({ path: '/run/app.sock', raw: Buffer.from('/run/app.sock') });
    const abstract = unixAddress(Buffer.from([0, 0x61, 0x00, 0xff]));
    expect(abstract).toMatchObject({ abstract: 'a\u0000\ufffd' });
    expect((abstract as { raw: Buffer }).raw).toEqual(Buffer.from([0x61, 0x00, 0xff]));
    expect(unixAddress(new Uint8Array(0))).toEqual({ unnamed: true });
  });
  it('formats for messages', () => {
    expect(formatAddress({ address: '::', port: 80, family: 'IPv6' })).toBe('[::]:80');
    expect(formatAddress({ address: '127.0.0.1', port: 80, family: 'IPv4' })).toBe('127.0.0.1:80');
    // A raw socket's: no port.
    expect(formatAddress({ address: '::1', family: 'IPv6' })).toBe('::1');
    expect(formatAddress(unixAddress(Buffer.from('/x')))).toBe('/x');
    expect(formatAddress({ abstract: 'n', raw: Buffer.from('n') })).toBe('@n');
    expect(formatAddress({ cid: 2, port: 1024 })).toBe('vsock:2:1024');
    expect(formatAddress({ portid: 77, groups: 0 })).toBe('netlink:77');
    expect(formatAddress({ portid: 77, groups: 0x11 })).toBe('netlink:77 (groups 0x11)');
  });
  it('an address that is not an object: ERR_INVALID_ARGUMENT naming formatAddress(), not V8\'s TypeError of `in`', () => {
    expect(formatAddress(undefined)).toBe('no address');
    for (const bad of [5, 'web', 0, true]) {
      expect(() => formatAddress(bad as never)).toThrow(
        expect.objectContaining({
          name: 'SocketActivationError',
          code: 'ERR_INVALID_ARGUMENT',
          message: `formatAddress(): the address must be a socket address (an object, as inspect() and listeners() give them) or undefined; found ${JSON.stringify(bad)}.`,
          argument: 'address',
          expected: 'SocketAddress | undefined',
          found: bad,
        }),
      );
    }
  });

  // address.ts and errors.ts import each other: whichever loads first, the error is thrown in
  // both builds (a cycle that used an export while loading would fail here).
  it.each([
    ['CommonJS, address.js first', `const { formatAddress } = require('${root}/dist/cjs/address.js');`],
    ['CommonJS, errors.js first', `require('${root}/dist/cjs/errors.js'); const { formatAddress } = require('${root}/dist/cjs/address.js');`],
    ['CommonJS, the package root', `const { formatAddress } = require('${root}');`],
    ['ESM, address.js first', `const { formatAddress } = await import('${root}/dist/address.js');`],
    ['ESM, errors.js first', `await import('${root}/dist/errors.js'); const { formatAddress } = await import('${root}/dist/address.js');`],
    ['ESM, the package root', `const { formatAddress } = await import('${root}/dist/index.js');`],
  ])('the built package (%s): formatAddress(5) is ERR_INVALID_ARGUMENT', (_, load) => {
    const code = `(async () => { ${load} try { formatAddress(5); console.log('no error'); } catch (err) { console.log(err.name, err.code); } })();`;
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('SocketActivationError ERR_INVALID_ARGUMENT\n');
  });

  it('escapes the control characters of unix names, so a message stays one line; keeps an IPv6 zone', () => {
    expect(formatAddress({ abstract: 'app\nv2\u0000x', raw: Buffer.from('app\nv2\u0000x') })).toBe('@app\\nv2\\x00x');
    expect(formatAddress(unixAddress(Buffer.from('/tmp/a\tb\r\u001b[31m\u007f\u0085c\\d')))).toBe('/tmp/a\\tb\\r\\x1b[31m\\x7f\\u0085c\\\\d');
    // A name that spells an escape is told from one holding the byte: its backslash is doubled.
    expect(formatAddress(unixAddress(Buffer.from('/tmp/a\\x1bb')))).toBe('/tmp/a\\\\x1bb');
    expect(formatAddress(unixAddress(Buffer.from('/tmp/a\u001bb')))).toBe('/tmp/a\\x1bb');
    expect(formatAddress({ abstract: 'x\\ny', raw: Buffer.from('x\\ny') })).toBe('@x\\\\ny');
    // Bytes that are not UTF-8 as \xNN, a C1 control (two bytes) as \u00NN: the two are told apart.
    expect(formatAddress(unixAddress(Buffer.from([0x2f, 0x85, 0xc2, 0x85, 0xe2, 0x82, 0xff, 0x5c, 0xe2, 0x82, 0xac])))).toBe('/\\x85\\u0085\\xe2\\x82\\xff\\\\€');
    expect(formatAddress(unixAddress(Buffer.from([0, 0x61, 0xff])))).toBe('@a\\xff');
    expect(formatAddress({ address: 'fe80::1%lo', port: 80, family: 'IPv6', flowinfo: 0, scopeId: 1 })).toBe('[fe80::1%lo]:80');
  });
});

describe('who holds LISTEN_PID', () => {
  const p = (comm: string, argv: string[]) => ({ pid: 10, comm, argv });
  it('npm, yarn, pnpm are package-manager wrappers', () => {
    expect(classifyHolder(p('npm start', ['npm start']))).toMatchObject({ reason: 'wrapper', wrapper: 'package-manager' });
    expect(classifyHolder(p('node', ['node', '/usr/lib/node_modules/npm/bin/npm-cli.js', 'start']))).toMatchObject({ wrapper: 'package-manager' });
    expect(classifyHolder(p('node', ['/usr/bin/node', '/usr/local/bin/yarn', 'start']))).toMatchObject({ wrapper: 'package-manager' });
    expect(classifyHolder(p('pnpm', ['pnpm', 'start']))).toMatchObject({ wrapper: 'package-manager' });
  });
  it('a shell is a wrapper, a node process is an activated parent', () => {
    expect(classifyHolder(p('sh', ['sh', '-c', 'node app.js']))).toMatchObject({ reason: 'wrapper', wrapper: 'shell' });
    expect(classifyHolder(p('node', ['node', 'server.js']))).toMatchObject({ reason: 'inherited' });
    expect(classifyHolder(p('tini', ['tini', '--', 'node']))).toMatchObject({ reason: 'wrapper', wrapper: 'init' });
    expect(classifyHolder(p('dumb-init', ['dumb-init', 'node', 'app.js']))).toMatchObject({ reason: 'wrapper', wrapper: 'init' });
    expect(classifyHolder(p('env', ['env', 'node', 'app.js']))).toMatchObject({ reason: 'wrapper', wrapper: 'other' });
    expect(classifyHolder(p('sudo', ['sudo', '-u', 'app', 'node', 'app.js']))).toMatchObject({ reason: 'wrapper', wrapper: 'privilege' });
    expect(classifyHolder(p('su', ['su', 'app', '-c', 'node app.js']))).toMatchObject({ reason: 'wrapper', wrapper: 'privilege' });
  });
  it('node in watch mode is a wrapper; --watch after the script is the script\'s own argument', () => {
    expect(classifyHolder(p('node', ['node', '--watch', 'app.mjs']))).toMatchObject({ reason: 'wrapper', wrapper: 'node-watch' });
    expect(classifyHolder(p('node', ['node', '--import', 'tsx', '--watch-path=src', 'app.ts']))).toMatchObject({ reason: 'wrapper', wrapper: 'node-watch' });
    expect(classifyHolder(p('node', ['node', 'app.mjs', '--watch']))).toMatchObject({ reason: 'inherited' });
  });
});

describe('launcher addresses', () => {
  it('parses every form', () => {
    expect(parseLaunchAddress('8080', 'stream')).toMatchObject({ name: 'unknown', family: 'inet6', host: '::', port: 8080, dualStack: true });
    expect(parseLaunchAddress('web=127.0.0.1:80', 'stream')).toMatchObject({ name: 'web', family: 'inet', host: '127.0.0.1', port: 80 });
    expect(parseLaunchAddress('localhost:80', 'stream')).toMatchObject({ host: '127.0.0.1' });
    expect(parseLaunchAddress('[::1]:53', 'dgram')).toMatchObject({ family: 'inet6', host: '::1', port: 53, dualStack: false, type: 'dgram' });
    // made absolute against the launcher's directory, as systemd requires
    expect(parseLaunchAddress('api=./run/api.sock', 'stream')).toMatchObject({ name: 'api', family: 'unix', path: join(process.cwd(), 'run', 'api.sock') });
    expect(parseLaunchAddress('/tmp/a=b.sock', 'stream')).toMatchObject({ name: 'unknown', path: '/tmp/a=b.sock' });
    expect(parseLaunchAddress('x=@abs', 'seqpacket')).toMatchObject({ name: 'x', abstract: 'abs', type: 'seqpacket' });
  });
  it('an empty name before = is named as such', () => {
    expect(() => parseLaunchAddress('=127.0.0.1:80', 'stream')).toThrow(expect.objectContaining({ code: 'ERR_LAUNCHER_USAGE', message: expect.stringMatching(/name before '=' is empty/) }));
  });
  it.each(['web=', 'a:b=127.0.0.1:80', '127.0.0.1:99999', 'example.com:80', '@', 'nonsense', 'x y=1'])('rejects %j', (spec) => {
    expect(() => parseLaunchAddress(spec, 'stream')).toThrow(expect.objectContaining({ code: 'ERR_LAUNCHER_USAGE' }));
  });
  it.each([
    ['1.2.3:80', /must be an IPv4 address \(four numbers 0-255\)/],
    ['999.1.1.1:80', /must be an IPv4 address/],
    ['127.1:80', /must be an IPv4 address/],
    ['[localhost]:80', /in brackets must be an IPv6 address; found "localhost"/],
    ['[1.2.3.4]:80', /in brackets must be an IPv6 address/],
    ['[fe80::1%lo]:80', /with a zone \(%interface\) are not supported/],
  ])('a host that is no address, %j: a usage error naming it, not a failed bind', (spec, message) => {
    expect(() => parseLaunchAddress(spec, 'stream')).toThrow(expect.objectContaining({ code: 'ERR_LAUNCHER_USAGE', message: expect.stringMatching(message) }));
  });
  it('an IPv4-mapped IPv6 address is bound with IPV6_V6ONLY off (it carries IPv4 traffic)', () => {
    expect(parseLaunchAddress('[::ffff:127.0.0.1]:80', 'stream')).toMatchObject({ family: 'inet6', host: '::ffff:127.0.0.1', dualStack: true });
    expect(parseLaunchAddress('[::FFFF:7f00:1]:80', 'stream')).toMatchObject({ dualStack: true });
    expect(parseLaunchAddress('[2001:db8::1]:80', 'stream')).toMatchObject({ dualStack: false });
  });
});
