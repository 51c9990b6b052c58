// Type-checked by test/package/tarball.test.ts against the installed package (import).
import http from 'node:http';
import { listen, listener, SocketActivationError, type DatagramDescriptor, type Listening, type SocketActivationErrorCode } from 'socket-activation';

const server = http.createServer();
export const listening: Promise<Listening<http.Server>> = listen(server, 'web', { fallback: 8080 });
// the expectation narrows the descriptor type
export const dns: DatagramDescriptor = listener('dns', { type: 'dgram' });
export const code: SocketActivationErrorCode = new SocketActivationError('ERR_LISTEN_FDS', 'm').code;
// @ts-expect-error: a fallback is a port, { port, host } or { path }, never a string
listen(server, 'web', { fallback: 'eighty' });
