// CommonJS in both builds (it compiles to a .cjs file): `__dirname` and `require` exist here
// whether the package was loaded with `import` or `require`, while `import.meta.url` would not
// even parse in the CommonJS build.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root: the nearest directory above this file (dist/, dist/cjs/ or src/) with binding.gyp. @internal */
export function packageRoot(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) throw new Error(`binding.gyp not found in any directory above ${__dirname}: the package is incomplete`);
  }
}

/**
 * Loads the addon with node-gyp-build: a local build (build/Release) when there is one,
 * otherwise the prebuild in prebuilds/ that fits this platform, architecture and libc.
 */
export function loadAddon(): unknown {
  return require('node-gyp-build')(packageRoot());
}
