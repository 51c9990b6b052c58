import { defineConfig } from 'vitest/config';

// The package tier (`npm run test:package`): the packed tarball installed into fresh projects,
// the arm64 prebuild under qemu, every supported Node version. One file at a time: installs,
// builds and emulation are heavy for a 2-core machine shared with other runs.
export default defineConfig({
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ },
  test: {
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/package/setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
