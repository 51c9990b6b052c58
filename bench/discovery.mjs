// Discovery benchmark: listeners() over 1, 100 and 1000 inherited fds, and the time to
// import the package, beside a C program (bench/floor.c) making the same syscalls over
// the same fds in the same run.
//
// listeners() judges the environment once per process and caches, so every sample is a
// fresh process: this driver opens a pool of real sockets (TCP listeners and UDP sockets,
// IPv4 and IPv6, on loopback), and for each sample starts a child activated with the first
// N of them at fds 3.. (LISTEN_PID = the child's own pid, set by `sh -c … exec`). The Node
// child (bench/fixtures/discover.mjs) and the C child alternate, in rotating order, so
// machine noise hits both alike. A third child (bench/fixtures/native-floor.mjs) makes the
// addon's call alone, with none of the package's JavaScript: what any Node addon pays.
//
//   node bench/discovery.mjs [--samples 40] [--sizes 1,100,1000] [--warmup 3]
//                            [--also DIR[,DIR…]] [--no-check-syscalls] [--json]
//
// --also DIR  also runs the package copy at DIR (a checkout with its own dist/, addon,
//             package.json and bench/fixtures/discover.mjs) in the same interleaved run:
//             compare a change with the tree it came from, under the same noise.
// The syscall check runs both children once under strace (when installed) and compares
// the syscalls they make on the inherited fds.
//
// Needs dist/ and the built addon (`npm run build`) and a C compiler (`cc`, or $CC).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { native } from '../dist/native.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const floorSource = fileURLToPath(new URL('./floor.c', import.meta.url));
const glibcCompat = fileURLToPath(new URL('../native/glibc-compat.c', import.meta.url));
const importReference = fileURLToPath(new URL('./fixtures/import-reference.mjs', import.meta.url));
const nativeFloor = fileURLToPath(new URL('./fixtures/native-floor.mjs', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    samples: { type: 'string', default: '40' },
    sizes: { type: 'string', default: '1,100,1000' },
    warmup: { type: 'string', default: '3' },
    also: { type: 'string', default: '' },
    'no-check-syscalls': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const samples = Number(opts.samples);
const warmup = Number(opts.warmup);
const sizes = opts.sizes.split(',').map(Number);
const maxN = Math.max(...sizes);

// --- the programs -------------------------------------------------------------------------
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sa-bench-'));
const floorBin = path.join(tmp, 'floor');
const cc = process.env.CC || 'cc';
// With native/glibc-compat.c and the addon's 64-bit file offsets, its fstat is the addon's:
// glibc 2.33 and later would make it newfstatat(fd, "", AT_EMPTY_PATH) instead.
execFileSync(cc, ['-O2', '-D_FILE_OFFSET_BITS=64', '-o', floorBin, floorSource, glibcCompat], { stdio: 'inherit' });

const variants = [root, ...opts.also.split(',').filter(Boolean).map((d) => path.resolve(d))].map((dir, i) => ({
  label: i === 0 ? 'ours' : `also ${i}`,
  dir,
  command: [process.execPath, path.join(dir, 'bench', 'fixtures', 'discover.mjs')],
}));

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
const TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"';
const baseEnv = { ...process.env };
for (const v of ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NODE_OPTIONS']) delete baseEnv[v];

function runActivated(command, count, { cwd = root, wrap = [] } = {}) {
  return new Promise((resolve, reject) => {
    const argv = [...wrap, '/bin/sh', '-c', TRAMPOLINE, 'sh', ...command];
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe', ...pool.slice(0, count)],
      env: count > 0 ? { ...baseEnv, LISTEN_FDS: String(count), LISTEN_FDNAMES: Array.from({ length: count }, (_, i) => `s${i}`).join(':') } : baseEnv,
      cwd,
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

async function runNode(variant, count) {
  const r = JSON.parse(await runActivated(variant.command, count, { cwd: variant.dir }));
  if (r.n !== count) throw new Error(`child saw ${r.n} fds, expected ${count}`);
  return r;
}

async function runNativeFloor(count) {
  const r = JSON.parse(await runActivated([process.execPath, nativeFloor], count));
  if (r.n !== count) throw new Error(`native floor saw ${r.n} fds, expected ${count}`);
  return r;
}

async function runFloor(count) {
  const [word, got, ns, calls] = (await runActivated([floorBin], count)).split(' ');
  if (word !== 'floor' || Number(got) !== count) throw new Error(`floor printed ${word} ${got}`);
  return { ns: Number(ns), calls: Number(calls) };
}

// --- syscall parity (strace) -------------------------------------------------------------
function hasStrace() {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// The syscalls a traced child made on fds 3..3+count-1, in order, pointers blanked out.
async function tracedCalls(command, count, label) {
  const file = path.join(tmp, `${label}.trace`);
  await runActivated(command, count, { wrap: ['strace', '-f', '-qq', '-o', file] });
  const fdPattern = new RegExp(`^\\d+ +([a-z0-9_]+)\\((${Array.from({ length: count }, (_, i) => i + 3).join('|')})[,)](.*)$`);
  const calls = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = fdPattern.exec(line);
    if (!m) continue;
    const [, name, fd, rest] = m;
    // Node's start-up (and the floor's untimed copy of it) sets FD_CLOEXEC first; compare what follows.
    calls.push(`${name}(${fd}${rest.replace(/0x[0-9a-f]+/g, 'PTR').replace(/htons\(\d+\)/g, 'PORT').replace(/ = .*$/, '')}`);
  }
  return calls;
}

async function checkSyscalls() {
  const count = Math.min(8, maxN);
  const ours = await tracedCalls(variants[0].command, count, 'ours');
  const floor = await tracedCalls([floorBin], count, 'floor');
  // The first index where they differ, counting the end of the shorter one as a difference.
  let at = 0;
  while (at < Math.max(ours.length, floor.length) && ours[at] === floor[at]) at++;
  const same = at === ours.length && at === floor.length;
  let note = `Syscalls on the ${count} inherited fds (strace, whole child): ours ${ours.length}, floor ${floor.length}, same sequence: ${same ? 'yes' : 'NO'}.`;
  if (!same) {
    const show = (list) => (at < list.length ? `\`${list[at]}\`` : '(no more calls)');
    note += ` First difference at #${at}: ours ${show(ours)}, floor ${show(floor)}.`;
  }
  return note;
}

// --- sampling -----------------------------------------------------------------------------
const programs = [
  ...variants.map((v) => ({ label: v.label, run: (count) => runNode(v, count) })),
  { label: 'floor', run: runFloor },
  { label: 'native', run: runNativeFloor },
];
const results = new Map(sizes.map((s) => [s, new Map(programs.map((p) => [p.label, { import: [], addon: [], listeners: [], ns: [], parse: [], calls: 0 }]))]));
const reference = { empty: [], builtins: [] };
const started = Date.now();
for (let round = -warmup; round < samples; round++) {
  // Once a round, the import reference (not activated: no fds needed).
  const ref = JSON.parse(await runActivated([process.execPath, importReference], 0));
  if (round >= 0) {
    reference.empty.push(ref.emptyNs);
    reference.builtins.push(ref.builtinsNs);
  }
  for (const size of sizes) {
    const shift = ((round % programs.length) + programs.length) % programs.length;
    const order = [...programs.slice(shift), ...programs.slice(0, shift)];
    const got = [];
    for (const p of order) got.push([p.label, await p.run(size)]);
    if (round < 0) continue; // warm-up: page cache, this driver's JIT
    for (const [label, value] of got) {
      const r = results.get(size).get(label);
      if (label === 'floor') {
        r.ns.push(value.ns);
        r.calls = value.calls;
      } else if (label === 'native') {
        r.ns.push(value.callNs);
        r.parse.push(value.callNs + value.parseNs);
      } else {
        r.import.push(value.importNs);
        r.addon.push(value.addonNs);
        r.listeners.push(value.listenersNs);
      }
    }
  }
}
const elapsed = (Date.now() - started) / 1000;
const syscallNote = opts['no-check-syscalls'] ? '' : hasStrace() ? await checkSyscalls() : 'Syscall check skipped: strace is not installed.';
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
  console.log(JSON.stringify(Object.fromEntries([...results].map(([size, m]) => [size, Object.fromEntries(m)]))));
}

console.log(
  `\nDiscovery: ${samples} fresh processes per fd count and program (after ${warmup} warm-up rounds), interleaved in rotating order; ` +
    `fd mix ${kinds.join('/')} cycled; ${elapsed.toFixed(0)} s.` +
    (variants.length > 1 ? ` Programs: ${variants.map((v) => `${v.label} = ${v.dir}`).join('; ')}.` : ''),
);
if (syscallNote) console.log(`${syscallNote}`);
console.log('');
const labelColumn = variants.length > 1 ? ' program |' : '';
console.log(`| inherited fds |${labelColumn} syscalls (floor) | \`listeners()\` median µs | p90 µs | µs per fd | floor median µs | floor p90 µs | floor µs per fd | ratio (median) |`);
console.log(`| ---: |${variants.length > 1 ? ' --- |' : ''} ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const size of sizes) {
  const floor = results.get(size).get('floor');
  const f = med(floor.ns);
  for (const v of variants) {
    const r = results.get(size).get(v.label);
    const o = med(r.listeners);
    console.log(
      `| ${size} |${variants.length > 1 ? ` ${v.label} |` : ''} ${floor.calls} | ${us(o)} | ${us(p90(r.listeners))} | ${us(o / size, 2)} | ${us(f)} | ${us(p90(floor.ns))} | ${us(f / size, 2)} | ${(o / f).toFixed(2)}× |`,
    );
  }
}
if (sizes.length >= 2) {
  const [a, b] = [sizes[sizes.length - 2], sizes[sizes.length - 1]];
  const slope = (label, key) => (med(results.get(b).get(label)[key]) - med(results.get(a).get(label)[key])) / (b - a);
  const floorSlope = slope('floor', 'ns');
  for (const v of variants) {
    const s = slope(v.label, 'listeners');
    console.log(
      `| marginal ${a}→${b} |${variants.length > 1 ? ` ${v.label} |` : ''} | | | ${us(s, 2)} | | | ${us(floorSlope, 2)} | ${(s / floorSlope).toFixed(2)}× |`,
    );
  }
}

console.log(
  '\nThe addon\'s call alone (bench/fixtures/native-floor.mjs: first inspectRange() in a fresh process, after the same module and addon loads, then JSON.parse of its text), same run:\n',
);
console.log('| inherited fds | native call median µs | call + JSON.parse median µs | ratio to the floor | `listeners()` (ours) ÷ call + parse |');
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const size of sizes) {
  const r = results.get(size);
  const withParse = med(r.get('native').parse);
  console.log(
    `| ${size} | ${us(med(r.get('native').ns))} | ${us(withParse)} | ${(withParse / med(r.get('floor').ns)).toFixed(2)}× | ${(med(r.get('ours').listeners) / withParse).toFixed(2)}× |`,
  );
}

console.log('\nModule load, same processes (all fd counts pooled):\n');
const all = (label, key) => sizes.flatMap((s) => results.get(s).get(label)[key]);
console.log(`|${labelColumn} step | median ms | p90 ms |`);
console.log(`|${variants.length > 1 ? ' --- |' : ''} --- | ---: | ---: |`);
const ms = (ns) => (ns / 1e6).toFixed(2);
const refLabel = variants.length > 1 ? ' reference |' : '';
console.log(`|${refLabel} reference: \`await import()\` of an empty local module (ESM loader alone) | ${ms(med(reference.empty))} | ${ms(p90(reference.empty))} |`);
console.log(`|${refLabel} reference: then the built-ins the package imports (node:net, node:dgram, …) | ${ms(med(reference.builtins))} | ${ms(p90(reference.builtins))} |`);
for (const v of variants) {
  const l = variants.length > 1 ? ` ${v.label} |` : '';
  console.log(`|${l} \`await import('socket-activation')\` | ${ms(med(all(v.label, 'import')))} | ${ms(p90(all(v.label, 'import')))} |`);
  console.log(`|${l} addon load (first native call, lazy) | ${ms(med(all(v.label, 'addon')))} | ${ms(p90(all(v.label, 'addon')))} |`);
}
