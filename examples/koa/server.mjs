// Koa on the listener "web" (myapp-koa.socket: ListenStream=80), or port 8080 when run by hand:
// app.callback() is the request handler of a plain http.Server.
// Under the launcher: npx socket-activation -l web=127.0.0.1:8080 -- node examples/koa/server.mjs
import http from 'node:http';
import Koa from 'koa';
import { formatAddress, listen } from 'socket-activation';

const app = new Koa();
app.use((ctx) => {
  ctx.body = 'hello from koa\n';
});
const server = http.createServer(app.callback());

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
