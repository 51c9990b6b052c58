// A bounded HTTP load for the fault tests: `concurrency` clients, each sending one request after
// another on a new connection (Connection: close), so every request goes through the listening
// socket's queue. Every request is recorded with when it was sent and how it ended.
import http from 'node:http';

export interface Sent {
  readonly startedAt: number;
  readonly endedAt: number;
  /** The answering process, or undefined when the request failed. */
  readonly pid?: number;
  /** The error code (ECONNRESET, ECONNREFUSED, …) when it failed. */
  readonly error?: string;
}

export interface Load {
  /** Everything recorded so far. */
  readonly sent: Sent[];
  /** Stops sending, waits for the requests in flight, returns every record. */
  stop(): Promise<Sent[]>;
}

function once(host: string, port: number, path: string, timeoutMs: number): Promise<Sent> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const done = (result: { pid?: number; error?: string }) => resolve({ startedAt, endedAt: Date.now(), ...result });
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          done(res.statusCode === 200 ? { pid: (JSON.parse(body) as { pid: number }).pid } : { error: `HTTP ${res.statusCode}` });
        } catch {
          done({ error: `unparsable answer ${JSON.stringify(body.slice(0, 80))}` });
        }
      });
      res.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => done({ error: err.code ?? err.message }));
  });
}

/** Starts the load against host:port. */
export function startLoad(host: string, port: number, concurrency: number, timeoutMs = 20_000): Load {
  const sent: Sent[] = [];
  let stopped = false;
  let n = 0;
  const clients = Array.from({ length: concurrency }, async () => {
    while (!stopped) sent.push(await once(host, port, `/r${++n}`, timeoutMs));
  });
  return {
    sent,
    async stop() {
      stopped = true;
      await Promise.all(clients);
      return sent;
    },
  };
}
