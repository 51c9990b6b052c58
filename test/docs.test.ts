// The API reference (docs/API.md) is generated from the TSDoc by typedoc and must match the
// sources; the README's troubleshooting table has a row for every error code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers/activated.js';

const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('documentation', () => {
  it('docs/API.md is what `npm run docs` makes from the current sources', () => {
    const out = mkdtempSync(join(tmpdir(), 'sa-docs-'));
    try {
      const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--logLevel', 'Error'], { cwd: root, encoding: 'utf8' });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      const fresh = readFileSync(join(out, 'API.md'), 'utf8');
      expect(readFileSync(join(root, 'docs', 'API.md'), 'utf8') === fresh, 'docs/API.md is out of date: run `npm run docs` and commit it').toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('the README links the API reference', () => {
    expect(readme).toMatch(/\]\(docs\/API\.md\)/);
  });

  it('the README troubleshooting table has a row for every error code of src/errors.ts', () => {
    const union = readFileSync(join(root, 'src', 'errors.ts'), 'utf8').match(/export type SocketActivationErrorCode =([^;]*);/)![1]!;
    const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(10);
    const section = readme.slice(readme.indexOf('## Troubleshooting by error code'));
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]!);
    expect(codes.filter((c) => !rows.includes(c))).toEqual([]);
  });
});
