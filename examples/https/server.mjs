// HTTPS on the listener "web" (myapp-https.socket: ListenStream=443), or port 8443 when run by
// hand. Certificate and key: systemd credentials (LoadCredential= in myapp-https.service), or
// the files named by TLS_CERT and TLS_KEY:
//   openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 -subj /CN=localhost   # a self-signed pair to try it
//   npx socket-activation -l web=127.0.0.1:8443 -E TLS_CERT=cert.pem -E TLS_KEY=key.pem -- node examples/https/server.mjs
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { formatAddress, listen } from 'socket-activation';

const credentials = process.env.CREDENTIALS_DIRECTORY;
const tls = {
  cert: readFileSync(credentials ? join(credentials, 'tls.crt') : process.env.TLS_CERT),
  key: readFileSync(credentials ? join(credentials, 'tls.key') : process.env.TLS_KEY),
};
const server = https.createServer(tls, (req, res) => res.end('hello from https\n'));

process.once('SIGTERM', () => server.close(() => process.exit(0)));

const { activated, addresses } = await listen(server, 'web', { fallback: 8443 });
console.log(`${activated ? 'socket-activated' : 'fallback'} on ${addresses.map(formatAddress).join(', ')}`);
