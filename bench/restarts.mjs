// Restarts and hot upgrades under load, under a private real systemd user manager (the one
// test/helpers/systemd.ts starts: root, `unshare -m`, /usr/lib/systemd/systemd --user).
// Scenarios, each with its own units:
//   own-port    a service binding its own port, `systemctl restart` (server.close on SIGTERM)
//   bare-fd     a socket unit + bare server.listen({ fd: 3 }), restart (server.close on SIGTERM)
//   terminator  the same with http-terminator's terminate() on SIGTERM (only when installed)
//   drain       a socket unit + examples/zero-downtime/server.mjs (drain, fd-store hand-off), restart
//   upgrade     the same service, `systemctl reload` (hot upgrade, ExecReload=bin/socket-activation-reload
//               $MAINPID, the native reload command)
//   upgrade-node-reload  the same with ExecReload=node dist/cli/main.js reload $MAINPID (the Node
//               command it replaces; both in one run show what the native one changes)
//   prototype   issue 4's "fork-and-hand-over prototype" without the library
//               (bench/fixtures/prototype-upgrade.mjs), `systemctl reload`: the baseline of the
//               upgrade's window ratio
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
import { LOADS, STATS_HEADER, delayBeforeNextEvent, latencyStats, names, now, option, percentile, printTable, startLoad, statsCells, waitForServer } from './lib/report.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const restarts = Number(option('restarts', '20'));
if (!Number.isInteger(restarts) || restarts < 1) throw new Error(`--restarts: expected a positive integer, found ${option('restarts')}`);

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

async function main() {
  const { command, freePort, startManager } = await loadManagerHelper();
  const node = process.execPath;
  const plain = join(root, 'bench', 'fixtures', 'plain-server.mjs');
  const web = join(root, 'examples', 'zero-downtime', 'server.mjs');
  const cli = join(root, 'dist', 'cli', 'main.js');
  const reloadCommand = join(root, 'bin', 'socket-activation-reload');
  const prototype = join(root, 'bench', 'fixtures', 'prototype-upgrade.mjs');

  const SCENARIOS = {
    'own-port': { action: 'restart', label: 'own port + restart', socket: false, exec: (port) => command(node, plain, '--port', String(port)) },
    'bare-fd': { action: 'restart', label: 'socket unit + bare listen({fd:3}) + restart', socket: true, exec: () => command(node, plain, '--fd') },
    terminator: { action: 'restart', label: 'socket unit + http-terminator + restart', socket: true, exec: () => command(node, plain, '--fd', '--terminator') },
    drain: { action: 'restart', label: 'socket unit + drain (fd store) + restart', socket: true, notify: true, exec: () => command(node, web) },
    upgrade: { action: 'reload', label: 'hot upgrade (systemctl reload)', socket: true, notify: true, exec: () => command(node, web), reload: () => command(reloadCommand) },
    'upgrade-node-reload': {
      action: 'reload',
      label: 'hot upgrade, ExecReload= the Node command',
      socket: true,
      notify: true,
      exec: () => command(node, web),
      reload: () => command(node, cli, 'reload'),
    },
    prototype: {
      action: 'reload',
      label: 'fork-and-hand-over prototype, no library (systemctl reload)',
      socket: true,
      notify: true,
      notifyAccess: 'all',
      exec: () => command(node, prototype),
      reload: () => command('/bin/kill', '-HUP'),
      returnsAtOnce: true,
    },
  };
  const scenarioNames = names('scenarios', SCENARIOS);
  const loadNames = names('loads', LOADS);

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
${s.action === 'reload' ? `ExecReload=${s.reload()} $MAINPID` : ''}
${s.notify ? 'FileDescriptorStoreMax=4096' : ''}
${s.notifyAccess ? `NotifyAccess=${s.notifyAccess}` : ''}
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
        await waitForServer(port);

        const load = startLoad(port, loadName);
        const loadStart = now();
        await sleep(3000);
        const actions = [];
        for (let i = 0; i < restarts; i++) {
          await sleep(delayBeforeNextEvent(actions.at(-1)?.t0));
          const before = (await m.show(`${name}.service`, 'MainPID')).MainPID;
          const t0 = now();
          const r = await m.systemctlRun(s.action, `${name}.service`);
          const t1 = now();
          let after = (await m.show(`${name}.service`, 'MainPID')).MainPID;
          // kill -HUP returns at once: the prototype's hand-over follows.
          for (let waited = 0; s.returnsAtOnce && after === before && waited < 5000; waited += 20) {
            await sleep(20);
            after = (await m.show(`${name}.service`, 'MainPID')).MainPID;
          }
          actions.push({ t0, ms: t1 - t0, ok: r.code === 0, newPid: after !== before && after !== '0', err: r.stderr.trim() });
        }
        await sleep(1500);
        const result = await load.stop();
        await m.systemctlRun('stop', `${name}.service`);
        if (s.socket) await m.systemctlRun('stop', `${name}.socket`);

        const stats = latencyStats(result, { from: loadStart + 500, actionTimes: actions.map((a) => a.t0) });
        const actionMs = actions.map((a) => a.ms).sort((x, y) => x - y);
        const badActions = actions.filter((a) => !a.ok || !a.newPid);
        for (const a of badActions) notes.push(`${name}/${loadName}: ${s.action} ${a.ok ? 'kept the same main pid' : `failed: ${a.err}`}`);
        rows.push([
          s.label,
          LOADS[loadName].label,
          `${actions.length - badActions.length}/${actions.length}`,
          percentile(actionMs, 50).toFixed(0),
          ...statsCells(stats),
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
    `Restarts and upgrades: ${restarts} per scenario and load, each 2–2.5 s after the previous one started (and ≥ 300 ms after it completed), after 3 s of load; ` +
      `latencies of successful requests in ms; window = requests overlapping [t, t + 1 s) for each systemctl call at t; ` +
      `steady = the requests of the same run overlapping no window (the load's first 0.5 s dropped); (n) = requests counted; ${seconds} s.`,
  );
  if (!terminatorAvailable) console.log('http-terminator is not installed: its scenario was not run (`npm install --no-save http-terminator`).');
  console.log('');
  printTable(['scenario', 'load', 'new pid', 'systemctl median ms', ...STATS_HEADER], rows, ['scenario', 'load', 'failed (by error)']);
  for (const n of notes) console.log(`\n${n}`);
}

await main();
