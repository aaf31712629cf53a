import { defineConfig } from 'vitest/config';

// The desktop end-to-end tests: the real app under X (Xvfb in CI) through tauri-driver.
export default defineConfig({
  test: {
    include: ['e2e-desktop/**/*.e2e.ts'],
    environment: 'node',
    testTimeout: 180_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
