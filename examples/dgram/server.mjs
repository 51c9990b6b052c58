// A UDP service on the listener "dns" (myapp-dns.socket: ListenDatagram=5353), or port 5353
// when run by hand: answers every datagram with "echo:" and the datagram. The socket is udp4
// or udp6 after the inherited fd's real family (dual-stack [::] included).
// Under the launcher: npx socket-activation -d dns=127.0.0.1:5353 -- node examples/dgram/server.mjs
import { bindDatagram, formatAddress } from 'socket-activation';

const socket = await bindDatagram('dns', { fallback: 5353 });
socket.on('message', (msg, from) => socket.send(Buffer.concat([Buffer.from('echo:'), msg]), from.port, from.address));

process.once('SIGTERM', () => socket.close(() => process.exit(0)));

console.log(`serving ${socket.type} on ${formatAddress(socket.address())}`);
