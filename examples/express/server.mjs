// Express on the listener "web" (myapp-express.socket: ListenStream=80), or port 8080 when run
// by hand. Express's app.listen() cannot take an fd: give the app to an http.Server instead.
// Under the launcher: npx socket-activation -l web=127.0.0.1:8080 -- node examples/express/server.mjs
import http from 'node:http';
import express from 'express';
import { formatAddress, listen } from 'socket-activation';

const app = express();
app.get('/', (req, res) => res.send('hello from express\n'));
const server = http.createServer(app);

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
