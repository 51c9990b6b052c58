// Global setup of the package tier: packs the tarball once (dist/ and prebuilds/ must be
// built: `npm run test:package` does both first) and hands its path to every test file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { root } from '../helpers/activated.js';
import { cleanEnvironment, prebuilds } from '../helpers/package.js';

declare module 'vitest' {
  export interface ProvidedContext {
    tarball: string;
  }
}

export default function setup(project: TestProject): () => void {
  const expected = ['linux-arm64/socket-activation.glibc.node', 'linux-x64/socket-activation.glibc.node', 'linux-arm64/socket-activation-reload', 'linux-x64/socket-activation-reload'];
  const found = prebuilds();
  if (expected.some((p) => !found.includes(p))) {
    throw new Error(`prebuilds/ holds [${found.join(', ')}], expected ${expected.join(' and ')}: run \`npm run prebuilds\` first (npm run test:package does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'sa-pack-'));
  // --ignore-scripts: dist/ is already built; `prepare` would only compile it again.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', env: cleanEnvironment() });
  const [packed] = JSON.parse(out) as { filename: string }[];
  project.provide('tarball', join(dir, packed!.filename));
  return () => rmSync(dir, { recursive: true, force: true });
}
