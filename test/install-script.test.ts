// scripts/install.cjs, the package's install script, where the addon can be neither found nor
// built (a PATH with only node, npm and sh): what it tells a git checkout, which has no
// prebuilds/, and an installed package, which has them for other platforms only.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { root } from './helpers/activated.js';
import { bareBin, cleanEnvironment } from './helpers/package.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the package with no addon anywhere; `prebuilds` adds an empty prebuilds/ as the tarball has. */
function runInstallScript(prebuilds: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'sa-install-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'scripts'));
  copyFileSync(join(root, 'scripts', 'install.cjs'), join(dir, 'scripts', 'install.cjs'));
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  if (prebuilds) mkdirSync(join(dir, 'prebuilds', 'linux-riscv64'), { recursive: true });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  return spawnSync(process.execPath, [join(dir, 'scripts', 'install.cjs')], { cwd: dir, env: cleanEnvironment({ PATH: bareBin(bin) }), encoding: 'utf8' });
}

describe.skipIf(process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch))('install script without an addon and without build tools', () => {
  it('in a git checkout (no prebuilds/), says that the copy has no prebuilds, not that none fits the platform, and names npm install', () => {
    const r = runInstallScript(false);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('socket-activation: this copy has no prebuilds/ directory (a git checkout: the prebuilt binaries are made by `npm run prebuilds` for the published package), and building from source failed.');
    expect(r.stderr).not.toContain('no prebuilt binary fits');
    expect(r.stderr).toMatch(/Install them, then run: npm install$/m);
  });

  it('in the package (prebuilds/ without one for this platform), says that no prebuilt binary fits and names npm rebuild', () => {
    const r = runInstallScript(true);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`socket-activation: no prebuilt binary fits linux-${process.arch}`);
    expect(r.stderr).toMatch(/Install them, then run: npm rebuild socket-activation$/m);
  });
});

// The same copy at run time (no build/, no install script run): the first call that needs the
// addon says that this platform's prebuilt binary is missing, not that none is made for it.
describe.skipIf(process.platform !== 'linux' || !['x64', 'arm64'].includes(process.arch))('the package at run time without the prebuilt binary of this platform', () => {
  function inspectInCopy(prebuilds: boolean): { code: string; message: string; dir: string } {
    const dir = mkdtempSync(join(tmpdir(), 'sa-no-addon-'));
    dirs.push(dir);
    cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    if (prebuilds) mkdirSync(join(dir, 'prebuilds', 'linux-riscv64'), { recursive: true });
    const script = "try { require('./dist/cjs/index.js').inspect(0); } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: dir, env: cleanEnvironment(), encoding: 'utf8' });
    return { ...(JSON.parse(r.stdout) as { code: string; message: string }), dir };
  }

  it.each([
    ['no prebuilds/ at all', false],
    ['prebuilds/ for other platforms only', true],
  ])('%s: ERR_ADDON_NOT_LOADED says that the binary of this platform is missing from this install, and how to get it', (_, prebuilds) => {
    const { code, message, dir } = inspectInCopy(prebuilds);
    expect(code).toBe('ERR_ADDON_NOT_LOADED');
    expect(message).toContain(
      `This platform (linux-${process.arch}, glibc) has a prebuilt binary, but it is missing from this install: ${join(dir, 'prebuilds', `linux-${process.arch}`)}/ is not there. ` +
        'Reinstall the package (npm ci), and keep its prebuilds/ directory when copying or bundling node_modules; or build the addon here:',
    );
    expect(message).toMatch(/then run `npm rebuild socket-activation`\.$/);
    expect(message).not.toContain('Prebuilt binaries cover');
  });
});
