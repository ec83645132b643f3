import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/util/cli-args.ts';

const spec = {
  program: 'tool',
  usage: 'usage: tool [--port N] [--quiet]\n',
  options: { port: { type: 'string', default: '8080' }, quiet: { type: 'boolean', default: false } },
} as const;

describe('parseCli (the node scripts\' arguments)', () => {
  it('returns the values, with defaults', () => {
    expect(parseCli(spec, ['--port', '0', '--quiet'])).toEqual({ kind: 'ok', values: { port: '0', quiet: true } });
    expect(parseCli(spec, [])).toEqual({ kind: 'ok', values: { port: '8080', quiet: false } });
  });

  it('answers --help and -h with the usage, whatever else is there, but not after --', () => {
    expect(parseCli(spec, ['--help'])).toEqual({ kind: 'help', text: spec.usage });
    expect(parseCli(spec, ['--bogus', '-h'])).toEqual({ kind: 'help', text: spec.usage });
    expect(parseCli(spec, ['--', '--help']).kind).toBe('error');
  });

  it.each([
    [['--bogus'], 'tool: unknown option --bogus (see --help)'],
    [['-x'], 'tool: unknown option -x (see --help)'],
    [['--port'], 'tool: --port <value> argument missing (see --help)'],
    [['--quiet=yes'], 'tool: --quiet does not take an argument (see --help)'],
    [['extra'], 'tool: unexpected argument extra (see --help)'],
  ])('refuses %j with one line naming the problem', (argv, message) => {
    expect(parseCli(spec, argv)).toEqual({ kind: 'error', message });
  });
});
