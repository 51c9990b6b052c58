// Hono on the listener "web" (myapp-hono.socket: ListenStream=80), or port 8080 when run by
// hand: @hono/node-server's createAdaptorServer() makes the server without listening.
// Under the launcher: npx socket-activation -l web=127.0.0.1:8080 -- node examples/hono/server.mjs
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { formatAddress, listen } from 'socket-activation';

const app = new Hono();
app.get('/', (c) => c.text('hello from hono\n'));
const server = createAdaptorServer({ fetch: app.fetch });

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
