// HTTP on the listener "web" (myapp.socket: ListenStream=80), or port 8080 when run by hand.
// Under the launcher: npx socket-activation -l web=127.0.0.1:8080 -- node examples/http/server.mjs
import http from 'node:http';
import { formatAddress, listen } from 'socket-activation';

const server = http.createServer((req, res) => res.end('hello from http\n'));
server.headersTimeout = 10_000;
server.requestTimeout = 30_000;
server.keepAliveTimeout = 60_000;

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
