// HTTP load for restart and upgrade tests: keep-alive clients that pause a random 0–200 ms
// between requests (the idle race a saturating load never shows) and clients opening a fresh
// connection per request. Every failure is kept with its error code.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadResult {
  ok: number;
  failed: string[];
  /** pid → requests it answered. */
  pids: Map<number, number>;
}

export interface Load {
  stop(): Promise<LoadResult>;
}

function request(port: number, agent: http.Agent | false, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve((JSON.parse(text) as { pid: number }).pid);
        } catch {
          reject(new Error(`bad body ${text}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

export function startLoad(port: number, options: { keepAlive?: number; fresh?: number; maxPauseMs?: number } = {}): Load {
  const result: LoadResult = { ok: 0, failed: [], pids: new Map() };
  let running = true;
  const agents: http.Agent[] = [];
  const client = async (agent: http.Agent | false, id: string): Promise<void> => {
    for (let n = 0; running; n++) {
      try {
        const pid = await request(port, agent, `/${id}/${n}`);
        result.ok++;
        result.pids.set(pid, (result.pids.get(pid) ?? 0) + 1);
      } catch (err) {
        result.failed.push(`${id}/${n}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      await sleep(Math.random() * (options.maxPauseMs ?? 200));
    }
  };
  const clients: Promise<void>[] = [];
  for (let i = 0; i < (options.keepAlive ?? 2); i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    clients.push(client(agent, `ka${i}`));
  }
  for (let i = 0; i < (options.fresh ?? 1); i++) clients.push(client(false, `fresh${i}`));
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      for (const a of agents) a.destroy();
      return result;
    },
  };
}
