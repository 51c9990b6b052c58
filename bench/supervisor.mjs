// Reloads and crashes under load without systemd: the `socket-activation` launcher as the
// supervisor (`node dist/cli/main.js -l web=127.0.0.1:PORT -- node SERVER`), which holds the
// listening socket for its whole life.
// Scenarios (reloads: SIGHUP to the launcher, which logs `reloaded: pid X serves, pid Y drains`):
//   drain   examples/zero-downtime/server.mjs (READY=1; SIGTERM drains, idle keep-alive
//           connections go to the fd store, which the supervisor passes to the new child)
//   plain   bench/fixtures/plain-server.mjs --fd --ready (READY=1; SIGTERM → server.close())
//   crash   examples/zero-downtime/server.mjs, SIGKILL to the serving child; the launcher logs
//           `restarting in N ms` and starts a new one
// Loads: those of bench/restarts.mjs (bench/lib/load.mjs in a worker thread).
// Usage: node bench/supervisor.mjs [--reloads N] [--kills N] [--scenarios a,b] [--loads x,y] [--crash-loads x,y]
import { spawn } from 'node:child_process';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LOADS, STATS_HEADER, delayBeforeNextEvent, latencyStats, names, now, option, percentile, printTable, servingPid, startLoad, statsCells, waitForServer } from './lib/report.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function count(flag, fallback) {
  const n = Number(option(flag, fallback));
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: expected a positive integer, found ${option(flag)}`);
  return n;
}
const reloads = count('reloads', '20');
const kills = count('kills', '10');

const web = join(root, 'examples', 'zero-downtime', 'server.mjs');
const plain = join(root, 'bench', 'fixtures', 'plain-server.mjs');
const SCENARIOS = {
  drain: { label: 'drain (fd store hand-off) + SIGHUP reload', server: [web] },
  plain: { label: 'server.close() + SIGHUP reload', server: [plain, '--fd', '--ready'] },
};
const scenarioNames = names('scenarios', { ...SCENARIOS, crash: true });
const loadNames = names('loads', LOADS);
const crashLoads = option('crash-loads', 'fresh,saturating').split(',');
for (const l of crashLoads) if (!LOADS[l]) throw new Error(`--crash-loads: unknown ${l}; expected some of ${Object.keys(LOADS)}`);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** The launcher with one child; `next(re)` resolves with the next stderr line matching `re`. */
async function startLauncher(server) {
  const port = await freePort();
  const launcher = spawn(process.execPath, [join(root, 'dist', 'cli', 'main.js'), '-l', `web=127.0.0.1:${port}`, '--', process.execPath, ...server], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = [];
  const waiting = [];
  createInterface({ input: launcher.stderr }).on('line', (line) => {
    log.push(line);
    for (const w of waiting.splice(0)) {
      const m = w.re.exec(line);
      if (m) w.resolve(m);
      else waiting.push(w);
    }
  });
  const exited = new Promise((resolve) => launcher.once('exit', (code, signal) => resolve(signal ?? code)));
  const next = (re, timeoutMs = 35_000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; launcher log:\n${log.join('\n')}`)), timeoutMs);
      waiting.push({ re, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  const pid = await waitForServer(port);
  return {
    port,
    launcher,
    log,
    next,
    firstChild: pid,
    async stop() {
      launcher.kill('SIGTERM');
      await exited;
    },
  };
}

const started = Date.now();
const reloadRows = [];
const crashRows = [];
const notes = [];

for (const loadName of loadNames) {
  for (const name of scenarioNames) {
    if (name === 'crash') continue;
    const sup = await startLauncher(SCENARIOS[name].server);
    const load = startLoad(sup.port, loadName);
    const loadStart = now();
    await sleep(3000);
    const actions = [];
    for (let i = 0; i < reloads; i++) {
      await sleep(delayBeforeNextEvent(actions.at(-1)?.t0));
      const done = sup.next(/reloaded: pid (\d+) serves|reload failed/);
      const t0 = now();
      sup.launcher.kill('SIGHUP');
      const m = await done;
      actions.push({ t0, ms: now() - t0, ok: m[1] !== undefined });
    }
    await sleep(1500);
    const result = await load.stop();
    await sup.stop();
    const stats = latencyStats(result, { from: loadStart + 500, actionTimes: actions.map((a) => a.t0) });
    const failedReloads = actions.filter((a) => !a.ok).length;
    if (failedReloads > 0) notes.push(`${name}/${loadName}: ${failedReloads} reloads failed:\n${sup.log.filter((l) => l.includes('reload failed')).join('\n')}`);
    reloadRows.push([
      SCENARIOS[name].label,
      LOADS[loadName].label,
      `${actions.length - failedReloads}/${actions.length}`,
      percentile(actions.map((a) => a.ms).sort((x, y) => x - y), 50).toFixed(0),
      ...statsCells(stats),
    ]);
    process.stderr.write(`${name} / ${loadName}: done\n`);
  }
}

if (scenarioNames.includes('crash')) {
  for (const loadName of crashLoads) {
    const sup = await startLauncher(SCENARIOS.drain.server);
    let serving = sup.firstChild;
    const load = startLoad(sup.port, loadName);
    const loadStart = now();
    await sleep(3000);
    const killTimes = [];
    const restartMs = [];
    for (let i = 0; i < kills; i++) {
      // The supervisor gives up after 6 crashes within 10 s (systemd's default start limit):
      // kills at least 2.1 s apart stay under it.
      await sleep(Math.max(300 + Math.random() * 200, (killTimes.at(-1) ?? 0) + 2100 - now()));
      const restarting = sup.next(/restarting in (\d+) ms/);
      const t = now();
      process.kill(serving, 'SIGKILL');
      killTimes.push(t);
      await restarting;
      // Queued in the supervisor's listener until the new child accepts.
      const pid = await servingPid(sup.port);
      if (pid === serving) throw new Error(`pid ${pid} still answers after SIGKILL`);
      serving = pid;
      restartMs.push(now() - t);
    }
    await sleep(1500);
    const result = await load.stop();
    await sup.stop();
    // Each failure belongs to the last kill before it ended: a request started before that kill
    // was in flight in the killed process; one started after it either went on a keep-alive
    // connection the killed process had accepted (the client had not seen it close yet) or on
    // a new connection, which must never fail: the listener stays open and connections queue.
    const byKind = { inFlight: 0, reusedAfter: 0, newAfter: 0, noKill: 0 };
    const codes = new Map();
    for (let i = 0; i < result.starts.length; i++) {
      if (result.errors[i] === '') continue;
      codes.set(result.errors[i], (codes.get(result.errors[i]) ?? 0) + 1);
      const end = result.starts[i] + result.latencies[i];
      const kill = killTimes.filter((t) => t <= end).at(-1);
      if (kill === undefined) byKind.noKill++;
      else if (result.starts[i] < kill) byKind.inFlight++;
      else if (result.reused[i]) byKind.reusedAfter++;
      else byKind.newAfter++;
    }
    const stats = latencyStats(result, { from: loadStart + 500, actionTimes: killTimes });
    crashRows.push([
      LOADS[loadName].label,
      `${restartMs.length}/${kills}`,
      percentile(restartMs.sort((x, y) => x - y), 50).toFixed(0),
      ...statsCells(stats).slice(0, 2),
      byKind.inFlight,
      byKind.reusedAfter,
      byKind.newAfter,
      byKind.noKill,
      ...statsCells(stats).slice(2),
    ]);
    process.stderr.write(`crash / ${loadName}: done\n`);
  }
}

const seconds = Math.round((Date.now() - started) / 1000);
if (reloadRows.length > 0) {
  console.log(
    `Supervisor reloads: ${reloads} SIGHUP per scenario and load, each 2–2.5 s after the previous one (and ≥ 300 ms after it completed), after 3 s of load; ` +
      `latencies of successful requests in ms; window = requests overlapping [t, t + 1 s) for each SIGHUP at t; ` +
      `steady = the requests of the same run overlapping no window (the load's first 0.5 s dropped); (n) = requests counted; ${seconds} s in all.`,
  );
  console.log('');
  printTable(['scenario', 'load', 'reloaded', 'SIGHUP → reloaded median ms', ...STATS_HEADER], reloadRows, ['scenario', 'load', 'failed (by error)']);
}
if (crashRows.length > 0) {
  console.log('');
  console.log(
    `Supervisor crashes: ${kills} SIGKILL to the serving child of examples/zero-downtime/server.mjs per load, at least 2.1 s apart; ` +
      `restart = SIGKILL → a new request answered by the new child; failures by the last kill before they ended: ` +
      `in flight (started before it), after it on a keep-alive connection of the killed child, after it on a new connection, before any kill; ` +
      `window = requests overlapping [t, t + 1 s) for each kill at t; steady = the requests overlapping no window.`,
  );
  console.log('');
  printTable(
    ['load', 'restarted', 'restart median ms', 'requests ok', 'failed (by error)', 'in flight', 'after, kept conn.', 'after, new conn.', 'before any kill', 'p50', 'p99', 'max', 'steady p99 (n)', 'window p99 (n)', 'window / steady'],
    crashRows,
    ['load', 'failed (by error)'],
  );
}
for (const n of notes) console.log(`\n${n}`);
