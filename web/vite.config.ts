/**
 * The console's build (web/dist, served by api/web.ts) and its dev server
 * (`make dev`: hot reload, /v1 proxied to the API at KORTIX_API_URL).
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The polyfill would be an inline script, which the CSP forbids; every supported browser preloads modules.
    modulePreload: { polyfill: false },
    // Sourcemaps: the bundle stays debuggable; they are separate files, never inlined.
    sourcemap: true,
  },
  server: {
    proxy: { '/v1': { target: process.env.KORTIX_API_URL ?? 'http://127.0.0.1:8000', changeOrigin: false } },
  },
});
