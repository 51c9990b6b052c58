// HTTP load for restart, upgrade and fault tests: keep-alive clients that pause a random
// 0–maxPauseMs between requests (the idle race a saturating load never shows) and clients
// opening a fresh connection per request. Every request is recorded with when it was sent,
// when it ended and how (the answering pid, or the error code).
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Sent {
  readonly client: string;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The answering process, or undefined when the request failed. */
  readonly pid?: number;
  /** The error code (ECONNRESET, ECONNREFUSED, ETIMEDOUT, HTTP 503, …) when it failed. */
  readonly error?: string;
}

export interface LoadResult {
  ok: number;
  /** `client/n: error` for each failed request. */
  failed: string[];
  /** pid → requests it answered. */
  pids: Map<number, number>;
  sent: readonly Sent[];
}

export interface Load {
  /** Everything recorded so far. */
  readonly sent: Sent[];
  /** Stops sending, waits for the requests in flight, sums up every record. */
  stop(): Promise<LoadResult>;
}

export interface LoadOptions {
  /** Clients on one keep-alive connection each. @default 2 */
  readonly keepAlive?: number;
  /** Clients opening a new connection per request. @default 1 */
  readonly fresh?: number;
  /** Longest pause between two requests of a client (ms). @default 200 */
  readonly maxPauseMs?: number;
  readonly host?: string;
  readonly timeoutMs?: number;
}

function request(host: string, port: number, agent: http.Agent | false, client: string, path: string, timeoutMs: number): Promise<Sent> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const done = (how: { pid?: number; error?: string }) => resolve({ client, startedAt, endedAt: Date.now(), ...how });
    const req = http.get({ host, port, path, agent, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200) return done({ error: `HTTP ${res.statusCode}` });
        try {
          done({ pid: (JSON.parse(text) as { pid: number }).pid });
        } catch {
          done({ error: `unparsable answer ${JSON.stringify(text.slice(0, 80))}` });
        }
      });
      res.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
  });
}

export function startLoad(port: number, options: LoadOptions = {}): Load {
  const { host = '127.0.0.1', maxPauseMs = 200, timeoutMs = 15_000 } = options;
  const sent: Sent[] = [];
  let running = true;
  const agents: http.Agent[] = [];
  const client = async (agent: http.Agent | false, id: string): Promise<void> => {
    for (let n = 0; running; n++) {
      sent.push(await request(host, port, agent, id, `/${id}/${n}`, timeoutMs));
      if (maxPauseMs > 0) await sleep(Math.random() * maxPauseMs);
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
    sent,
    async stop() {
      running = false;
      await Promise.all(clients);
      for (const a of agents) a.destroy();
      const pids = new Map<number, number>();
      for (const s of sent) if (s.pid !== undefined) pids.set(s.pid, (pids.get(s.pid) ?? 0) + 1);
      return {
        ok: sent.filter((s) => s.pid !== undefined).length,
        failed: sent.filter((s) => s.error !== undefined).map((s) => `${s.client}: ${s.error}`),
        pids,
        sent,
      };
    },
  };
}
