import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';
import { isArrayTypeFetchFailure } from './server/src/database.ts';

export default defineConfig({
  test: {
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    // postgres.js's dropped array-type query on a connection cut while it opens (porsager/postgres#1192):
    // tests that stop the database or end pools meet it; the server logs it (server/src/main.ts).
    onUnhandledError: (error) => !isArrayTypeFetchFailure(error),
    projects: [
      {
        test: {
          name: 'roster',
          // Integration, live, race and browser suites in test/; unit tests of pure modules beside them.
          include: ['test/**/*.test.ts', '{shared,server,web}/src/**/*.test.ts'],
          exclude: ['**/*.svelte.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          pool: 'forks',
          testTimeout: 30_000,
          hookTimeout: 60_000,
          // expect.poll gives up after 1 s by default: too short for a page that loads on a busy CI
          // machine. A poll that is due to succeed waits longer; one that is not still fails.
          expect: { poll: { timeout: 5_000 } },
          // One embedded PostgreSQL serves the run; each file gets a database of its own.
          fileParallelism: true,
        },
      },
      {
        // The console's rune classes (`*.svelte.ts`), compiled as the console's build compiles them.
        plugins: [svelte()],
        test: { name: 'console', include: ['web/src/**/*.svelte.test.ts'] },
      },
    ],
  },
});
