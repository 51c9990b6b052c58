// Discovery benchmark: listeners() over 1, 100 and 1000 inherited fds, and the time to
// import the package, beside a C program (bench/floor.c) making the same syscalls over
// the same fds in the same run.
//
// listeners() judges the environment once per process and caches, so every sample is a
// fresh process: this driver opens a pool of real sockets (TCP listeners and UDP sockets,
// IPv4 and IPv6, on loopback), and for each sample starts a child activated with the first
// N of them at fds 3.. (LISTEN_PID = the child's own pid, set by `sh -c … exec`). The Node
// child (bench/fixtures/discover.mjs) and the C child alternate, in alternating order, so
// machine noise hits both alike.
//
//   node bench/discovery.mjs [--samples 40] [--sizes 1,100,1000] [--json]
//
// Needs dist/ and the built addon (`npm run build`) and a C compiler (`cc`, or $CC).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native } from '../dist/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/discover.mjs', import.meta.url));
const floorSource = fileURLToPath(new URL('./floor.c', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    samples: { type: 'string', default: '40' },
    sizes: { type: 'string', default: '1,100,1000' },
    warmup: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
  },
});
const samples = Number(opts.samples);
const warmup = Number(opts.warmup);
const sizes = opts.sizes.split(',').map(Number);
const maxN = Math.max(...sizes);

// --- the C floor, compiled now into a temp dir ---------------------------------------
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sa-bench-'));
const floorBin = path.join(tmp, 'floor');
const cc = process.env.CC || 'cc';
execFileSync(cc, ['-O2', '-o', floorBin, floorSource], { stdio: 'inherit' });

// --- the socket pool ---------------------------------------------------------------------
const n = native();
const c = n.constants;
function must(r, what) {
  if (r < 0) throw new Error(`${what} failed: ${r}`);
  return r;
}
function open(kind) {
  const [domain, host] = kind.endsWith('6') ? [c.AF_INET6, '::1'] : [c.AF_INET, '127.0.0.1'];
  const type = kind.startsWith('tcp') ? c.SOCK_STREAM : c.SOCK_DGRAM;
  const fd = must(n.socket(domain, type), `socket(${kind})`);
  if (domain === c.AF_INET6) must(n.setIntOption(fd, c.IPPROTO_IPV6, c.IPV6_V6ONLY, 1), 'setsockopt');
  must(n.bindInet(fd, domain, host, 0), `bind(${kind})`);
  if (type === c.SOCK_STREAM) must(n.listen(fd, 128), 'listen');
  return fd;
}
let kinds = ['tcp4', 'udp4', 'tcp6', 'udp6'];
try {
  n.close(open('tcp6'));
} catch {
  kinds = ['tcp4', 'udp4']; // no IPv6 loopback here
}
const pool = [];
for (let i = 0; i < maxN; i++) pool.push(open(kinds[i % kinds.length]));

// --- running one activated child -------------------------------------------------------
const baseEnv = { ...process.env };
for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NODE_OPTIONS']) delete baseEnv[v];

function runActivated(command, count) {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', ...command], {
      stdio: ['ignore', 'pipe', 'pipe', ...pool.slice(0, count)],
      env: { ...baseEnv, LISTEN_FDS: String(count), LISTEN_FDNAMES: Array.from({ length: count }, (_, i) => `s${i}`).join(':') },
      cwd: root,
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${command.join(' ')} (${count} fds) exited ${code}: ${err}${out}`));
      else resolve(out.trim());
    });
  });
}

async function ours(count) {
  const r = JSON.parse(await runActivated([process.execPath, fixture], count));
  if (r.n !== count) throw new Error(`child saw ${r.n} fds, expected ${count}`);
  return r;
}

async function floor(count) {
  const [word, got, ns, calls] = (await runActivated([floorBin], count)).split(' ');
  if (word !== 'floor' || Number(got) !== count) throw new Error(`floor printed ${word} ${got}`);
  return { ns: Number(ns), calls: Number(calls) };
}

// --- sampling -----------------------------------------------------------------------------
const results = new Map(sizes.map((s) => [s, { import: [], addon: [], listeners: [], floor: [], calls: 0 }]));
const started = Date.now();
for (let round = -warmup; round < samples; round++) {
  for (const size of sizes) {
    const pair = (round & 1) === 0 ? [ours, floor] : [floor, ours];
    const got = [];
    for (const run of pair) got.push([run, await run(size)]);
    if (round < 0) continue; // warm-up: page cache, JIT of this driver
    const r = results.get(size);
    for (const [run, value] of got) {
      if (run === ours) {
        r.import.push(value.importNs);
        r.addon.push(value.addonNs);
        r.listeners.push(value.listenersNs);
      } else {
        r.floor.push(value.ns);
        r.calls = value.calls;
      }
    }
  }
}
const elapsed = (Date.now() - started) / 1000;
for (const fd of pool) n.close(fd);
rmSync(tmp, { recursive: true, force: true });

// --- report -------------------------------------------------------------------------------
function quantile(list, q) {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const med = (l) => quantile(l, 0.5);
const p90 = (l) => quantile(l, 0.9);
const us = (ns, digits = 1) => (ns / 1000).toFixed(digits);

if (opts.json) {
  console.log(JSON.stringify(Object.fromEntries(results)));
}

console.log(`\nDiscovery: ${samples} fresh processes per fd count and program (after ${warmup} warm-up rounds), ours and floor interleaved; fd mix ${kinds.join('/')} cycled; ${elapsed.toFixed(0)} s.\n`);
console.log('| inherited fds | syscalls (floor) | `listeners()` median µs | p90 µs | µs per fd | floor median µs | floor p90 µs | floor µs per fd | ratio (median) |');
console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const size of sizes) {
  const r = results.get(size);
  const [o, f] = [med(r.listeners), med(r.floor)];
  console.log(
    `| ${size} | ${r.calls} | ${us(o)} | ${us(p90(r.listeners))} | ${us(o / size, 2)} | ${us(f)} | ${us(p90(r.floor))} | ${us(f / size, 2)} | ${(o / f).toFixed(2)}× |`,
  );
}
if (sizes.length >= 2) {
  const [a, b] = [sizes[sizes.length - 2], sizes[sizes.length - 1]];
  const [ra, rb] = [results.get(a), results.get(b)];
  const oursSlope = (med(rb.listeners) - med(ra.listeners)) / (b - a);
  const floorSlope = (med(rb.floor) - med(ra.floor)) / (b - a);
  console.log(
    `| marginal ${a}→${b} | | | | ${us(oursSlope, 2)} | | | ${us(floorSlope, 2)} | ${(oursSlope / floorSlope).toFixed(2)}× |`,
  );
}

console.log('\nModule load, same processes (all fd counts pooled):\n');
const all = (key) => sizes.flatMap((s) => results.get(s)[key]);
console.log('| step | median ms | p90 ms |');
console.log('| --- | ---: | ---: |');
console.log(`| \`await import('socket-activation')\` | ${(med(all('import')) / 1e6).toFixed(2)} | ${(p90(all('import')) / 1e6).toFixed(2)} |`);
console.log(`| addon load (first native call, lazy) | ${(med(all('addon')) / 1e6).toFixed(2)} | ${(p90(all('addon')) / 1e6).toFixed(2)} |`);
