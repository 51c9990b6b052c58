// The example unit files pass systemd's own checker.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './helpers/activated.js';

describe('examples', () => {
  it('unit files pass systemd-analyze verify', () => {
    const dir = join(root, 'examples', 'systemd');
    const units = readdirSync(dir).filter((f) => /\.(socket|service)$/.test(f));
    expect(units.length).toBeGreaterThan(0);
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...units.map((u) => `./${u}`)], { cwd: dir, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
