// Fastify on the listener "web" (myapp-fastify.socket: ListenStream=80), or port 8080 when run
// by hand. Instead of fastify.listen(): make the app ready, then let listen() start its server.
// Under the launcher: npx socket-activation -l web=127.0.0.1:8080 -- node examples/fastify/server.mjs
import Fastify from 'fastify';
import { formatAddress, listen } from 'socket-activation';

const app = Fastify();
app.get('/', async () => 'hello from fastify\n');
await app.ready();

// app.close() runs the onClose hooks and closes the server (which it did not start).
process.once('SIGTERM', () => app.close().then(() => process.exit(0)));

const { activated, addresses } = await listen(app.server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
