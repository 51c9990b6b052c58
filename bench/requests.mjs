// Requests/s through an adopted fd ÷ requests/s with a plain server.listen(port): a check
// that adoption adds nothing once the server runs. The same hello-world server
// (bench/fixtures/hello.mjs) is started twice — under the launcher with
// listen(server, 'web'), and with server.listen(0, '127.0.0.1') — and loaded in turns,
// alternating which goes first, with the same load generator settings.
//
//   node bench/requests.mjs [--rounds 8] [--duration 4] [--connections 50] [--threads 1]
//                           [--tool wrk|autocannon]
//
// Load generator: wrk when it is on PATH (Debian: apt-get install wrk), else autocannon
// through npx (fetched from the npm registry on first use; not a dependency).
// Needs dist/ and the built addon (`npm run build`).
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const hello = fileURLToPath(new URL('./fixtures/hello.mjs', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    tool: { type: 'string' },
  },
});
const rounds = Number(opts.rounds);
const duration = Number(opts.duration);
const connections = Number(opts.connections);
const threads = Number(opts.threads);

function has(command, args) {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch (err) {
    return err.code !== 'ENOENT' && err.status !== 127;
  }
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${err}${out}`))));
  });
}

function ms(text) {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
}

const useWrk = opts.tool ? opts.tool === 'wrk' : has('wrk', ['--version']);
function wrkVersion() {
  try {
    return execFileSync('wrk', ['--version'], { encoding: 'utf8' });
  } catch (err) {
    return String(err.stdout ?? ''); // wrk --version prints its usage and exits 1
  }
}
const tool = useWrk ? `wrk ${wrkVersion().split(' ')[1]}` : 'autocannon (npx)';

/** One load run: { rps, p50, p99 } (latency in ms). */
async function load(port, seconds) {
  const url = `http://127.0.0.1:${port}/`;
  if (useWrk) {
    const out = await run('wrk', ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--latency', url]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const p50 = ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const p99 = ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
    if (errors) throw new Error(`wrk reported errors: ${errors[0]}`);
    if (!Number.isFinite(rps)) throw new Error(`cannot parse wrk output:\n${out}`);
    return { rps, p50, p99 };
  }
  const out = await run('npx', ['--yes', 'autocannon', '-j', '-c', String(connections), '-w', String(threads), '-d', String(seconds), url]);
  const r = JSON.parse(out);
  if (r.errors || r.non2xx) throw new Error(`autocannon reported ${r.errors} errors, ${r.non2xx} non-2xx`);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 };
}

function start(label, command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root });
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${label} server did not start`)), 15_000);
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buffer += d;
      const m = /ready (\d+)/.exec(buffer);
      if (m) {
        clearTimeout(timer);
        resolve({ label, child, port: Number(m[1]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`${label} server exited (${code}) before it was ready`)));
  });
}

const servers = [
  // Under the launcher: the socket is bound by the launcher and adopted with listen(server, 'web').
  await start('adopted', process.execPath, [cli, '-l', 'web=127.0.0.1:0', '--', process.execPath, hello, 'adopted']),
  await start('direct', process.execPath, [hello, 'direct']),
];

const results = new Map(servers.map((s) => [s.label, []]));
const started = Date.now();
try {
  for (const s of servers) await load(s.port, Number(opts.warmup)); // JIT, connection setup
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) results.get(s.label).push(await load(s.port, duration));
  }
} finally {
  for (const s of servers) s.child.kill('SIGTERM');
}
const elapsed = (Date.now() - started) / 1000;

const median = (list) => {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const [adopted, direct] = [results.get('adopted'), results.get('direct')];
const ratio = median(adopted.map((r) => r.rps)) / median(direct.map((r) => r.rps));

console.log(
  `\nRequests: hello-world http server, ${tool}, ${threads} thread(s), ${connections} connections, ${rounds} rounds × ${duration} s per server (after ${opts.warmup} s warm-up each), order alternating; ${elapsed.toFixed(0)} s.\n`,
);
console.log('| server | requests/s per round | median requests/s | median p50 latency ms | median p99 latency ms |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const [label, list] of [
  ["adopted: launcher + `listen(server, 'web')`", adopted],
  ["direct: `server.listen(0, '127.0.0.1')`", direct],
]) {
  console.log(
    `| ${label} | ${list.map((r) => Math.round(r.rps)).join(', ')} | ${Math.round(median(list.map((r) => r.rps)))} | ${median(list.map((r) => r.p50)).toFixed(2)} | ${median(list.map((r) => r.p99)).toFixed(2)} |`,
  );
}
// The two runs of a round are back to back, so their ratio sees the least drift in machine load.
const paired = adopted.map((r, i) => r.rps / direct[i].rps);
console.log(`\nRatio adopted ÷ direct (medians): **${ratio.toFixed(3)}**; per-round ratios: ${paired.map((x) => x.toFixed(2)).join(', ')} (median ${median(paired).toFixed(3)}).`);
