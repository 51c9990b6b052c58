// HTTP/2 over TLS (and HTTP/1.1 for older clients) on the listener "web"
// (myapp-http2.socket: ListenStream=443), or port 8443 when run by hand. Certificate and key as
// in examples/https: systemd credentials, or TLS_CERT and TLS_KEY:
//   openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost   # a self-signed pair to try it
//   npx socket-activation -l web=127.0.0.1:8443 -E TLS_CERT=cert.pem -E TLS_KEY=key.pem -- node examples/http2/server.mjs
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { join } from 'node:path';
import { formatAddress, listen } from 'socket-activation';

const credentials = process.env.CREDENTIALS_DIRECTORY;
const tls = {
  cert: readFileSync(credentials ? join(credentials, 'tls.crt') : process.env.TLS_CERT),
  key: readFileSync(credentials ? join(credentials, 'tls.key') : process.env.TLS_KEY),
};
const server = http2.createSecureServer({ ...tls, allowHTTP1: true }, (req, res) => res.end(`hello from http2 over HTTP/${req.httpVersion}\n`));

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8443 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
