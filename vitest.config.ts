import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Integration tests start real servers and child processes; 2-core CI machines need the headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
