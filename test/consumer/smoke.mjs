// The smoke test each Node version runs with its own test runner (`node --test smoke.mjs`),
// inside a project that installed the packed tarball: the prebuilt addon loads, and the ESM and
// CommonJS consumers serve real clients on real inherited fds under the package's launcher.
// Everything here (launcher, apps, clients) runs on the Node version under test.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = dirname(createRequire(import.meta.url).resolve('socket-activation/package.json'));
const launcher = join(packageDir, 'dist', 'cli', 'main.js');
const prebuild = join(packageDir, 'prebuilds', `linux-${process.arch}`, 'socket-activation.glibc.node');
const TIMEOUT = 20_000;

/** Runs the launcher with these arguments; `line(TAG)` resolves with the JSON the app prints after TAG. */
function launch(args) {
  const child = spawn(process.execPath, [launcher, ...args], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const line = (tag) =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        const m = out.match(new RegExp(`^${tag} (.*)$`, 'm'));
        if (m) resolve(JSON.parse(m[1]));
        else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`exited before ${tag}\n${out}\n${err}`));
        else if (Date.now() - started > TIMEOUT) reject(new Error(`no ${tag} within ${TIMEOUT} ms\n${out}\n${err}`));
        else return;
        clearInterval(poll);
      }, 20);
    });
  return { child, exited, line };
}

function get(options) {
  return new Promise((resolve, reject) => {
    const req = http.get({ ...options, agent: false, timeout: TIMEOUT }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('GET timed out')));
    req.on('error', reject);
  });
}

function udp(port, payload) {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no UDP reply')), TIMEOUT);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg.toString());
    });
    socket.send(payload, port, '127.0.0.1');
  }).finally(() => socket.close());
}

const local = (report, name) => report.descriptors.find((d) => d.name === name).local;

test('the prebuilt binary for this platform is the one loaded (nothing was compiled)', () => {
  assert.equal(existsSync(join(packageDir, 'build')), false);
  const load = createRequire(join(packageDir, 'package.json'))('node-gyp-build');
  assert.equal(load.resolve(packageDir), prebuild);
  assert.equal(typeof load(packageDir).inspect, 'function');
});

test('ES module consumer under the launcher: HTTP, UDP and a unix socket with real clients', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sa-smoke-'));
  const api = join(dir, 'api.sock');
  const run = launch(['-l', 'web=127.0.0.1:0', '-d', 'dns=127.0.0.1:0', '-l', `api=${api}`, '--', process.execPath, join(here, 'app.mjs')]);
  try {
    const report = await run.line('READY');
    assert.equal(report.format, 'esm');
    assert.equal(report.addon, prebuild);
    assert.deepEqual(
      report.descriptors.map(({ fd, name, type, family, listening }) => ({ fd, name, type, family, listening })),
      [
        { fd: 3, name: 'web', type: 'stream', family: 'inet', listening: true },
        { fd: 4, name: 'dns', type: 'dgram', family: 'inet', listening: false },
        { fd: 5, name: 'api', type: 'stream', family: 'unix', listening: true },
      ],
    );
    const web = await get({ host: '127.0.0.1', port: local(report, 'web').port });
    assert.deepEqual(web, { status: 200, body: `hello from esm on ${process.arch} node ${process.version}\n` });
    assert.equal(await udp(local(report, 'dns').port, 'ping'), 'echo:ping');
    const unix = await get({ socketPath: local(report, 'api').path });
    assert.equal(unix.status, 200);
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  } finally {
    run.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CommonJS consumer (require) under the launcher: the CommonJS build serves a real client', async () => {
  const run = launch(['-l', 'web=127.0.0.1:0', '--', process.execPath, join(here, 'app.cjs')]);
  try {
    const report = await run.line('READY');
    assert.equal(report.format, 'cjs');
    assert.equal(report.entry, join(packageDir, 'dist', 'cjs', 'index.js'));
    assert.equal(report.addon, prebuild);
    const web = await get({ host: '127.0.0.1', port: local(report, 'web').port });
    assert.deepEqual(web, { status: 200, body: `hello from cjs on ${process.arch} node ${process.version}\n` });
    assert.deepEqual(await run.line('LOOKUP'), { isClass: true, code: 'ERR_LISTENER_NOT_FOUND' });
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
  } finally {
    run.child.kill('SIGKILL');
  }
});

test('a broken LISTEN_FDS is a clear error with its code, not a crash', () => {
  const script = "import('socket-activation').then((sa) => { try { sa.listeners(); } catch (err) { console.log(err.code, err.variable); } })";
  const r = spawnSync('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=abc exec "$0" -e "$1"', process.execPath, script], { cwd: here, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ERR_LISTEN_FDS LISTEN_FDS');
});
