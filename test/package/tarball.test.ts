// The package as npm delivers it: what the tarball holds, the prebuilt binaries (machine,
// stripped, glibc floor), an install on a PATH without any compiler that serves real clients
// through the package's own launcher with ESM and CommonJS consumers, types for both, and the
// build from source (with a compiler it works; without one it fails with a clear message).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { root } from '../helpers/activated.js';
import { get, udpRequest } from '../helpers/clients.js';
import { bareBin, cleanEnvironment, installProject, type Project } from '../helpers/package.js';
import { killAll, start } from '../helpers/watch.js';

const tarball = inject('tarball');
const projects: Project[] = [];
afterEach(killAll);
afterAll(() => {
  for (const p of projects) rmSync(p.dir, { recursive: true, force: true });
});

function project(options: Parameters<typeof installProject>[1] = {}): Project {
  const p = installProject(tarball, options);
  projects.push(p);
  return p;
}

/** The greatest symbol version of `prefix` (GLIBC, GLIBCXX, CXXABI) a shared object needs, as "x.y" or "x.y.z". */
function versionFloor(file: string, prefix: string): string {
  const pattern = new RegExp(`\\b${prefix}_(\\d+(?:\\.\\d+)*)\\b`, 'g');
  const versions = [...execFileSync('objdump', ['-T', file], { encoding: 'utf8' }).matchAll(pattern)].map((m) => m[1]!.split('.').map(Number));
  versions.sort((a, b) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  });
  return versions.at(-1)!.join('.');
}

/** ELF e_machine of a file: 62 x86-64, 183 AArch64. */
const elfMachine = (file: string) => readFileSync(file).readUInt16LE(18);

describe('the tarball', () => {
  const files = () => execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));

  it('holds both builds, both prebuilds, the addon sources and the install script; nothing else', () => {
    const list = files();
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'binding.gyp',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/package.json',
      'dist/load-addon.cjs',
      'native/init.cc',
      'native/glibc-compat.c',
      'native/libstdcxx-compat.cc',
      'scripts/install.cjs',
      'bin/socket-activation-reload',
      'native/reload-command.c',
      'prebuilds/linux-x64/socket-activation.glibc.node',
      'prebuilds/linux-arm64/socket-activation.glibc.node',
      'prebuilds/linux-x64/socket-activation-reload',
      'prebuilds/linux-arm64/socket-activation-reload',
      'docs/API.md',
    ]) {
      expect(list).toContain(f);
    }
    expect(list.filter((f) => /^(src|test|build|bench|examples|docs|node_modules)\/|\.map$|\.tgz$/.test(f) && f !== 'docs/API.md')).toEqual([]);
    expect(list.filter((f) => /^dist\/cjs\/(launcher|cli|supervisor)\//.test(f))).toEqual([]);
  });

  it('no shipped file points at a source map, which the package does not hold (bundlers and debuggers warn of a missing map)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sa-unpacked-'));
    try {
      execFileSync('tar', ['xzf', tarball, '-C', dir]);
      const grep = spawnSync('grep', ['-rlE', '^//# sourceMappingURL=', join(dir, 'package')], { encoding: 'utf8' });
      // grep: 1 when no file matches.
      expect(grep.status, grep.stderr).toBe(1);
      expect(grep.stdout).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every relative link of the README names a file the package holds", () => {
    const list = files();
    const readme = execFileSync('tar', ['xzOf', tarball, 'package/README.md'], { encoding: 'utf8' });
    const links = [...readme.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)].map((m) => m[1]!);
    expect(links).toContain('docs/API.md');
    expect(links.filter((l) => !list.includes(l))).toEqual([]);
  });

  it('prebuilds: stripped ELF for x86-64 and AArch64 that need no glibc newer than 2.28, and no libstdc++ newer than Node\'s own (GLIBCXX_3.4.21, CXXABI_1.3.9)', () => {
    const x64 = join(root, 'prebuilds/linux-x64/socket-activation.glibc.node');
    const arm64 = join(root, 'prebuilds/linux-arm64/socket-activation.glibc.node');
    expect([elfMachine(x64), elfMachine(arm64)]).toEqual([62, 183]);
    for (const file of [x64, arm64]) {
      expect(versionFloor(file, 'GLIBC')).toBe('2.28');
      // Debian 10 and RHEL 8 have GLIBCXX_3.4.25 and CXXABI_1.3.11; Node 18-24 need these.
      expect(versionFloor(file, 'GLIBCXX')).toBe('3.4.21');
      expect(versionFloor(file, 'CXXABI')).toBe('1.3.9');
      // stripped: no static symbol table left
      expect(execFileSync('objdump', ['-t', file], { encoding: 'utf8' })).toMatch(/no symbols/);
    }
  });

  it('prebuilt reload commands: stripped, statically linked ELF for x86-64 and AArch64 (no interpreter, so no glibc version)', () => {
    const x64 = join(root, 'prebuilds/linux-x64/socket-activation-reload');
    const arm64 = join(root, 'prebuilds/linux-arm64/socket-activation-reload');
    expect([elfMachine(x64), elfMachine(arm64)]).toEqual([62, 183]);
    for (const file of [x64, arm64]) {
      const headers = execFileSync('readelf', ['-l', '-d', file], { encoding: 'utf8' });
      expect(headers).not.toMatch(/INTERP|program interpreter|NEEDED/);
      expect(execFileSync('objdump', ['-t', file], { encoding: 'utf8' })).toMatch(/no symbols/);
    }
  });

  it('npm pack refuses to pack without the prebuilds (a fresh clone), saying how to make them', () => {
    const copy = mkdtempSync(join(tmpdir(), 'sa-prepack-'));
    try {
      execFileSync('cp', ['-r', join(root, 'package.json'), join(root, 'scripts'), copy]);
      const r = spawnSync('npm', ['pack', '--dry-run'], { cwd: copy, encoding: 'utf8', env: cleanEnvironment() });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain('prebuilds/linux-x64/socket-activation.glibc.node');
      expect(r.stderr).toContain('Run `npm run prebuilds` first');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('prebuilds/ is generated, never committed', () => {
    expect(execFileSync('git', ['ls-files', 'prebuilds', 'build', 'dist'], { cwd: root, encoding: 'utf8' })).toBe('');
    expect(spawnSync('git', ['check-ignore', '-q', 'prebuilds/linux-x64/socket-activation.glibc.node'], { cwd: root }).status).toBe(0);
  });
});

describe('installed on a PATH without a compiler', () => {
  const bin = mkdtempSync(join(tmpdir(), 'sa-bare-'));
  const env = cleanEnvironment({ PATH: bareBin(bin) });
  let p: Project;
  beforeAll(() => {
    p = project({ env, allowScripts: true });
  });
  afterAll(() => rmSync(bin, { recursive: true, force: true }));

  it('installs (its install script allowed to run) without compiling anything', () => {
    const none = spawnSync('/bin/sh', ['-c', 'for p in cc gcc c++ g++ clang make python3 python; do command -v $p && exit 1; done; exit 0'], { env, encoding: 'utf8' });
    expect(none.stdout).toBe('');
    expect(none.status).toBe(0);
    expect(p.install.status, p.install.stderr).toBe(0);
    expect(p.install.stdout).toMatch(/> node scripts\/install\.cjs/);
    expect(existsSync(join(p.packageDir, 'build'))).toBe(false);
  });

  it('ES module consumer under the package launcher: HTTP, UDP and a unix socket answer real clients', async () => {
    const api = join(p.dir, 'api.sock');
    const bin = join(p.dir, 'node_modules', '.bin', 'socket-activation');
    const launcher = start(bin, ['-l', 'web=127.0.0.1:0', '-d', 'dns=127.0.0.1:0', '-l', `api=${api}`, '--', 'node', 'app.mjs'], { cwd: p.dir, env });
    const ready = await launcher.json('READY');
    expect(ready.format).toBe('esm');
    expect(ready.addon).toBe(join(p.packageDir, 'prebuilds/linux-x64/socket-activation.glibc.node'));
    const local = (name: string) => ready.descriptors.find((d: { name: string }) => d.name === name).local;
    const web = await get({ host: '127.0.0.1', port: local('web').port });
    expect(web).toMatchObject({ status: 200, body: `hello from esm on x64 node ${process.version}\n` });
    const dns = await udpRequest('udp4', '127.0.0.1', local('dns').port, Buffer.from('ping'));
    expect(dns.reply.toString()).toBe('echo:ping');
    expect(await get({ path: api })).toMatchObject({ status: 200 });
    process.kill(launcher.pid, 'SIGTERM');
    expect(await launcher.finish()).toEqual({ code: 0, signal: null });
  });

  it('CommonJS consumer (require) gets the CommonJS build and serves a real client', async () => {
    const launcher = start(join(p.dir, 'node_modules', '.bin', 'socket-activation'), ['-l', 'web=127.0.0.1:0', '--', 'node', 'app.cjs'], { cwd: p.dir, env });
    const ready = await launcher.json('READY');
    expect(ready).toMatchObject({ format: 'cjs', entry: join(p.packageDir, 'dist/cjs/index.js') });
    const web = await get({ host: '127.0.0.1', port: ready.descriptors[0].local.port });
    expect(web).toMatchObject({ status: 200, body: `hello from cjs on x64 node ${process.version}\n` });
    expect(await launcher.json('LOOKUP')).toEqual({ isClass: true, code: 'ERR_LISTENER_NOT_FOUND' });
    process.kill(launcher.pid, 'SIGTERM');
    expect(await launcher.finish()).toEqual({ code: 0, signal: null });
  });

  it('node_modules/.bin/socket-activation-reload runs the prebuilt program (no node on its PATH) and asks the control socket', async () => {
    // Only what the wrapper script itself uses: a fallback to the Node command would fail here.
    const tools = mkdtempSync(join(tmpdir(), 'sa-tools-'));
    try {
      for (const tool of ['sh', 'readlink', 'uname']) symlinkSync(execFileSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(tools, tool));
      const runtime = mkdtempSync(join(tmpdir(), 'sa-run-'));
      const server = net.createServer((s) => s.once('data', () => s.end('ok 4321\n')));
      await new Promise<void>((resolve) => server.listen(join(runtime, 'socket-activation-77.ctl'), resolve));
      try {
        const reload = join(p.dir, 'node_modules', '.bin', 'socket-activation-reload');
        const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
          execFile(reload, ['77'], { env: { PATH: tools, RUNTIME_DIRECTORY: runtime } }, (err, stdout, stderr) =>
            resolve({ code: err ? (err.code as number) : 0, out: stdout + stderr }),
          );
        });
        expect(r).toEqual({ code: 0, out: 'socket-activation: upgraded; pid 4321 is the main process now\n' });
      } finally {
        server.close();
        rmSync(runtime, { recursive: true, force: true });
      }
    } finally {
      rmSync(tools, { recursive: true, force: true });
    }
  });

  it('building from source without a compiler fails, saying what to install', () => {
    const failed = project({ env: { ...env, npm_config_build_from_source: 'true' }, allowScripts: true });
    expect(failed.install.status).not.toBe(0);
    const said = failed.install.stdout + failed.install.stderr;
    expect(said).toMatch(/socket-activation: building from source was asked for \(npm_config_build_from_source\), and building from source failed\./);
    expect(said).toMatch(/python3, make and a C\+\+ compiler \(Debian\/Ubuntu: apt-get install python3 make g\+\+/);
    expect(said).toMatch(/npm rebuild socket-activation/);
  });
});

describe('built from source', () => {
  it('with a compiler: npm_config_build_from_source builds the addon, which then serves a real client', async () => {
    const p = project({ env: cleanEnvironment({ npm_config_build_from_source: 'true' }), allowScripts: true });
    expect(p.install.status, p.install.stdout + p.install.stderr).toBe(0);
    expect(existsSync(join(p.packageDir, 'build/Release/socket_activation.node'))).toBe(true);
    const launcher = start(process.execPath, [join(p.packageDir, 'dist/cli/main.js'), '-l', 'web=127.0.0.1:0', '--', process.execPath, 'app.cjs'], { cwd: p.dir, env: cleanEnvironment() });
    const ready = await launcher.json('READY');
    expect(ready.addon).toBe(join(p.packageDir, 'build/Release/socket_activation.node'));
    expect(await get({ host: '127.0.0.1', port: ready.descriptors[0].local.port })).toMatchObject({ status: 200 });
    process.kill(launcher.pid, 'SIGTERM');
    expect(await launcher.finish()).toEqual({ code: 0, signal: null });
  });

  it('the addon missing altogether: a clear error with its code when the package is used', () => {
    const p = project();
    rmSync(join(p.packageDir, 'prebuilds'), { recursive: true });
    const script = "import('socket-activation').then((sa) => sa.inspect(0)).catch((err) => console.log(JSON.stringify({ code: err.code, message: err.message })))";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: p.dir, encoding: 'utf8', env: cleanEnvironment() });
    const out = JSON.parse(r.stdout);
    expect(out.code).toBe('ERR_ADDON_NOT_LOADED');
    expect(out.message).toMatch(/No native build was found for platform=linux arch=x64/);
    expect(out.message).toMatch(/npm rebuild socket-activation/);
  });
});

describe('types', () => {
  it('import (.mts) and require (.cts) consumers type-check against their own declaration files', () => {
    const p = project();
    writeFileSync(
      join(p.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] },
        files: ['types.mts', 'types.cts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', '.', '--explainFiles'], { cwd: p.dir, encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/node_modules\/socket-activation\/dist\/index\.d\.ts\n\s+Imported via 'socket-activation' from file 'types\.mts'/);
    expect(r.stdout).toMatch(/node_modules\/socket-activation\/dist\/cjs\/index\.d\.ts\n\s+Imported via 'socket-activation' from file 'types\.cts'/);
  });
});
