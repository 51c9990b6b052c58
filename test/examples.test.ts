// Every example under examples/ serves a real client twice: under the launcher (Debian's
// systemd-socket-activate for Accept=yes, which the launcher does not do) and from its own unit
// files in a private systemd user manager. The unit files are used as shipped; a drop-in (what
// `systemctl edit` writes) moves the port or path and the program path to this run's and turns
// DynamicUser= off (a user manager cannot allocate users). TLS: the private user manager of
// systemd 252 creates $CREDENTIALS_DIRECTORY but leaves it empty here, so under systemd the
// drop-in names the files with TLS_CERT/TLS_KEY instead of LoadCredential=, and the
// credentials-directory path of the TLS examples is run under the launcher. The unit files
// also pass systemd's own checker.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, root } from './helpers/activated.js';
import { echo, get, get2, udpRequest, type Target } from './helpers/clients.js';
import { command, environment, freePort, startManager, unitPath, which, type Manager } from './helpers/systemd.js';
import { killAll, start } from './helpers/watch.js';

interface Example {
  /** Directory under examples/. */
  dir: string;
  /** Its socket unit and its service (a template for Accept=yes). */
  socket: string;
  service: string;
  /** What the example listens on: a named TCP or unix stream listener, UDP, or Accept=yes. */
  listens: 'tcp' | 'unix' | 'udp' | 'accept';
  /** The fd name the example asks for (FileDescriptorName= / the launcher's NAME=). */
  name?: string;
  /** Reads the certificate and key (TLS_CERT/TLS_KEY, or LoadCredential= under systemd). */
  tls?: boolean;
  /** A real client; resolves with what the example answered. */
  ask: (target: Target) => Promise<string>;
}

const http1 = (secure = false) => async (target: Target) => {
  const answer = await get(target, { secure });
  expect(answer.status).toBe(200);
  return answer.body;
};

const examples: Example[] = [
  { dir: 'http', socket: 'myapp.socket', service: 'myapp.service', listens: 'tcp', name: 'web', ask: http1() },
  { dir: 'https', socket: 'myapp-https.socket', service: 'myapp-https.service', listens: 'tcp', name: 'web', tls: true, ask: http1(true) },
  {
    dir: 'http2',
    socket: 'myapp-http2.socket',
    service: 'myapp-http2.service',
    listens: 'tcp',
    name: 'web',
    tls: true,
    ask: async (target) => {
      const answer = await get2(target, { secure: true });
      expect(answer).toMatchObject({ status: 200, alpn: 'h2' });
      return answer.body;
    },
  },
  {
    dir: 'dgram',
    socket: 'myapp-dns.socket',
    service: 'myapp-dns.service',
    listens: 'udp',
    name: 'dns',
    ask: async (target) => {
      if (!('port' in target)) throw new Error('UDP needs a port');
      return (await udpRequest('udp4', target.host, target.port, Buffer.from('ping'))).reply.toString();
    },
  },
  { dir: 'cluster', socket: 'myapp-cluster.socket', service: 'myapp-cluster.service', listens: 'tcp', name: 'web', ask: http1() },
  { dir: 'unix', socket: 'myapp-api.socket', service: 'myapp-api.service', listens: 'unix', name: 'api', ask: http1() },
  { dir: 'accept', socket: 'myapp-echo.socket', service: 'myapp-echo@.service', listens: 'accept', ask: async (target) => (await echo(target, Buffer.from('ping\n'))).toString() },
  { dir: 'express', socket: 'myapp-express.socket', service: 'myapp-express.service', listens: 'tcp', name: 'web', ask: http1() },
  { dir: 'fastify', socket: 'myapp-fastify.socket', service: 'myapp-fastify.service', listens: 'tcp', name: 'web', ask: http1() },
  { dir: 'koa', socket: 'myapp-koa.socket', service: 'myapp-koa.service', listens: 'tcp', name: 'web', ask: http1() },
  { dir: 'hono', socket: 'myapp-hono.socket', service: 'myapp-hono.service', listens: 'tcp', name: 'web', ask: http1() },
  // Answers `[PID] LINE`; restarts with kept connections are tested in notify-systemd.test.ts.
  { dir: 'echo', socket: 'echo.socket', service: 'echo.service', listens: 'tcp', name: 'echo', ask: async (target) => (await echo(target, Buffer.from('ping\n'))).toString().replace(/^\[\d+\] /, '') },
  // Answers JSON with its pid; restarts and reloads under load are tested in upgrade-systemd.test.ts.
  { dir: 'zero-downtime', socket: 'web.socket', service: 'web.service', listens: 'tcp', name: 'web', ask: async (target) => (JSON.parse(await http1()(target)) as { url: string }).url },
];

/** What each example answers to its client. */
const expected: Record<string, string> = {
  http: 'hello from http\n',
  https: 'hello from https\n',
  http2: 'hello from http2 over HTTP/2.0\n',
  dgram: 'echo:ping',
  unix: 'hello from unix\n',
  cluster: 'hello from a cluster worker\n',
  accept: 'ping\n',
  express: 'hello from express\n',
  fastify: 'hello from fastify\n',
  koa: 'hello from koa\n',
  hono: 'hello from hono\n',
  echo: 'ping\n',
  'zero-downtime': '/',
};

const dir = mkdtempSync(join(tmpdir(), 'sa-examples-'));
// Named as LoadCredential= names them in the units, so `dir` works as $CREDENTIALS_DIRECTORY.
const cert = join(dir, 'tls.crt');
const key = join(dir, 'tls.key');
const server = (e: Example) => join(root, 'examples', e.dir, 'server.mjs');

beforeAll(() => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
});
afterEach(killAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples', () => {
  it('cover every directory under examples/', () => {
    const dirs = readdirSync(join(root, 'examples'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual(examples.map((e) => e.dir).sort());
  });

  it.each(examples)('$dir: the unit files pass systemd-analyze verify', ({ dir: example }) => {
    const unitDir = join(root, 'examples', example);
    const units = readdirSync(unitDir).filter((f) => /\.(socket|service)$/.test(f));
    expect(units.length).toBe(2);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => `./${u}`)], { cwd: unitDir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('examples under the launcher', () => {
  let unique = 0;
  it.each(examples)('$dir', async (e) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: unitPath() };
    for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NODE_OPTIONS']) delete env[v];
    if (e.listens === 'accept') {
      const port = await freePort();
      const ssa = start(which('systemd-socket-activate'), ['--accept', '-l', `127.0.0.1:${port}`, process.execPath, server(e)], { cwd: root, env });
      await ssa.waitFor(/Listening on 127\.0\.0\.1:\d+ as 3\./, { stream: 'stderr' });
      expect(await e.ask({ host: '127.0.0.1', port })).toBe(expected[e.dir]);
      return;
    }
    const address = { tcp: '127.0.0.1:0', udp: '127.0.0.1:0', unix: join(dir, `${e.dir}-${++unique}.sock`) }[e.listens];
    const tls = e.tls ? ['-E', `CREDENTIALS_DIRECTORY=${dir}`] : [];
    const launcher = start(process.execPath, [cli, e.listens === 'udp' ? '-d' : '-l', `${e.name}=${address}`, ...tls, '--', process.execPath, server(e)], { cwd: root, env });
    const [, where] = await launcher.waitFor(/^(?:socket-activated on|serving udp4 on) (.*)$/m);
    const target = e.listens === 'unix' ? { path: where! } : { host: '127.0.0.1', port: Number(where!.split(':').pop()) };
    expect(await e.ask(target)).toBe(expected[e.dir]);
    process.kill(launcher.pid, 'SIGTERM');
    expect(await launcher.finish()).toEqual({ code: 0, signal: null });
  });
});

describe('examples as systemd units', () => {
  let m: Manager;
  beforeAll(async () => {
    m = await startManager();
  });
  afterAll(async () => {
    await m?.stop();
  });

  /** A drop-in, as `systemctl edit UNIT` would write it. */
  function dropIn(unit: string, text: string): void {
    mkdirSync(join(m.unitDir, `${unit}.d`), { recursive: true });
    writeFileSync(join(m.unitDir, `${unit}.d`, 'test.conf'), text);
  }

  it.each(examples)('$dir', async (e) => {
    for (const unit of [e.socket, e.service]) copyFileSync(join(root, 'examples', e.dir, unit), join(m.unitDir, unit));
    let target: Target;
    let listen: string;
    if (e.listens === 'unix') {
      const path = m.path('run', `${e.dir}.sock`);
      target = { path };
      listen = `ListenStream=\nListenStream=${path}`;
    } else {
      const port = await freePort('127.0.0.1', e.listens === 'udp' ? 'udp' : 'tcp');
      target = { host: '127.0.0.1', port };
      listen = e.listens === 'udp' ? `ListenDatagram=\nListenDatagram=127.0.0.1:${port}` : `ListenStream=\nListenStream=127.0.0.1:${port}`;
    }
    dropIn(e.socket, `[Socket]\n${listen}\n`);
    dropIn(
      e.service,
      [
        '[Service]',
        'ExecStart=',
        `ExecStart=${command(process.execPath, server(e))}`,
        `WorkingDirectory=${root}`,
        'DynamicUser=no',
        environment({ PATH: unitPath() }),
        `StandardOutput=append:${m.path('logs', `${e.dir}.log`)}`,
        'StandardError=inherit',
        ...(e.tls ? ['LoadCredential=', environment({ TLS_CERT: cert, TLS_KEY: key })] : []),
        '',
      ].join('\n'),
    );
    await m.daemonReload();
    await m.systemctl('start', e.socket);
    try {
      // The first client starts the service (or, for Accept=yes, one instance for itself).
      expect(await e.ask(target), m.logs()).toBe(expected[e.dir]);
    } finally {
      await m.systemctl('stop', e.socket, ...(e.listens === 'accept' ? [] : [e.service]));
    }
  });
});
