// Shared by bench/restarts.mjs and bench/supervisor.mjs: the loads (bench/lib/load.mjs in a
// worker thread), waiting for a server, and the latency statistics and table of BENCHMARKS.md
// sections 3 and 4.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

export const LOADS = {
  fresh: { clients: 4, label: 'fresh connection per request (4 loops)' },
  saturating: { clients: 32, label: 'keep-alive, saturating (32 connections)' },
  paused: { clients: 32, label: 'keep-alive, 0–200 ms pauses (32 connections)' },
};

/** Milliseconds since the epoch, comparable with the load worker's timestamps. */
export const now = () => performance.timeOrigin + performance.now();

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** `--name value` from the command line, or `fallback`. */
export function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}

/** Checks `--scenarios`/`--loads` style lists against the known names. */
export function names(flag, known) {
  const list = option(flag, Object.keys(known).join(',')).split(',');
  for (const n of list) if (!known[n]) throw new Error(`--${flag}: unknown ${n}; expected some of ${Object.keys(known)}`);
  return list;
}

/** Starts a load on 127.0.0.1:port; `stop()` resolves with every request it made. */
export function startLoad(port, kind) {
  const worker = new Worker(new URL('./load.mjs', import.meta.url), { workerData: { port, kind, clients: LOADS[kind].clients } });
  return {
    async stop() {
      worker.postMessage('stop');
      const result = await new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      return result;
    },
  };
}

/** One GET on a fresh connection; resolves with the serving pid from the body. */
export function servingPid(port, timeout = 15_000) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/pid', agent: false, timeout }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(text).pid);
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Waits (up to 5 s) until the server answers. */
export async function waitForServer(port) {
  for (let i = 0; i < 50; i++) {
    try {
      return await servingPid(port);
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`nothing answers on 127.0.0.1:${port}`);
}

/** Events (restarts, reloads, kills) start at least this far apart, so that ≥ 1 s of load outside any window follows each one-second window. */
export const EVENT_SPACING_MS = 2000;

/** Milliseconds to wait before the next event: ≥ 300–500 ms after the previous one completed and ≥ 2–2.5 s after it started. */
export function delayBeforeNextEvent(previousStart) {
  const afterCompletion = 300 + Math.random() * 200;
  if (previousStart === undefined) return afterCompletion;
  return Math.max(afterCompletion, previousStart + EVENT_SPACING_MS + Math.random() * 500 - now());
}

/**
 * Latencies of successful requests, failures counted by error code, and two p99s from the same
 * run: window = requests overlapping [t, t + windowMs) for an event at t; steady = requests
 * that started at or after `from` and overlap no window. With events ≥ 2 s apart the steady requests are
 * interleaved with the windowed ones (same load, same background noise), not one stretch
 * before the first event.
 */
export function latencyStats({ starts, latencies, errors }, { from, actionTimes, windowMs = 1000 }) {
  const ok = [];
  const steady = [];
  const windowed = [];
  const failed = new Map();
  for (let i = 0; i < starts.length; i++) {
    if (errors[i] !== '') {
      failed.set(errors[i], (failed.get(errors[i]) ?? 0) + 1);
      continue;
    }
    ok.push(latencies[i]);
    if (inWindow(starts[i], latencies[i], actionTimes, windowMs)) windowed.push(latencies[i]);
    else if (starts[i] >= from) steady.push(latencies[i]);
  }
  for (const a of [ok, steady, windowed]) a.sort((x, y) => x - y);
  return { ok, failed, steady: steady.length, windowed: windowed.length, steadyP99: percentile(steady, 99), windowP99: percentile(windowed, 99) };
}

function inWindow(start, latency, actionTimes, windowMs) {
  const end = start + latency;
  return actionTimes.some((t) => end >= t && start < t + windowMs);
}

/** `0`, or `N CODE, M CODE` (most frequent first). */
export function formatFailed(failed) {
  return failed.size === 0 ? '0' : [...failed].sort((x, y) => y[1] - x[1]).map(([code, n]) => `${n} ${code}`).join(', ');
}

/** The cells from "requests ok" to "window / steady" of the section 3 and 4 tables. */
export function statsCells({ ok, failed, steady, windowed, steadyP99, windowP99 }) {
  return [
    ok.length,
    formatFailed(failed),
    percentile(ok, 50).toFixed(2),
    percentile(ok, 99).toFixed(2),
    ok.length ? ok[ok.length - 1].toFixed(1) : 'NaN',
    `${steadyP99.toFixed(2)} (${steady})`,
    `${windowP99.toFixed(2)} (${windowed})`,
    `${(windowP99 / steadyP99).toFixed(2)}×`,
  ];
}

export const STATS_HEADER = ['requests ok', 'failed (by error)', 'p50', 'p99', 'max', 'steady p99 (n)', 'window p99 (n)', 'window / steady'];

/** A markdown table; columns named in `textColumns` are left-aligned, the rest right-aligned. */
export function printTable(header, rows, textColumns) {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map((h) => (textColumns.includes(h) ? '---' : '---:')).join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}
