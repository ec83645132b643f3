/**
 * Argument parsing for the project's node scripts (the simulator, kube:up, ad:up,
 * the bench, the demo): node:util parseArgs, strict, plus `-h`/`--help`. Bad input
 * gets one line naming the problem and exit code 2, never a stack trace.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

export interface CliSpec<O extends ParseArgsOptionsConfig> {
  /** How the user runs it, for messages: e.g. "npm run truetask-sim --". */
  program: string;
  /** The whole --help text. */
  usage: string;
  options: O;
}

type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>>['values'];

export type CliResult<O extends ParseArgsOptionsConfig> =
  | { kind: 'ok'; values: Parsed<O> }
  | { kind: 'help'; text: string }
  | { kind: 'error'; message: string };

/** The one-line complaint for a parseArgs error. */
function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = (e.message ?? String(err)).split('\n')[0] ?? '';
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted ?? message}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${quoted ?? message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return message.replace(/^Option '([^']+)'/, '$1').replace(/\.$/, '');
    default:
      return message;
  }
}

/** Parses argv without side effects: the values, or what --help or an error should print. */
export function parseCli<O extends ParseArgsOptionsConfig>(spec: CliSpec<O>, argv: readonly string[]): CliResult<O> {
  const end = argv.indexOf('--');
  const flags = end < 0 ? argv : argv.slice(0, end);
  if (flags.includes('--help') || flags.includes('-h')) return { kind: 'help', text: spec.usage };
  try {
    const { values } = parseArgs({ args: [...argv], options: spec.options, strict: true, allowPositionals: false });
    return { kind: 'ok', values: values as Parsed<O> };
  } catch (err) {
    return { kind: 'error', message: `${spec.program}: ${describeError(err)} (see --help)` };
  }
}

/** parseCli for a script's entry point: prints the usage and exits 0 on --help, prints one line and exits 2 on bad input. */
export function parseCliOrExit<O extends ParseArgsOptionsConfig>(spec: CliSpec<O>, argv: readonly string[] = process.argv.slice(2)): Parsed<O> {
  const r = parseCli(spec, argv);
  if (r.kind === 'ok') return r.values;
  if (r.kind === 'help') {
    process.stdout.write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
    process.exit(0);
  }
  return usageError(r.message);
}

/** Bad input found after parsing (a value out of range, ...): one line on stderr, exit 2. */
export function usageError(message: string): never {
  process.stderr.write(`${message.split('\n').join(' ')}\n`);
  process.exit(2);
}
