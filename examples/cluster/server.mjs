// HTTP from a cluster of workers on the listener "web" (myapp-cluster.socket), or port 8080
// shared the cluster's own way when run by hand. The primary takes the socket and gives it to
// each worker at the worker's fd 3, so the workers accept from the one kernel queue: a
// connection nobody has accepted yet waits there for the next process on a restart.
// Under the launcher: socket-activation -l web=127.0.0.1:8080 -- node examples/cluster/server.mjs
import cluster from 'node:cluster';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { activation, drain, formatAddress, inspect, listen, listener, listeners, ready, status } from 'socket-activation';

const WORKERS = Math.min(availableParallelism(), 4);

if (cluster.isPrimary) {
  const web = activation().activated ? listener('web') : undefined;
  listeners({ unsetEnvironment: true });
  await status('starting workers', { unsetEnvironment: true }); // workers do not speak for the service
  // The socket at each worker's fd 3; Node's IPC channel after it.
  if (web) cluster.setupPrimary({ stdio: ['inherit', 'inherit', 'inherit', web.fd, 'ipc'] });
  let stopping = false;
  let up = 0;
  cluster.on('message', async (worker, message) => {
    if (message !== 'listening' || ++up !== WORKERS) return;
    console.log(`${web ? 'socket-activated' : 'fallback'} on ${web ? formatAddress(web.local) : '[::]:8080'}`);
    await ready();
  });
  cluster.on('exit', () => {
    if (!stopping) cluster.fork(web ? { WEB_FD: '3' } : {});
  });
  // Passed on for a stop that reaches only the primary (kill PID, KillMode=mixed); under
  // systemd's default KillMode= and the launcher each worker has it already, and its second
  // drain() joins the first. The primary stays until they have drained, as Node ends a worker
  // whose primary is gone.
  process.on('SIGTERM', () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
  });
  for (let i = 0; i < WORKERS; i++) cluster.fork(web ? { WEB_FD: '3' } : {});
} else {
  const server = http.createServer((req, res) => res.end('hello from a cluster worker\n'));
  if (process.env.WEB_FD) await listen(server, inspect(Number(process.env.WEB_FD)));
  else await new Promise((resolve) => server.listen(8080, resolve));
  // cluster's 'listening' event is not emitted for a worker listening on its own fd.
  process.send('listening');
  process.on('SIGTERM', async () => {
    await drain(server, { notify: false });
    process.exit(0);
  });
}
