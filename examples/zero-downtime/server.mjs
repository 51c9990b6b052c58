// An HTTP service that loses no request on `systemctl restart` or `systemctl reload`
// (web.socket / web.service):
// - restart: SIGTERM drains — in-flight requests finish with Connection: close, idle keep-alive
//   connections go into systemd's fd store and the next process takes them back;
// - reload: a hot upgrade — a successor starts with the same sockets, takes over as the main
//   process once ready, gets the idle keep-alive connections; this process drains and exits.
import http from 'node:http';
import { drain, formatAddress, hotUpgrade, keptConnections, listen, ready, startWatchdog } from 'socket-activation';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, url: req.url }));
});

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
for (const socket of await keptConnections()) server.emit('connection', socket);
hotUpgrade(server, { drainTimeout: 10_000 });
startWatchdog();
await ready();

process.once('SIGTERM', async () => {
  await drain(server, { timeout: 10_000, handOff: 'fd-store' });
  process.exit(0);
});
