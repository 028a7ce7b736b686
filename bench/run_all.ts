/**
 * `npm run bench`: runs every bench/*.bench.ts in its own process, one after another, so no
 * benchmark's leftover heap or threads skew the next. Prints the machine once, then each
 * benchmark's own table. EMMS_BENCH_QUICK=1 asks each benchmark for its quick mode; a file
 * name filter may be given: `npm run bench -- codec aggregate`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((name) => f.includes(name)))
  .sort();

const cpu = cpus();
process.stdout.write(
  `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}\n` +
    `benchmarks: ${files.join(', ')}\n\n`,
);

let failed = 0;
for (const file of files) {
  process.stdout.write(`=== ${file}\n`);
  const started = Date.now();
  const result = spawnSync(process.execPath, ['--import', 'tsx', `${benchDir}${file}`], { stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    failed++;
    process.stdout.write(`=== ${file} FAILED (exit ${String(result.status ?? result.signal)}) after ${seconds} s\n\n`);
  } else {
    process.stdout.write(`=== ${file} done in ${seconds} s\n\n`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
