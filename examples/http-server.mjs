// The README's demo: an HTTP server on the listener named "web", under systemd, the
// launcher (`npm start`; `kill -HUP` the launcher for a zero-downtime reload), or on its own
// with a fallback port.
import http from 'node:http';
import { drain, formatAddress, keptConnections, listen, ready } from 'socket-activation';

const server = http.createServer((req, res) => {
  res.end(`hello from pid ${process.pid}\n`);
});

// Handlers first: a signal that arrives right after the "serving" line must not find the
// default action (immediate death) still in place. Draining hands idle keep-alive connections
// to the next process (the launcher or systemd keeps them in the fd store).
const stop = () => drain(server, { timeout: 10_000, handOff: 'fd-store' }).then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
for (const socket of await keptConnections()) server.emit('connection', socket);
console.log(`${activated ? 'socket-activated' : 'fallback'}: serving on ${addresses.map(formatAddress).join(', ')}`);
await ready();
