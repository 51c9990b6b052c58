// Builds the prebuilt binaries that ship in the package (prebuilds/, never in git):
//   linux-x64/socket-activation.glibc.node    with this machine's compiler
//   linux-arm64/socket-activation.glibc.node  cross-compiled with Debian's g++-aarch64-linux-gnu
//   linux-*/socket-activation-reload          the reload command (bin/socket-activation-reload)
// The addons are N-API builds (one binary for every Node version) and stripped. The reload
// command is linked statically: a program linked against this machine's glibc would need its
// __libc_start_main (2.34), while the addon works with 2.28; static, it runs on any Linux of
// its architecture, musl ones too. Everything is built in a scratch copy of the sources, so
// the developer's own build/ (which node-gyp-build prefers over prebuilds) is left as it was.
// Run it with `npm run prebuilds`.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const targets = [
  { arch: 'x64', env: {}, cc: 'cc' },
  {
    arch: 'arm64',
    cc: 'aarch64-linux-gnu-gcc',
    env: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', PREBUILD_STRIP_BIN: 'aarch64-linux-gnu-strip' },
    tools: ['aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip'],
    install: 'apt-get install g++-aarch64-linux-gnu',
  },
];

function onPath(program) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, program)));
}

if (process.platform !== 'linux' || process.arch !== 'x64') {
  console.error(`prebuilds: made on linux-x64 only (this is ${process.platform}-${process.arch})`);
  process.exit(1);
}
for (const t of targets) {
  const missing = (t.tools ?? []).filter((p) => !onPath(p));
  if (missing.length > 0) {
    console.error(`prebuilds: ${missing.join(', ')} not found, needed for linux-${t.arch}; Debian: ${t.install}`);
    process.exit(1);
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'sa-prebuilds-'));
try {
  for (const entry of ['binding.gyp', 'package.json', 'native']) cpSync(join(root, entry), join(scratch, entry), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
  const prebuildify = join(root, 'node_modules', 'prebuildify', 'bin.js');
  for (const t of targets) {
    const started = Date.now();
    const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', `--arch=${t.arch}`], {
      cwd: scratch,
      env: { ...process.env, ...t.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    if (r.status !== 0) {
      console.error(`prebuilds: linux-${t.arch} failed (prebuildify exit ${r.status ?? r.signal})`);
      process.exit(1);
    }
    const reload = spawnSync(
      t.cc,
      ['-O2', '-static', '-s', '-Wall', '-Wextra', '-Werror', '-o', join(scratch, 'prebuilds', `linux-${t.arch}`, 'socket-activation-reload'), join(scratch, 'native', 'reload-command.c')],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (reload.status !== 0) {
      console.error(`prebuilds: the reload command for linux-${t.arch} failed (${t.cc} exit ${reload.status ?? reload.signal})`);
      process.exit(1);
    }
    console.log(`prebuilds: linux-${t.arch} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  cpSync(join(scratch, 'prebuilds'), join(root, 'prebuilds'), { recursive: true });
  for (const dir of readdirSync(join(root, 'prebuilds'))) {
    for (const file of readdirSync(join(root, 'prebuilds', dir))) {
      console.log(`prebuilds/${dir}/${file}: ${statSync(join(root, 'prebuilds', dir, file)).size} bytes`);
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
