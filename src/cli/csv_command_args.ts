/**
 * Argument handling shared by the offline CSV commands (`emms detect`, `emms iforest`): both
 * take `--input FILE --output FILE` plus their own string options, print usage on `--help`,
 * and exit 2 on a bad or missing option, so a script sees one convention.
 */
import { parseArgs } from 'node:util';

type StringOptions = Record<string, { type: 'string'; multiple?: boolean }>;
type StringValues<T extends StringOptions> = { [K in keyof T]?: T[K]['multiple'] extends true ? string[] : string };

/** Parsed arguments, or the exit code to return when the command must not run (help, error). */
export function parseCsvCommandArgs<T extends StringOptions>(
  command: string, usage: string, argv: string[], options: T,
): number | { input: string; output: string; values: StringValues<T> } {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { input: { type: 'string' }, output: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...options },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`emms ${command}: ${(err as Error).message}\n\n${usage}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (typeof values.input !== 'string' || typeof values.output !== 'string') {
    process.stderr.write(`emms ${command}: --input and --output are required\n\n${usage}\n`);
    return 2;
  }
  return { input: values.input, output: values.output, values: values as StringValues<T> };
}
