// How long starting a successor stops the serving process's event loop: child_process.spawn()
// (what hotUpgrade() used: libuv forks the whole process and waits for the exec) against
// startActivated() (posix_spawn() on the addon's thread pool), in one process of service size
// (ballast of --mb MB in buffers and small objects), alternating, --rounds times each.
// Per spawn: the longest gap between two turns of a setImmediate ticker from the call until
// the child has exited (`node -e 0`, which also competes for the CPU while it starts).
// Usage: npm run build && node bench/spawn.mjs [--rounds N] [--mb N]
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { option, percentile } from './lib/report.mjs';

const { startActivated } = await import('../dist/spawn.js');
const { native } = await import('../dist/native.js');

const rounds = Number(option('rounds', '30'));
const mb = Number(option('mb', '80'));
const ballast = Array.from({ length: mb / 2 }, (_, i) => Buffer.alloc(1 << 20, i));
const objects = Array.from({ length: mb * 4000 }, (_, i) => ({ i, s: `object ${i}` }));

let last = performance.now();
let longest = 0;
let ticking = true;
const tick = () => {
  const t = performance.now();
  longest = Math.max(longest, t - last);
  last = t;
  if (ticking) setImmediate(tick);
};
tick();

const command = [process.execPath, '-e', '0'];
const ways = {
  'child_process.spawn() (fork + exec, IPC channel)': async () => {
    const child = spawn('/bin/sh', ['-c', 'exec "$@"', 'sh', ...command], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
    await new Promise((resolve) => child.once('exit', resolve));
  },
  'startActivated() (posix_spawn on the thread pool)': async () => {
    const pid = await startActivated(command, []);
    while (native().reap(pid) === 0) await sleep(5);
  },
};

const gaps = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, run] of Object.entries(ways)) {
    await sleep(30);
    longest = 0;
    last = performance.now();
    await run();
    gaps[name].push(longest);
  }
}
ticking = false;

console.log(`rounds ${rounds}; RSS ${Math.round(process.memoryUsage().rss / 2 ** 20)} MB, holding ${ballast.length} MB of buffers and ${objects.length} objects`);
console.log('| start | longest event-loop gap per spawn, median ms | p90 | max |');
console.log('| --- | ---: | ---: | ---: |');
const medians = [];
for (const [name, list] of Object.entries(gaps)) {
  const sorted = list.sort((a, b) => a - b);
  medians.push(percentile(sorted, 50));
  console.log(`| ${name} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 90).toFixed(2)} | ${sorted.at(-1).toFixed(2)} |`);
}
console.log(`median ratio (fork / posix_spawn): ${(medians[0] / medians[1]).toFixed(1)}×`);
