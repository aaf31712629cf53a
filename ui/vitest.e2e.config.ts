import { defineConfig } from 'vitest/config';

// The browser end-to-end tests: a real `tollgate serve`, a real upstream, Debian's chromium.
// One file at a time: each starts its own server and browser on a 2-core machine.
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
