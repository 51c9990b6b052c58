// A line echo service (echo.socket / echo.service) that keeps its clients across restarts:
// on SIGTERM every open connection goes into systemd's fd store, and the next process takes
// them back, so `systemctl restart echo` drops no connection and loses no byte.
// A connection is moved only between lines (this protocol's message boundary).
import net from 'node:net';
import { barrier, formatAddress, keepConnection, keptConnections, listen, ready, startWatchdog, stopping } from 'socket-activation';

/** Each open connection and the part of a line it has sent so far. */
const partial = new Map();
const server = net.createServer((socket) => {
  partial.set(socket, '');
  socket.on('close', () => partial.delete(socket));
  socket.on('error', () => socket.destroy());
  socket.setEncoding('utf8').on('data', (chunk) => {
    const lines = (partial.get(socket) + chunk).split('\n');
    partial.set(socket, lines.pop());
    for (const line of lines) socket.write(`[${process.pid}] ${line}\n`);
  });
});

const { activated, addresses } = await listen(server, 'echo', { fallback: 7777 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
for (const socket of await keptConnections()) server.emit('connection', socket);
startWatchdog();
await ready(`echoing on ${addresses.length} listener(s), ${partial.size} connections kept from the previous run`);

process.once('SIGTERM', async () => {
  await stopping();
  server.close();
  for (const socket of partial.keys()) {
    try {
      if (!(await keepConnection(socket, { idle: () => partial.get(socket) === '' }))) socket.end();
    } catch {
      socket.end(); // mid-line, or not movable: close it normally
    }
  }
  await barrier(); // systemd has every kept fd before we exit
  process.exit(0);
});
