// A consumer of the installed package, as ES module: HTTP on the listener "web", a UDP echo on
// "dns" and HTTP on the unix socket "api", each only when the launcher passed that name.
// Prints `READY {…}` (which build and addon binary were loaded); SIGTERM closes and exits 0.
// Copied into a fresh project by the package tests; runs on every Node version tested.
import http from 'node:http';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { bindDatagram, formatAddress, listen, listeners } from 'socket-activation';

const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve('socket-activation/package.json'));
const addon = createRequire(`${packageDir}/`)('node-gyp-build').resolve(packageDir);
const names = listeners().map((d) => d.name);
const hello = (req, res) => res.end(`hello from esm on ${process.arch} node ${process.version}\n`);
const closers = [];
const addresses = {};

if (names.includes('web')) {
  const server = http.createServer(hello);
  addresses.web = (await listen(server, 'web')).addresses.map(formatAddress);
  closers.push(() => server.close());
}
if (names.includes('api')) {
  const server = http.createServer(hello);
  addresses.api = (await listen(server, 'api')).addresses.map(formatAddress);
  closers.push(() => server.close());
}
if (names.includes('dns')) {
  const socket = await bindDatagram('dns');
  socket.on('message', (msg, from) => socket.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));
  addresses.dns = [formatAddress(socket.address())];
  closers.push(() => socket.close());
}

process.once('SIGTERM', () => {
  for (const close of closers) close();
});
const descriptors = listeners().map(({ fd, name, kind, type, family, listening, local }) => ({ fd, name, kind, type, family, listening, local }));
console.log(`READY ${JSON.stringify({ format: 'esm', arch: process.arch, node: process.version, addon, descriptors, addresses })}`);
