// One process per connection (myapp-echo.socket: Accept=yes starts myapp-echo@.service for
// each client, with the connection as fd 3): echoes what the client sends, exits when it hangs up.
// Our launcher only passes listening sockets; for a try-out without a unit use Debian's
//   systemd-socket-activate --accept -l 127.0.0.1:7777 node examples/accept/server.mjs
import { connections } from 'socket-activation';

const [socket] = connections();
if (!socket) {
  console.error('no inherited connection: start me from myapp-echo.socket (Accept=yes)');
  process.exit(1);
}
socket.on('error', () => process.exit(1));
socket.on('close', () => process.exit(0));
socket.pipe(socket);
