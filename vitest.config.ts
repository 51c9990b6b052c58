import { defineConfig } from 'vitest/config';

export default defineConfig({
  // src/load-addon.cts is TypeScript too (CommonJS in both builds).
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ },
  test: {
    include: ['test/**/*.test.ts'],
    // The package tier has its own config (vitest.package.config.ts, `npm run test:package`).
    exclude: ['test/package/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
