// Real clients for the servers under test. A target is a TCP host:port, a unix socket path,
// or an abstract unix socket name.
//
// Abstract names: systemd, systemd-socket-activate and our launcher bind `@name` with the
// exact address length. Node spells it '\0name', but libuv before 1.48 (Node 20) connects
// with the whole 108-byte sun_path padded with NULs, which is a different abstract name, so
// the connection is refused. There the connection goes through a tiny perl relay (Perl's
// pack_sockaddr_un uses the exact length), exposed as a Duplex stream.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

export type Target = { host: string; port: number } | { path: string } | { abstract: string };

const TIMEOUT = 10_000;

function where(t: Target): string {
  return 'path' in t ? JSON.stringify(t.path) : 'abstract' in t ? `@${t.abstract}` : `${t.host}:${t.port}`;
}

const [uvMajor = 0, uvMinor = 0] = process.versions.uv!.split('.').map(Number);
/** Whether Node connects to '\0name' with the exact address length (libuv >= 1.48). */
export const exactAbstract = uvMajor > 1 || (uvMajor === 1 && uvMinor >= 48);

const RELAY = `
use strict; use Socket; use IO::Select;
$SIG{PIPE} = 'IGNORE';
socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
connect($s, pack_sockaddr_un("\\0" . $ARGV[0])) or do { print STDERR "connect: $!\\n"; exit 3 };
binmode STDIN; binmode STDOUT;
my $sel = IO::Select->new(\\*STDIN, $s);
my ($buf, $in, $out) = ('', 1, 1);
sub put { my ($h, $n) = @_; my $off = 0; while ($off < $n) { my $w = syswrite($h, $buf, $n - $off, $off); return 0 unless defined $w; $off += $w } 1 }
# Until both directions are finished: after the server's EOF, keep draining (and dropping)
# what the client still sends, so the client never writes into a closed pipe.
while ($in || $out) {
  my @ready = $sel->can_read or last;
  for my $h (@ready) {
    my $n = sysread($h, $buf, 65536);
    if (fileno($h) == fileno($s)) {
      if (!$n || !put(\\*STDOUT, $n)) { $out = 0; $sel->remove($s); close(STDOUT) }
    } elsif (!$n) { $in = 0; shutdown($s, 1); $sel->remove(\\*STDIN) }
    elsif ($out) { put($s, $n) or $out = 0 }
  }
}`;

function relay(name: string): Duplex {
  const child = spawn('perl', ['-e', RELAY, name], { stdio: ['pipe', 'pipe', 'pipe'] });
  const duplex = Duplex.from({ readable: child.stdout, writable: child.stdin });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.on('exit', (code) => {
    if (code !== 0) duplex.destroy(Object.assign(new Error(`@${name}: ${stderr.trim() || `relay exited ${code}`}`), { code: /refused/i.test(stderr) ? 'ECONNREFUSED' : 'ERELAY' }));
  });
  duplex.on('close', () => child.kill());
  return duplex;
}

/** A byte stream to the target: a net.Socket, or the relay for abstract names on old libuv. */
export function connectTo(target: Target): Duplex {
  if ('abstract' in target) return exactAbstract ? net.connect(`\0${target.abstract}`) : relay(target.abstract);
  return net.connect(target);
}

function tlsTo(target: Target, alpn?: string[]): tls.TLSSocket {
  const common = { rejectUnauthorized: false, servername: 'localhost', ...(alpn ? { ALPNProtocols: alpn } : {}) };
  if ('abstract' in target) return tls.connect({ ...common, socket: connectTo(target) });
  return tls.connect({ ...common, ...target });
}

/** Sends `bytes` and resolves with what came back once as many bytes arrived. */
export function echo(target: Target, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(target);
    const chunks: Buffer[] = [];
    let length = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`echo ${where(target)}: timeout`)), TIMEOUT);
    socket.on('close', () => clearTimeout(timer));
    socket.on('error', reject);
    socket.write(bytes);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      length += d.length;
      if (length >= bytes.length) {
        socket.end();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('end', () => {
      if (length < bytes.length) reject(new Error(`echo ${where(target)}: ended after ${length} bytes`));
    });
  });
}

export interface Answer {
  status: number;
  httpVersion: string;
  body: string;
}

function readBody(res: http.IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => (body += d));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, httpVersion: res.httpVersion, body }));
    res.on('error', reject);
  });
}

/** GET over HTTP/1.1 or HTTPS (self-signed certificates accepted), one connection, no agent. */
export function get(target: Target, options: { secure?: boolean; path?: string } = {}): Promise<Answer> {
  const request = options.secure ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request({
      ...('path' in target
        ? { socketPath: target.path }
        : 'abstract' in target
          ? { host: 'localhost', createConnection: () => (options.secure ? tlsTo(target) : connectTo(target)) as net.Socket }
          : { host: target.host, port: target.port }),
      path: options.path ?? '/',
      // No agent: with one, Node ignores createConnection.
      ...('abstract' in target ? {} : { agent: false }),
      headers: { connection: 'close' },
      rejectUnauthorized: false,
      servername: 'localhost',
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET ${where(target)}: timeout`)), TIMEOUT);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.on('response', (res) => readBody(res).then(resolve, reject));
    req.end();
  });
}

/** One HTTP/2 GET: h2c with prior knowledge, or h2 over TLS (ALPN). */
export async function get2(target: Target, options: { secure?: boolean } = {}): Promise<Answer & { alpn?: string }> {
  const secure = options.secure ?? false;
  const authority = `${secure ? 'https' : 'http'}://${'host' in target ? `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}` : 'localhost'}`;
  const session = http2.connect(authority, {
    rejectUnauthorized: false,
    ...('host' in target ? {} : { createConnection: () => (secure ? tlsTo(target, ['h2']) : connectTo(target)) }),
  });
  try {
    const errored = once(session, 'error').then(([err]) => Promise.reject(err));
    const answer = new Promise<Answer & { alpn?: string }>((resolve, reject) => {
      const stream = session.request({ ':path': '/' });
      let body = '';
      let status = 0;
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (d: string) => (body += d));
      stream.on('end', () => resolve({ status, httpVersion: '2.0', body, alpn: session.alpnProtocol }));
      stream.on('error', reject);
      stream.end();
    });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`h2 ${where(target)}: timeout`)), TIMEOUT).unref());
    errored.catch(() => {}); // an error after the answer (e.g. while closing) is not the test's concern
    return await Promise.race([answer, errored, timeout]);
  } finally {
    session.close();
  }
}

/** Connects and resolves with the error code (e.g. ECONNREFUSED), or 'connected'. */
export function tryConnect(target: Target): Promise<string> {
  return new Promise((resolve) => {
    if ('abstract' in target && !exactAbstract) throw new Error('tryConnect: abstract names need libuv >= 1.48');
    const socket = 'abstract' in target ? net.connect(`\0${target.abstract}`) : net.connect(target);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Sends one datagram from a fresh udp4/udp6 socket and resolves with the first reply. */
export function udpRequest(type: 'udp4' | 'udp6', host: string, port: number, bytes: Buffer): Promise<{ reply: Buffer; from: dgram.RemoteInfo }> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(type);
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`udp ${host}:${port}: no reply`));
    }, TIMEOUT);
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.on('message', (reply, from) => {
      clearTimeout(timer);
      socket.close();
      resolve({ reply, from });
    });
    socket.send(bytes, port, host);
  });
}
