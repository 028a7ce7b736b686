import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Integration tests start real servers and child processes; 2-core CI machines need the headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // `npm run coverage`: lines of src/ run by the tests in their own processes. V8's coverage
    // of the test process does not see worker threads or child processes, so code that runs
    // only there is either called in-process by a test as well (the piscina tasks and the
    // thread-priority call: tests/unit/worker_tasks_in_process.test.ts; chunk_encode_task.ts:
    // tests/unit/chunk_encoder.test.ts; `emms serve`: tests/unit/serve_command.test.ts) or
    // excluded below with the tests that run it.
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
        // The decode worker's entry: it answers the main thread's messages on `parentPort` at
        // module level, so it runs only inside the decode pool's worker threads. Its decoding is
        // TenantDecoders and FrameDecoder (src/ingest/), measured in-process; the entry itself
        // runs in every ingest test through DecodePool (tests/unit/decode_copy.test.ts,
        // server_decode_tenants.test.ts, server_http.test.ts, tests/integration/server_*.test.ts).
        'src/ingest/decode_worker.ts',
      ],
      // The seed's floor for src/ (measured: see the report `npm run coverage` prints).
      thresholds: { lines: 90 },
      reporter: ['text-summary', 'json-summary'],
      // The figure is printed even when a test fails, so a red run still shows it.
      reportOnFailure: true,
      reportsDirectory: 'coverage',
    },
  },
});
