// The README's demo: an HTTP server on the listener named "web", under systemd, the
// launcher (`npm start`), or on its own with a fallback port.
import http from 'node:http';
import { formatAddress, listen } from 'socket-activation';

const server = http.createServer((req, res) => {
  res.end(`hello from pid ${process.pid}\n`);
});

// Handlers first: a signal that arrives right after the "serving" line must not find the
// default action (immediate death) still in place.
const stop = () => server.close(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

const { activated, addresses } = await listen(server, 'web', { fallback: 8080 });
console.log(`${activated ? 'socket-activated' : 'fallback'}: serving on ${addresses.map(formatAddress).join(', ')}`);
