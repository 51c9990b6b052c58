// HTTP on the unix socket "api" (myapp-api.socket: ListenStream=/run/myapp/api.sock), or
// ./api.sock when run by hand. Node's server.address() is null for an inherited unix socket:
// listen() reports its path.
// Under the launcher: npx socket-activation -l api=/tmp/api.sock -- node examples/unix/server.mjs
// A client: curl --unix-socket /tmp/api.sock http://localhost/
import http from 'node:http';
import { formatAddress, listen } from 'socket-activation';

const server = http.createServer((req, res) => res.end('hello from unix\n'));

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'api', { fallback: { path: './api.sock', removeStale: true } });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
