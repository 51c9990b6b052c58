// The same consumer as app.mjs, as CommonJS (`require`), serving HTTP on "web" only. Node 18
// and Node 20 before 20.19 cannot require() an ES module: this runs the package's CommonJS build.
'use strict';
const http = require('node:http');
const path = require('node:path');
const { formatAddress, listen, listeners, SocketActivationError } = require('socket-activation');

const packageDir = path.dirname(require.resolve('socket-activation/package.json'));
const addon = require(require.resolve('node-gyp-build', { paths: [packageDir] })).resolve(packageDir);

async function main() {
  const server = http.createServer((req, res) => res.end(`hello from cjs on ${process.arch} node ${process.version}\n`));
  const { addresses } = await listen(server, 'web');
  process.once('SIGTERM', () => server.close());
  const entry = require.resolve('socket-activation');
  const descriptors = listeners().map(({ fd, name, kind, type, family, listening, local }) => ({ fd, name, kind, type, family, listening, local }));
  console.log(`READY ${JSON.stringify({ format: 'cjs', entry, arch: process.arch, node: process.version, addon, descriptors, addresses: { web: addresses.map(formatAddress) } })}`);
  // The error class of the CommonJS build is a real class with the stable code.
  try {
    require('socket-activation').listener('no-such-name');
  } catch (err) {
    console.log(`LOOKUP ${JSON.stringify({ isClass: err instanceof SocketActivationError, code: err.code })}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
