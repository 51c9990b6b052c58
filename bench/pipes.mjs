// listeners() over many inherited pipes, beside as many inherited sockets, in fresh activated
// processes. Each pipe stops the addon's pass over the range so that src/registry.ts can tell it
// from Node's own before anything touches it; this shows what those stops cost.
//   node bench/pipes.mjs [--sizes 1000,3000] [--samples 5] [--also DIR ...]
// --also DIR: the same with another built tree (its dist/ and addon), interleaved.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000,3000' }, samples: { type: 'string', default: '5' }, also: { type: 'string', multiple: true, default: [] } } });
const sizes = values.sizes.split(',').map(Number);
const samples = Number(values.samples);
const trees = [{ label: 'this tree', dir: root }, ...values.also.map((dir, i) => ({ label: `also ${i + 1}`, dir: resolve(dir) }))];

const { native } = await import(join(root, 'dist', 'native.js'));
const n = native();

/** Median ms of listeners() in a child with `fds` at 3.. (LISTEN_PID its own pid). */
async function once_(dir, fds) {
  const code = `const { listeners } = await import(${JSON.stringify(join(dir, 'dist', 'index.js'))});
const t = performance.now(); const l = listeners(); const ms = performance.now() - t;
console.log(JSON.stringify({ ms, n: l.length }));`;
  const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit', ...fds],
    env: { ...process.env, LISTEN_FDS: String(fds.length), LISTEN_FDNAMES: undefined },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await once(child, 'close');
  const r = JSON.parse(out);
  if (r.n !== fds.length) throw new Error(`expected ${fds.length} descriptors, got ${r.n}`);
  return r.ms;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`listeners() over inherited pipes and sockets: ${samples} fresh processes per cell, interleaved. Trees: ${trees.map((t) => `${t.label} = ${t.dir === root ? '<this tree>' : '<another build>'}`).join('; ')}.\n`);
console.log('| inherited fds | tree | pipes: median ms | sockets: median ms | pipes ÷ sockets | pipes: µs per fd |');
console.log('| ---: | --- | ---: | ---: | ---: | ---: |');
for (const size of sizes) {
  const pipes = [];
  const ends = [];
  const sockets = [];
  for (let i = 0; i < size; i++) {
    const [r, w] = n.pipe();
    pipes.push(r);
    ends.push(w);
    sockets.push(n.socket(n.constants.AF_INET, n.constants.SOCK_DGRAM, 0));
  }
  const times = trees.map(() => ({ pipes: [], sockets: [] }));
  for (let s = 0; s < samples; s++) {
    for (const [i, t] of trees.entries()) {
      times[i].pipes.push(await once_(t.dir, pipes));
      times[i].sockets.push(await once_(t.dir, sockets));
    }
  }
  for (const [i, t] of trees.entries()) {
    const p = median(times[i].pipes);
    const k = median(times[i].sockets);
    console.log(`| ${size} | ${t.label} | ${p.toFixed(1)} | ${k.toFixed(1)} | ${(p / k).toFixed(2)}× | ${((p * 1000) / size).toFixed(1)} |`);
  }
  for (const fd of [...pipes, ...ends, ...sockets]) n.close(fd);
}
