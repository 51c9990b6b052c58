// The addon's fd watcher (native/watch.cc), which the supervisor's notify socket and the
// hand-over channel use: an exception from its callback is the process's uncaught exception,
// as from any event-loop callback, never an abort of the process.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import { root } from './helpers/activated.js';

it('a callback that throws: process.on("uncaughtException") gets the error; the process is not aborted', async () => {
  const script = `
    const { native } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'native.js')).href)});
    const n = native();
    const [a, b] = n.socketPair(n.constants.SOCK_DGRAM);
    process.on('uncaughtException', (err) => {
      console.log('caught: ' + err.message);
      process.exit(0);
    });
    new n.Watcher(a, () => {
      throw new Error('boom');
    });
    n.sendOn(b, Buffer.from('x'), new Int32Array(0));
    setTimeout(() => {}, 5000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const [code, signal] = await once(child, 'exit');
  expect({ code, signal, stdout }).toEqual({ code: 0, signal: null, stdout: 'caught: boom\n' });
});
