// The package as users get it: the packed tarball (made once per run by test/package/setup.ts)
// installed into fresh, empty projects, and official Node binaries of other versions and
// architectures from the npm registry's node-linux-<arch> packages (cached in the temp dir).
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtures, root } from './activated.js';

export const consumerFiles = join(fixtures, '..', 'consumer');

/**
 * The environment of this process without what an outer `npm run` adds: npm_config_local_prefix
 * and friends would point a nested npm at this repository instead of the project it runs in.
 */
export function cleanEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'INIT_CWD' || k === 'NODE_OPTIONS' || k.startsWith('LISTEN_')) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

const npmCli = realpathSync(execFileSync('/bin/sh', ['-c', 'command -v npm'], { encoding: 'utf8', env: cleanEnvironment() }).trim());

/** Fills `bin` with only `node`, `npm` and `sh`: a PATH on which no compiler, make or python can be found. */
export function bareBin(bin: string): string {
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(npmCli, join(bin, 'npm'));
  // npm runs scripts with the sh it finds on PATH
  symlinkSync('/bin/sh', join(bin, 'sh'));
  return bin;
}

export interface Project {
  dir: string;
  /** node_modules/socket-activation */
  packageDir: string;
  install: SpawnSyncReturns<string>;
}

/**
 * A new project (consumer files from test/consumer copied in) with the tarball installed.
 * `allowScripts`: npm 11 runs a dependency's install script only when the project allows it.
 */
export function installProject(tarball: string, options: { env?: NodeJS.ProcessEnv; allowScripts?: boolean } = {}): Project {
  const dir = mkdtempSync(join(tmpdir(), 'sa-project-'));
  cpSync(consumerFiles, dir, { recursive: true });
  const pkg: Record<string, unknown> = { name: 'consumer', private: true };
  if (options.allowScripts) pkg.allowScripts = { 'socket-activation': true };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tarball], {
    cwd: dir,
    env: options.env ?? cleanEnvironment(),
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { dir, packageDir: join(dir, 'node_modules', 'socket-activation'), install };
}

export const nodeBinaryCache = join(tmpdir(), 'socket-activation-node-binaries');

/**
 * bin/node of the npm package `node-linux-<arch>@<range>` (the official Node build), downloaded
 * once into nodeBinaryCache and reused by later runs.
 */
export function nodeBinary(arch: 'x64' | 'arm64', range: string): { version: string; path: string } {
  const name = `node-linux-${arch}`;
  const npm = (...args: string[]) => execFileSync('npm', args, { encoding: 'utf8', env: cleanEnvironment(), cwd: tmpdir(), timeout: 300_000 });
  const versions = JSON.parse(npm('view', `${name}@${range}`, 'version', '--json')) as string | string[];
  const newest = (a: string, b: string) => (b.split('.').map(Number).reduce((d, n, i) => d || n - Number(a.split('.')[i]), 0) > 0 ? b : a);
  const version = Array.isArray(versions) ? versions.reduce(newest) : versions;
  const dir = join(nodeBinaryCache, `${name}-${version}`);
  const path = join(dir, 'bin', 'node');
  if (!existsSync(path)) {
    mkdirSync(nodeBinaryCache, { recursive: true });
    const scratch = mkdtempSync(join(nodeBinaryCache, 'download-'));
    try {
      const [packed] = JSON.parse(npm('pack', `${name}@${version}`, '--pack-destination', scratch, '--json')) as { filename: string }[];
      execFileSync('tar', ['xzf', join(scratch, packed!.filename), '-C', scratch, 'package/bin/node']);
      rmSync(dir, { recursive: true, force: true });
      renameSync(join(scratch, 'package'), dir);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return { version, path };
}

/** The prebuilt binaries in the repository's prebuilds/ (made by `npm run prebuilds`). */
export function prebuilds(): string[] {
  const dir = join(root, 'prebuilds');
  return existsSync(dir) ? readdirSync(dir).flatMap((tuple) => readdirSync(join(dir, tuple)).map((file) => `${tuple}/${file}`)) : [];
}
