// npm runs this before `npm pack` and `npm publish`: a package packed without its prebuilds
// (a fresh clone, where prebuilds/ is not committed) would make every user compile the addon,
// or fail to install where there is no compiler. `npm pack --ignore-scripts` skips the check.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const needed = ['linux-x64', 'linux-arm64'].flatMap((dir) => [`prebuilds/${dir}/socket-activation.glibc.node`, `prebuilds/${dir}/socket-activation-reload`]);
const missing = needed.filter((file) => !existsSync(join(root, file)));
if (missing.length > 0) {
  console.error(`prepack: ${missing.join(', ')} missing: the package would make every user build the addon from source. Run \`npm run prebuilds\` first.`);
  process.exit(1);
}
