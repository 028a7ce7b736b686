import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Integration tests start real servers and child processes; 2-core CI machines need the headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // `npm run coverage`: lines of src/ run by the tests in their own processes. Code that runs
    // only in worker threads (src/workers/*_task.ts, the decode worker) or child processes is
    // not seen by V8's coverage of the test process.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: [
        // Generated code: none is in src/. The WASM kernels are compiled from assembly/ into
        // build/ (outside src/, and V8 does not count lines inside WebAssembly); declaration
        // files carry no code.
        '**/*.d.ts',
        // The CLI's entry (argv dispatch, exit codes, the shebang's heap flag): it only runs as
        // a child process (tests/integration/server_harness.ts), which coverage does not follow;
        // each subcommand it loads (src/cli/*_command.ts) is tested in-process.
        'src/cli/main.ts',
      ],
      reporter: ['text-summary', 'json-summary'],
      // The figure is printed even when a test fails, so a red run still shows it.
      reportOnFailure: true,
      reportsDirectory: 'coverage',
    },
  },
});
