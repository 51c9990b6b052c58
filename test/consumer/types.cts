// Type-checked by test/package/tarball.test.ts against the installed package (require).
import http = require('node:http');
import sa = require('socket-activation');

const server = http.createServer();
export const listening: Promise<sa.Listening<http.Server>> = sa.listen(server, 'web', { fallback: 8080 });
export const code: sa.SocketActivationErrorCode = new sa.SocketActivationError('ERR_LISTEN_FDS', 'm').code;
// @ts-expect-error: a fallback is a port, { port, host } or { path }, never a string
sa.listen(server, 'web', { fallback: 'eighty' });
