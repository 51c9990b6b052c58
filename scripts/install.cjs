'use strict';
// npm runs this when the package is installed: use the prebuilt binary that fits (nothing to
// compile), or build from source with node-gyp, and say plainly what is missing when that fails.
// Windows: the addon is never loaded there (not activated, always), so there is nothing to build.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

function loads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

const forced = process.env.npm_config_build_from_source === 'true';
if (process.platform === 'win32') process.exit(0);
if (!forced && loads()) process.exit(0);

// npm puts its own node-gyp on PATH for install scripts and names it in npm_config_node_gyp.
const gyp = process.env.npm_config_node_gyp;
const build = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
if (build.status === 0 && loads()) process.exit(0);

const glibc = process.report?.getReport().header.glibcVersionRuntime;
const why = forced
  ? 'building from source was asked for (npm_config_build_from_source)'
  : `no prebuilt binary fits ${process.platform}-${process.arch}${glibc ? ` with glibc ${glibc}` : ''}`;
console.error(
  [
    '',
    `socket-activation: ${why}, and building from source failed.`,
    'Prebuilt: Linux x64 and arm64 with glibc 2.28 or newer. Anywhere else the addon is built from source, which needs',
    'python3, make and a C++ compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++;',
    'macOS: xcode-select --install). Install them, then run: npm rebuild socket-activation',
    '',
  ].join('\n'),
);
process.exit(build.status || 1);
