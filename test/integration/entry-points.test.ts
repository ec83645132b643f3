// Every command a user runs answers --help with its usage (exit 0) and bad input with
// one line naming the problem (exit 2), never a stack trace, and starts nothing.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd: root,
        timeout: 60_000,
        // No kube context, no token: nothing the commands could reach by accident.
        env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, HOME: process.env.HOME, KUBECONFIG: '/nonexistent/kubeconfig', npm_config_update_notifier: 'false' },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const node = (script: string, args: string[]) => run(process.execPath, [join(root, script), ...args]);

const entryPoints: Array<{ name: string; run: (args: string[]) => Promise<Run>; usage: RegExp; program: string }> = [
  { name: 'the simulator (npm run truetask-sim)', run: (a) => node('src/truetask-sim/main.ts', a), usage: /^usage: npm run truetask-sim -- \[options\]/, program: 'truetask-sim' },
  { name: 'kube:up', run: (a) => node('scripts/envtest/kube-up.ts', a), usage: /^usage: npm run kube:up\n/, program: 'kube:up' },
  { name: 'ad:up', run: (a) => node('scripts/samba/start.ts', a), usage: /^usage: npm run ad:up -- \[--users N\]/, program: 'ad:up' },
  { name: 'the bench (npm run bench)', run: (a) => node('bench/run.ts', a), usage: /^usage: npm run bench -- \[--users N\[,N...\]\]/, program: 'bench' },
  { name: 'the demo (bash scripts/demo.sh)', run: (a) => run('bash', [join(root, 'scripts/demo.sh'), ...a]), usage: /^usage: bash scripts\/demo.sh \[--keep\]/, program: 'demo' },
  { name: 'the demo program (scripts/demo.ts)', run: (a) => node('scripts/demo.ts', a), usage: /^usage: bash scripts\/demo.sh \[--keep\]/, program: 'demo' },
  { name: 'npm run manifests', run: (a) => node('scripts/gen-crd.ts', a), usage: /^usage: npm run manifests \[-- --check\]/, program: 'gen-crd' },
];

/** One line on stderr, nothing on stdout, no stack trace. */
function expectOneLine(r: Run, line: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(line);
  expect(r.stderr).not.toMatch(/\n\s+at |ERR_PARSE_ARGS|node:internal/);
}

describe.each(entryPoints)('$name', ({ run: go, usage, program }) => {
  it('prints its usage for --help and -h, and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await go([flag]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(usage);
      expect(r.stdout).toMatch(/-h, --help +print this help/);
      expect(r.stderr).toBe('');
    }
  });

  it('refuses an unknown flag with one line and exit 2', async () => {
    expectOneLine(await go(['--no-such-flag']), new RegExp(`^${program}: unknown option --no-such-flag \\(see --help\\)$`));
  });
});

describe('bad values and stray arguments', () => {
  it.each([
    ['the simulator', () => node('src/truetask-sim/main.ts', ['--port']), /^truetask-sim: --port <value> argument missing \(see --help\)$/],
    ['the simulator', () => node('src/truetask-sim/main.ts', ['--port', 'eighty', '--token-file', '/dev/null']), /^truetask-sim: --port must be a number$/],
    ['kube:up', () => node('scripts/envtest/kube-up.ts', ['now']), /^kube:up: unexpected argument now \(see --help\)$/],
    ['ad:up', () => node('scripts/samba/start.ts', ['--users', 'many']), /^ad:up: --users must be a whole number, got "many"$/],
    ['the bench', () => node('bench/run.ts', ['--users=1e3']), /^bench: --users must be whole numbers, got "1e3"$/],
    ['the demo', () => node('scripts/demo.ts', ['--keep=yes']), /^demo: --keep does not take an argument \(see --help\)$/],
  ])('%s: %s', async (_name, go, line) => {
    expectOneLine(await go(), line);
  });

  it('npm run truetask-sim -- --bogus: the same one line, exit 2 (npm prints only its banner, on stdout)', async () => {
    const r = await run('npm', ['run', 'truetask-sim', '--', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd()).toBe('truetask-sim: unknown option --bogus (see --help)');
  });
});

describe('adsync', () => {
  const adsync = (args: string[]) => node('src/cli/main.ts', args);

  it('--version prints the package version', async () => {
    const r = await adsync(['--version']);
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it.each([[['--help']], [['-h']], [['preview', '--help']], [['discover', 'groups', '--help']], [['controller', '--help']]])('%j prints usage and exits 0', async (args) => {
    const r = await adsync(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: adsync/);
    expect(r.stdout).toMatch(/-h, --help/);
  });

  it.each([
    [['--bogus'], /^adsync: unknown option '--bogus' \(see adsync --help\)$/],
    [['preview', '--fil', 'corp.yaml'], /^adsync: unknown option '--fil' \(Did you mean --file\?\) \(see adsync --help\)$/],
    [['preview'], /^adsync: give NAMESPACE\/NAME of an AdSync in the cluster, or -f FILE \(see adsync --help\)$/],
    [['preview', 'truetask/corp', '-f', 'corp.yaml'], /^adsync: give either NAMESPACE\/NAME or -f FILE, not both \(see adsync --help\)$/],
    [['approve', 'corp'], /^adsync: InvalidInput: "corp" is not NAMESPACE\/NAME of an AdSync \(for example truetask\/corp\)$/],
    [['sync', '-f', 'corp.yaml', '--concurrency', '0'], /^adsync: option '--concurrency <n>' argument '0' is invalid\. must be a whole number from 1 to 64 \(see adsync --help\)$/],
    [['preview', '-f', 'corp.yaml', '-o', 'yaml'], /^adsync: option '-o, --output <format>' argument 'yaml' is invalid\. Allowed choices are table, json\. \(see adsync --help\)$/],
    [['previe'], /^adsync: unknown command 'previe' \(Did you mean preview\?\) \(see adsync --help\)$/],
    [['controller', '--leader-elect=no'], /^adsync: unknown option '--leader-elect=no' \(see adsync --help\)$/],
  ])('%j: one line, exit 2', async (args, line) => {
    expectOneLine(await adsync(args), line);
  });
});
