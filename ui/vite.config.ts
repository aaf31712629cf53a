import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

// `base: './'` keeps every asset URL relative, so the same build works under any path that
// `tollgate serve` mounts it on and from the Tauri webview's custom protocol.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  resolve: {
    alias: { $lib: fileURLToPath(new URL('./src/lib', import.meta.url)) },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
  },
  server: {
    // `npm run dev` proxies the admin API to a local `tollgate serve` (open the dev page with
    // `#token=<data dir>/admin-token`). The server refuses foreign Host/Origin headers (DNS
    // rebinding), so the proxy presents itself as the server's own origin.
    proxy: {
      '/api': {
        target: process.env.TOLLGATE_ADMIN_URL ?? 'http://127.0.0.1:8401',
        changeOrigin: true,
        configure: (proxy) => {
          proxy.on('proxyReq', (request) => request.removeHeader('origin'));
        },
      },
    },
  },
  test: {
    include: ['src/**/*.test.ts'],
    exclude: ['e2e/**', 'node_modules/**', 'dist/**'],
    environment: 'node',
    // Absolute times are formatted in local time; tests pin the zone so they mean one thing.
    env: { TZ: 'UTC' },
  },
});
