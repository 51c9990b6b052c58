// Restarts and hot upgrades under load, under a private real systemd user manager (the one
// test/helpers/systemd.ts starts: root, `unshare -m`, /usr/lib/systemd/systemd --user).
// Scenarios, each with its own units:
//   own-port    a service binding its own port, `systemctl restart` (server.close on SIGTERM)
//   bare-fd     a socket unit + bare server.listen({ fd: 3 }), restart (server.close on SIGTERM)
//   terminator  the same with http-terminator's terminate() on SIGTERM (only when installed)
//   drain       a socket unit + examples/zero-downtime/server.mjs (drain, fd-store hand-off), restart
//   upgrade     the same service, `systemctl reload` (hot upgrade, ExecReload=… reload $MAINPID)
// Loads (bench/lib/load.mjs, in a worker thread): a fresh connection per request; saturating
// keep-alive; keep-alive clients pausing a random 0–200 ms between requests.
// Usage: node bench/restarts.mjs [--restarts N] [--scenarios a,b] [--loads x,y]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}
const restarts = Number(option('restarts', '20'));
if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`--restarts: expected a positive integer, found ${option('restarts')}`);

const LOADS = {
  fresh: { clients: 4, label: 'fresh connection per request (4 loops)' },
  saturating: { clients: 32, label: 'keep-alive, saturating (32 connections)' },
  paused: { clients: 32, label: 'keep-alive, 0–200 ms pauses (32 connections)' },
};

// test/helpers/systemd.ts is TypeScript: compile it (alone, it imports only node:*) instead of
// keeping a second copy of the manager here.
async function loadManagerHelper() {
  const out = mkdtempSync(join(tmpdir(), 'sa-bench-helper-'));
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  execFileSync(process.execPath, [
    require.resolve('typescript/bin/tsc'), '--outDir', out, '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--types', 'node', '--skipLibCheck', join(root, 'test', 'helpers', 'systemd.ts'),
  ], { cwd: root, stdio: 'inherit' });
  const helper = await import(pathToFileURL(join(out, 'systemd.js')).href);
  rmSync(out, { recursive: true, force: true });
  return helper;
}

let terminatorAvailable = true;
try {
  require.resolve('http-terminator');
} catch {
  terminatorAvailable = false;
}

const now = () => performance.timeOrigin + performance.now();

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main() {
  const { command, freePort, startManager } = await loadManagerHelper();
  const node = process.execPath;
  const plain = join(root, 'bench', 'fixtures', 'plain-server.mjs');
  const web = join(root, 'examples', 'zero-downtime', 'server.mjs');
  const cli = join(root, 'dist', 'cli', 'main.js');

  const SCENARIOS = {
    'own-port': { action: 'restart', label: 'own port + restart', socket: false, exec: (port) => command(node, plain, '--port', String(port)) },
    'bare-fd': { action: 'restart', label: 'socket unit + bare listen({fd:3}) + restart', socket: true, exec: () => command(node, plain, '--fd') },
    terminator: { action: 'restart', label: 'socket unit + http-terminator + restart', socket: true, exec: () => command(node, plain, '--fd', '--terminator') },
    drain: { action: 'restart', label: 'socket unit + drain (fd store) + restart', socket: true, notify: true, exec: () => command(node, web) },
    upgrade: { action: 'reload', label: 'hot upgrade (systemctl reload)', socket: true, notify: true, exec: () => command(node, web) },
  };
  const scenarioNames = option('scenarios', Object.keys(SCENARIOS).join(',')).split(',');
  const loadNames = option('loads', Object.keys(LOADS).join(',')).split(',');
  for (const s of scenarioNames) if (!SCENARIOS[s]) throw new Error(`--scenarios: unknown ${s}; expected some of ${Object.keys(SCENARIOS)}`);
  for (const l of loadNames) if (!LOADS[l]) throw new Error(`--loads: unknown ${l}; expected some of ${Object.keys(LOADS)}`);

  const m = await startManager();
  const started = Date.now();
  const rows = [];
  const notes = [];
  try {
    const ports = {};
    for (const name of scenarioNames) {
      const s = SCENARIOS[name];
      if (name === 'terminator' && !terminatorAvailable) continue;
      const port = (ports[name] = await freePort());
      if (s.socket) m.writeUnit(`${name}.socket`, `[Socket]\nListenStream=127.0.0.1:${port}\nFileDescriptorName=web\nBacklog=4096\n`);
      m.writeUnit(
        `${name}.service`,
        `[Unit]
StartLimitIntervalSec=0
[Service]
Type=${s.notify ? 'notify' : 'simple'}
ExecStart=${s.exec(port)}
${s.action === 'reload' ? `ExecReload=${command(node, cli, 'reload')} $MAINPID` : ''}
${s.notify ? 'FileDescriptorStoreMax=4096' : ''}
WorkingDirectory=${root}
TimeoutStopSec=30
StandardOutput=append:${m.path('logs', `${name}.log`)}
StandardError=inherit`,
      );
    }
    await m.daemonReload();

    for (const loadName of loadNames) {
      for (const name of scenarioNames) {
        if (name === 'terminator' && !terminatorAvailable) continue;
        const s = SCENARIOS[name];
        const port = ports[name];
        await m.systemctl('start', s.socket ? `${name}.socket` : `${name}.service`);
        if (s.socket) await m.systemctl('start', `${name}.service`);
        await m.waitForUnit(`${name}.service`, { ActiveState: 'active' });
        for (let i = 0; i < 50; i++) {
          try {
            await fetch(`http://127.0.0.1:${port}/warm`).then((r) => r.text());
            break;
          } catch {
            await sleep(100);
          }
        }

        const worker = new Worker(new URL('./lib/load.mjs', import.meta.url), { workerData: { port, kind: loadName, clients: LOADS[loadName].clients } });
        const loadStart = now();
        await sleep(3000);
        const actions = [];
        for (let i = 0; i < restarts; i++) {
          await sleep(300 + Math.random() * 200);
          const before = (await m.show(`${name}.service`, 'MainPID')).MainPID;
          const t0 = now();
          const r = await m.systemctlRun(s.action, `${name}.service`);
          const t1 = now();
          const after = (await m.show(`${name}.service`, 'MainPID')).MainPID;
          actions.push({ t0, ms: t1 - t0, ok: r.code === 0, newPid: after !== before && after !== '0', err: r.stderr.trim() });
        }
        await sleep(1000);
        worker.postMessage('stop');
        const [{ starts, latencies, errors }] = await new Promise((resolve, reject) => {
          worker.once('message', (msg) => resolve([msg]));
          worker.once('error', reject);
        });
        await worker.terminate();
        await m.systemctlRun('stop', `${name}.service`);
        if (s.socket) await m.systemctlRun('stop', `${name}.socket`);

        const steadyFrom = loadStart + 500;
        const steadyTo = actions[0].t0;
        const okAll = [];
        const steady = [];
        const windowed = [];
        const failed = new Map();
        for (let i = 0; i < starts.length; i++) {
          if (errors[i] !== '') {
            failed.set(errors[i], (failed.get(errors[i]) ?? 0) + 1);
            continue;
          }
          const start = starts[i];
          const end = start + latencies[i];
          okAll.push(latencies[i]);
          if (start >= steadyFrom && end < steadyTo) steady.push(latencies[i]);
          if (actions.some((a) => end >= a.t0 && start < a.t0 + 1000)) windowed.push(latencies[i]);
        }
        for (const a of [okAll, steady, windowed]) a.sort((x, y) => x - y);
        const steadyP99 = percentile(steady, 99);
        const windowP99 = percentile(windowed, 99);
        const actionMs = actions.map((a) => a.ms).sort((x, y) => x - y);
        const badActions = actions.filter((a) => !a.ok || !a.newPid);
        for (const a of badActions) notes.push(`${name}/${loadName}: ${s.action} ${a.ok ? 'kept the same main pid' : `failed: ${a.err}`}`);
        rows.push([
          s.label,
          LOADS[loadName].label,
          `${actions.length - badActions.length}/${actions.length}`,
          percentile(actionMs, 50).toFixed(0),
          okAll.length,
          failed.size === 0 ? '0' : [...failed].sort((x, y) => y[1] - x[1]).map(([code, n]) => `${n} ${code}`).join(', '),
          percentile(okAll, 50).toFixed(2),
          percentile(okAll, 99).toFixed(2),
          okAll.length ? okAll[okAll.length - 1].toFixed(1) : 'NaN',
          steadyP99.toFixed(2),
          windowP99.toFixed(2),
          `${(windowP99 / steadyP99).toFixed(2)}×`,
        ]);
        process.stderr.write(`${name} / ${loadName}: done\n`);
      }
    }
  } catch (err) {
    console.error(m.logs());
    throw err;
  } finally {
    await m.stop();
  }

  const seconds = Math.round((Date.now() - started) / 1000);
  console.log(
    `Restarts and upgrades: ${restarts} per scenario and load, 300–500 ms apart, after 3 s of steady load; ` +
      `latencies of successful requests in ms; window = requests overlapping [t, t + 1 s) for each systemctl call at t; ` +
      `steady = the 3 s before the first call (first 0.5 s dropped); ${seconds} s.`,
  );
  if (!terminatorAvailable) console.log('http-terminator is not installed: its scenario was not run (`npm install --no-save http-terminator`).');
  console.log('');
  const header = ['scenario', 'load', 'new pid', 'systemctl median ms', 'requests ok', 'failed (by error)', 'p50', 'p99', 'max', 'steady p99', 'window p99', 'window / steady'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((_, i) => (i < 2 || i === 5 ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  for (const n of notes) console.log(`\n${n}`);
}

await main();
