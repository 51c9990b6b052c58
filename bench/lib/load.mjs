// The load generator of bench/restarts.mjs and bench/supervisor.mjs, run in a worker thread so
// that driving systemctl or the supervisor does not delay the clients. Every request is kept:
// start time (performance.timeOrigin-based, comparable across threads), latency, the error code
// when it failed, and whether it went on a reused keep-alive connection. No retries.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';

const { port, kind, clients } = workerData;
const now = () => performance.timeOrigin + performance.now();
const starts = [];
const latencies = [];
const errors = []; // parallel to starts: '' when the request succeeded
const reused = []; // parallel to starts: sent on a connection an earlier request used
let running = true;

function request(agent, path, info) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(Object.assign(new Error('status'), { code: `HTTP ${res.statusCode}` }));
        else if (!text.startsWith('{"pid":')) reject(Object.assign(new Error('body'), { code: 'bad body' }));
        else resolve();
      });
      res.on('error', reject);
    });
    // Known once the agent has assigned a socket, before anything can fail on it.
    req.once('socket', () => (info.reused = req.reusedSocket));
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

async function client(agent, id, maxPauseMs) {
  for (let n = 0; running; n++) {
    const t0 = now();
    let code = '';
    const info = { reused: false };
    try {
      await request(agent, `/${id}/${n}`, info);
    } catch (err) {
      code = err.code ?? err.message;
    }
    starts.push(t0);
    latencies.push(now() - t0);
    errors.push(code);
    reused.push(info.reused);
    if (maxPauseMs > 0) await sleep(Math.random() * maxPauseMs);
  }
}

const agents = [];
const loops = [];
for (let i = 0; i < clients; i++) {
  if (kind === 'fresh') loops.push(client(false, `f${i}`, 0));
  else {
    // One agent per client, one socket each: a client's requests always share its connection.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    loops.push(client(agent, `k${i}`, kind === 'paused' ? 200 : 0));
  }
}

parentPort.once('message', async () => {
  running = false;
  await Promise.all(loops);
  for (const a of agents) a.destroy();
  parentPort.postMessage({ starts, latencies, errors, reused });
});
