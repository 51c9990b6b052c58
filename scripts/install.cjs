'use strict';
// npm runs this when the package is installed: use the prebuilt binary that fits (nothing to
// compile), or build from source with node-gyp, and say plainly what is missing when that fails.
// Windows: the addon is never loaded there (not activated, always), so there is nothing to build.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

/** Why the addon did not load (a prebuild that exists but needs a newer system library, say), or '' when it loads. */
function loadError() {
  try {
    require('node-gyp-build')(root);
    return '';
  } catch (err) {
    return String(err && err.message ? err.message : err);
  }
}

const forced = process.env.npm_config_build_from_source === 'true';
if (process.platform === 'win32') process.exit(0);
const prebuilt = forced ? 'not tried' : loadError();
if (prebuilt === '') process.exit(0);

// npm puts its own node-gyp on PATH for install scripts and names it in npm_config_node_gyp.
const gyp = process.env.npm_config_node_gyp;
const build = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit' });
if (build.status === 0 && loadError() === '') process.exit(0);

const glibc = process.report?.getReport().header.glibcVersionRuntime;
// A git checkout has no prebuilds/ (made by `npm run prebuilds` for the package, not kept in
// git): there "no prebuilt binary fits" would contradict the list of platforms printed below.
const checkout = !require('node:fs').existsSync(path.join(root, 'prebuilds'));
// node-gyp-build says "No native build was found" when nothing fits; anything else is a binary
// that was found but did not load, and its loader's words say why.
const why = forced
  ? 'building from source was asked for (npm_config_build_from_source)'
  : !/No native build was found/.test(prebuilt)
    ? `the prebuilt binary did not load (${prebuilt.split('\n')[0]})`
    : checkout
      ? 'this copy has no prebuilds/ directory (a git checkout: the prebuilt binaries are made by `npm run prebuilds` for the published package)'
      : `no prebuilt binary fits ${process.platform}-${process.arch}${glibc ? ` with glibc ${glibc}` : ''}`;
console.error(
  [
    '',
    `socket-activation: ${why}, and building from source failed.`,
    'Prebuilt: Linux x64 and arm64 with glibc 2.28 or newer. Anywhere else the addon is built from source, which needs',
    'python3, make and a C++ compiler (Debian/Ubuntu: apt-get install python3 make g++; Alpine: apk add python3 make g++;',
    // npm rebuild NAME rebuilds dependencies only, never the project it runs in.
    `macOS: xcode-select --install). Install them, then run: ${checkout ? 'npm install' : 'npm rebuild socket-activation'}`,
    '',
  ].join('\n'),
);
process.exit(build.status || 1);
