import net from 'node:net';
import { native } from './native.js';

// A process taking over from another (a hot-upgrade successor, a supervisor's new child) gets
// the other's idle keep-alive connections, and with them a burst of requests at the moment of
// the hand-over: requests that were on their way wait for this process to serve its first
// ones, on code V8 has not compiled yet. So such a process first serves a few requests to
// itself, through a private HTTP server (never the application's handlers) over a socket pair:
// the connection arrives the way handed-over ones do, with server.emit('connection'). About
// 25 ms of CPU; the reloads' window p99 under keep-alive with pauses was 0.52–0.97× of that
// without it (A/B in BENCHMARKS.md sections 3 and 4).

const REQUESTS = 3;
const TIMEOUT_MS = 1000;
let started: Promise<void> | undefined;

async function warmUp(): Promise<void> {
  const { default: http } = await import('node:http');
  const pair = native().socketPair(native().constants.SOCK_STREAM);
  if (typeof pair === 'number') return;
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('ok');
  });
  const inside = new net.Socket({ fd: pair[0], readable: true, writable: true });
  const outside = new net.Socket({ fd: pair[1], readable: true, writable: true });
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, TIMEOUT_MS).unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      // Pipelined; the last one asks the server to close, which ends the warm-up.
      outside.resume().once('close', done).on('error', done);
      inside.on('error', done);
      server.emit('connection', inside);
      const request = (close: boolean): string => `GET / HTTP/1.1\r\nHost: warm-up\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
      outside.write(Array.from({ length: REQUESTS }, (_, i) => request(i === REQUESTS - 1)).join(''));
    });
  } finally {
    inside.destroy();
    outside.destroy();
  }
}

/** Starts the warm-up (once) in a process that takes over connections. @internal */
export function startWarmUp(): void {
  started ??= warmUp().catch(() => undefined);
}

/** Settles when a started warm-up is over (at once when none was started). @internal */
export function warmedUp(): Promise<void> {
  return started ?? Promise.resolve();
}
