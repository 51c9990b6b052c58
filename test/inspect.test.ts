// inspect(fd) on every kind of fd the kernel can hand us, made for real.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describe as describeFd, formatAddress, inspect, matches, SocketActivationError, type SocketDescriptor } from '../src/index.js';
import { native } from '../src/native.js';
import { fixtures } from './helpers/activated.js';
import { bareSocket, closeAll, inetSocket, unixSocket } from './helpers/sockets.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sa-inspect-'));
});
afterAll(() => {
  closeAll();
  rmSync(dir, { recursive: true, force: true });
});

const socketOf = (fd: number) => inspect(fd) as SocketDescriptor;
// Linux's O_PATH, which fs.constants does not export.
const O_PATH = 0o10000000;

describe('sockets', () => {
  it('TCP listener: family, protocol, listening, address, backlog, flags', () => {
    const { fd, port } = inetSocket({ backlog: 77 });
    expect(inspect(fd)).toEqual({
      fd,
      name: undefined,
      kind: 'socket',
      type: 'stream',
      family: 'inet',
      protocol: 'tcp',
      protocolNumber: 6,
      listening: true,
      local: { address: '127.0.0.1', port, family: 'IPv4' },
      backlog: 77,
      cloexec: true,
      nonblocking: false,
      dev: expect.any(Number),
      ino: expect.any(Number),
    });
  });
  it('IPv6: v6only and dual-stack', () => {
    expect(socketOf(inetSocket({ host: '::1' }).fd)).toMatchObject({ family: 'inet6', local: { address: '::1', family: 'IPv6', scopeId: 0 } });
    expect(socketOf(inetSocket({ host: '::', v6only: false }).fd)).toMatchObject({ v6only: false, local: { address: '::' } });
    expect(socketOf(inetSocket({ host: '::', v6only: true }).fd)).toMatchObject({ v6only: true });
  });
  it('UDP, UDP-Lite and MPTCP by SO_PROTOCOL', () => {
    expect(socketOf(inetSocket({ type: 'dgram' }).fd)).toMatchObject({ type: 'dgram', protocol: 'udp', listening: false });
    expect(socketOf(bareSocket('inet', 'dgram', 136))).toMatchObject({ type: 'dgram', protocol: 'udplite', protocolNumber: 136 });
    // Its backlog too: listen() passes it on, or Node would reset systemd's Backlog= to 511.
    expect(socketOf(inetSocket({ protocol: 262, backlog: 33 }).fd)).toMatchObject({ type: 'stream', protocol: 'mptcp', listening: true, backlog: 33 });
  });
  it('raw inet and inet6 sockets have no port (the kernel puts the protocol number there)', () => {
    const n = native();
    const c = n.constants;
    const raw = (domain: number, protocol: number) => {
      const fd = n.socket(domain, c.SOCK_RAW, protocol);
      expect(fd, 'socket(SOCK_RAW) needs CAP_NET_RAW').toBeGreaterThanOrEqual(0);
      return fd;
    };
    const udp = raw(c.AF_INET, 17);
    const icmpv6 = raw(c.AF_INET6, 58);
    try {
      expect(n.bindInet(udp, c.AF_INET, '127.0.0.1', 0)).toBe(0);
      const d = socketOf(udp);
      expect(d).toMatchObject({ type: 'raw', family: 'inet', protocol: 'udp', protocolNumber: 17, listening: false });
      expect(d.local).toEqual({ address: '127.0.0.1', family: 'IPv4' });
      expect(describeFd(d)).toBe('raw inet socket (protocol udp) on 127.0.0.1');
      expect(socketOf(icmpv6)).toMatchObject({ type: 'raw', family: 'inet6', protocol: 'icmpv6' });
      expect(socketOf(icmpv6).local).toEqual({ address: '::', family: 'IPv6', flowinfo: 0, scopeId: 0 });
    } finally {
      n.close(udp);
      n.close(icmpv6);
    }
  });
  it('unix: path, abstract (raw bytes kept), unnamed; stream, dgram, seqpacket', () => {
    const path = join(dir, 'a.sock');
    expect(socketOf(unixSocket(path))).toMatchObject({ family: 'unix', type: 'stream', protocol: 'default', listening: true, local: { path, raw: Buffer.from(path) } });
    expect(socketOf(unixSocket(join(dir, 'd.sock'), 'dgram'))).toMatchObject({ type: 'dgram', listening: false });
    expect(socketOf(unixSocket(join(dir, 's.sock'), 'seqpacket'))).toMatchObject({ type: 'seqpacket', listening: true });
    const raw = Buffer.from([0x00, 0x73, 0x61, 0x00, 0xfe, 0x0a]);
    const abstract = socketOf(unixSocket(raw));
    expect((abstract.local as { raw: Buffer }).raw).toEqual(raw.subarray(1));
    expect(abstract.local).toMatchObject({ abstract: 'sa\u0000\ufffd\n' });
    expect(socketOf(bareSocket('unix', 'stream')).local).toEqual({ unnamed: true });
  });
  it('unix names with quotes, backslashes, control characters and bytes that are not UTF-8', () => {
    const path = Buffer.concat([Buffer.from(join(dir, 'q"\\\t')), Buffer.from([0xc3, 0x28, 0xe2, 0x82])]);
    expect(socketOf(unixSocket(path)).local).toEqual({ path: path.toString('utf8'), raw: path });
    const raw = Buffer.from([0x00, 0x22, 0x5c, 0x01, 0x7f, 0xe2, 0x82, 0xac, 0xff]);
    const abstract = socketOf(unixSocket(raw)).local as { abstract: string; raw: Buffer };
    expect(abstract.raw).toEqual(raw.subarray(1));
    expect(abstract.abstract).toBe(raw.subarray(1).toString('utf8'));
    expect(abstract.abstract).toBe('"\\\u0001\u007f€\ufffd');
  });
  it('a path that is not UTF-8: raw names the file, messages show its bytes, an expected path decoded alike does not match it', () => {
    const name = Buffer.from([0x62, 0xff, 0x2e, 0x73]);
    const path = Buffer.concat([Buffer.from(`${dir}/`), name]);
    const d = socketOf(unixSocket(path));
    expect(d.local).toEqual({ path: path.toString('utf8'), raw: path });
    // The file the kernel made is the one raw names, not the decoded text's.
    expect(readdirSync(dir, { encoding: 'buffer' })).toContainEqual(name);
    expect(formatAddress(d.local)).toBe(`${dir}/b\\xff.s`);
    expect(describeFd(d)).toBe(`unix stream listener on ${dir}/b\\xff.s`);
    expect(matches(d, { path: path.toString('utf8') })).toBe(false);
    // A UTF-8 path matches as before.
    const utf8 = join(dir, 'é\ufffd.sock');
    expect(matches(socketOf(unixSocket(utf8)), { path: utf8 })).toBe(true);
    expect(formatAddress(socketOf(unixSocket(join(dir, 'é2.sock'))).local)).toBe(join(dir, 'é2.sock'));
  });
  it('a link-local IPv6 address keeps its zone, as Node writes it (fe80::1%lo), beside scopeId', () => {
    const exe = join(dir, 'link-local');
    execFileSync('cc', ['-o', exe, join(fixtures, 'link-local.c')]);
    const r = spawnSync(exe, [process.execPath, join(fixtures, 'inspect-fds.mjs'), '3'], { encoding: 'utf8' });
    const [d] = JSON.parse(r.stdout || 'null') ?? [r.stderr];
    const lo = Number(readFileSync('/sys/class/net/lo/ifindex', 'utf8'));
    expect(d).toMatchObject({ kind: 'socket', family: 'inet6', protocol: 'udp', local: { address: 'fe80::1%lo', port: expect.any(Number), family: 'IPv6', scopeId: lo } });
  });
  it('a connected TCP socket has a remote address and is not listening', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
    const d = socketOf(fd);
    expect(d).toMatchObject({ type: 'stream', listening: false, nonblocking: true, remote: { address: '127.0.0.1', port: (server.address() as net.AddressInfo).port } });
    expect(d.backlog).toBeUndefined();
    client.destroy();
    server.close();
  });
  it('an IPv4 client of a dual-stack [::] listener: IPv4-mapped addresses, written as inet_ntop does', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen({ port: 0, host: '::', ipv6Only: false }, r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const socket = await accepted;
    const d = socketOf((socket as unknown as { _handle: { fd: number } })._handle.fd);
    expect(d).toMatchObject({ family: 'inet6', local: { address: '::ffff:127.0.0.1', family: 'IPv6' }, remote: { address: '::ffff:127.0.0.1', port: client.localPort } });
    client.destroy();
    socket.destroy();
    server.close();
  });
});

describe('vsock and netlink addresses', () => {
  // python makes the sockets (Node cannot), places them at 3.. and execs the fixture, which
  // prints inspect() of each; what python saw (getsockname) goes to stderr.
  const inspectedIn = (python: string) => {
    const r = spawnSync('python3', ['-c', `import json, os, socket, sys\n${python}`, process.execPath, join(fixtures, 'inspect-fds.mjs')], { encoding: 'utf8' });
    const out = JSON.parse(r.stdout || 'null') as SocketDescriptor[] | null;
    if (!out) throw new Error(`no descriptors (exit ${r.status}): ${r.stderr}`);
    return { descriptors: out, seen: JSON.parse(r.stderr) as number[][] };
  };
  const place = (count: number) => `sys.stderr.write(json.dumps([list(s.getsockname()) for s in sockets]))
high = [os.dup(s.fileno()) for s in sockets]
for i, fd in enumerate(high): os.dup2(fd, 3 + i)
os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], ${Array.from({ length: count }, (_, i) => `'${3 + i}'`).join(', ')}])`;

  it('netlink: port id and multicast groups once bound, unnamed before', () => {
    const { descriptors, seen } = inspectedIn(`groups = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
groups.bind((0, 1))
chosen = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
chosen.bind((0x40000000 + os.getpid(), 0))
unbound = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
sockets = [groups, chosen, unbound]
${place(3)}`);
    const [groups, chosen, unbound] = descriptors;
    expect(groups).toMatchObject({ kind: 'socket', family: 'netlink', type: 'raw', local: { portid: seen[0]![0], groups: 1 } });
    expect(groups!.local).toEqual({ portid: seen[0]![0], groups: 1 });
    expect(seen[0]![0]).toBeGreaterThan(0);
    expect(chosen).toMatchObject({ family: 'netlink', type: 'dgram', local: { portid: seen[1]![0], groups: 0 } });
    expect(chosen!.remote).toBeUndefined();
    expect(unbound!.local).toEqual({ unnamed: true });
    expect(formatAddress(groups!.local)).toBe(`netlink:${seen[0]![0]} (groups 0x1)`);
    expect(describeFd(chosen!)).toBe(`netlink dgram socket on netlink:${seen[1]![0]}`);
  });

  it('vsock: CID and port once bound, unnamed before', () => {
    const probe = spawnSync('python3', ['-c', 'import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)']);
    if (probe.status !== 0) {
      console.warn('AF_VSOCK is not available here (no vsock module): the vsock case was not run');
      return;
    }
    const { descriptors, seen } = inspectedIn(`listener = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
listener.bind((socket.VMADDR_CID_ANY, socket.VMADDR_PORT_ANY))
listener.listen(4)
unbound = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
sockets = [listener, unbound]
${place(2)}`);
    const [listener, unbound] = descriptors;
    const [cid, port] = seen[0]!;
    expect(cid).toBe(0xffff_ffff);
    expect(listener).toMatchObject({ kind: 'socket', family: 'vsock', type: 'stream', listening: true });
    expect(listener!.local).toEqual({ cid, port });
    expect(unbound!.local).toEqual({ unnamed: true });
    expect(describeFd(listener!)).toBe(`vsock stream listener on vsock:4294967295:${port}`);
  });
});

describe('other kinds', () => {
  it('FIFO, regular file, directory, character device', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fds = [openSync(fifo, 'r+'), openSync(join(dir, 'file'), 'w'), openSync(dir, 'r'), openSync('/dev/null', 'r')];
    try {
      expect(fds.map((fd) => inspect(fd).kind)).toEqual(['fifo', 'file', 'directory', 'char']);
      expect(inspect(fds[3]!)).toMatchObject({ kind: 'char', rdev: expect.any(Number) });
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
  });
  it("anonymous inodes: Node's own epoll and eventfd", () => {
    const anon = readdirSync('/proc/self/fd')
      .map(Number)
      .filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith('anon_inode:');
        } catch {
          return false;
        }
      })
      .map((fd) => inspect(fd))
      .map((d) => (d.kind === 'anon' ? d.anonType : d.kind));
    expect(anon).toContain('eventpoll');
    expect(anon).toContain('eventfd');
  });
  it('an O_PATH fd is kind "path", naming what fstat found, and nothing a socket call would read', () => {
    const fifo = join(dir, 'path-fifo');
    execFileSync('mkfifo', [fifo]);
    const socketFile = join(dir, 'path.sock');
    unixSocket(socketFile);
    execFileSync('ln', ['-s', fifo, join(dir, 'path-link')]);
    const fds = [openSync(fifo, O_PATH), openSync(socketFile, O_PATH), openSync(dir, O_PATH), openSync(join(dir, 'path-link'), O_PATH | constants.O_NOFOLLOW)];
    try {
      expect(fds.map((fd) => inspect(fd))).toEqual(
        ['fifo', 'socket', 'directory', 'symlink'].map((fileKind, i) => ({
          fd: fds[i],
          name: undefined,
          kind: 'path',
          fileKind,
          cloexec: true,
          nonblocking: false,
          dev: expect.any(Number),
          ino: expect.any(Number),
        })),
      );
      expect(describeFd(inspect(fds[1]!))).toBe('O_PATH descriptor of a socket file');
    } finally {
      fds.forEach((fd) => closeSync(fd));
    }
  });
  it('POSIX message queue and pidfd (made by a small C program)', () => {
    const exe = join(dir, 'mq-pidfd');
    execFileSync('cc', ['-o', exe, join(fixtures, 'mq-pidfd.c'), '-lrt']);
    const r = spawnSync(exe, [process.execPath, join(fixtures, 'inspect-fds.mjs'), '3', '4'], { encoding: 'utf8' });
    const [mq, pidfd] = JSON.parse(r.stdout);
    expect(mq).toMatchObject({ kind: 'mqueue', fd: 3 });
    // pidfs (Linux >= 6.9) or the older anon inode: both are an anonymous "pidfd"
    expect(pidfd).toMatchObject({ kind: 'anon', anonType: 'pidfd', fd: 4 });
  });
});

describe('errors', () => {
  it('a closed fd is a Node-style system error naming it', () => {
    const fd = native().dup(0);
    native().close(fd);
    expect(() => inspect(fd)).toThrow(expect.objectContaining({ code: 'EBADF', errno: -9, syscall: 'fstat', fd }));
  });
  it('a non-integer fd is a SocketActivationError with code ERR_INVALID_ARGUMENT, as the package\'s other argument errors', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 31, '3']) {
      expect(() => inspect(bad as number)).toThrow(SocketActivationError);
      expect(() => inspect(bad as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', found: bad }));
    }
  });
});
