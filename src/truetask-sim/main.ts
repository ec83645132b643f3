/**
 * Runs the Truetask simulator on its own (demos, manual tests):
 *
 *   npm run truetask-sim -- --port 8080 --token-file tokens.yaml [--seed-users users.yaml] ...
 *
 * See USAGE below (or --help). Prints the URL, never a token.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Faults, SeedUser, SimToken } from './types.ts';
import { parseCliOrExit, usageError } from '../util/cli-args.ts';

const USAGE = `usage: npm run truetask-sim -- [options]

Runs the strict Truetask simulator on its own; prints its URL (never a token) on
stdout, logs requests on stderr, and serves until Ctrl-C or SIGTERM.

  --port N                 port to listen on (default 8080; 0 picks a free port)
  --host H                 address to listen on (default 127.0.0.1)
  --token-file FILE        one token (plain text; name "default", scope read_write), or a
                           YAML/JSON list (or {tokens: [...]}) of {name, token, scope, expired?};
                           without it, $TRUETASK_SIM_TOKEN is the token
  --seed-users FILE        YAML/JSON list (or {users: [...]}) of users to start with
  --rate-limit-every N     answer every Nth request with 429 ...
  --retry-after S          ... and Retry-After: S seconds (default 1)
  --error-rate R           answer this fraction of requests with 503 (0..1)
  --latency-ms M           delay every answer by M ms
  --drop-rate R            drop this fraction of connections without an answer (0..1)
  --seed N                 seed of the simulator's random faults
  --tls-cert FILE          serve HTTPS with this certificate (PEM) ...
  --tls-key FILE           ... and this key (PEM)
  --quiet                  log warnings only
  -h, --help               print this help
`;

function fail(message: string): never {
  return usageError(`truetask-sim: ${message}`);
}

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) fail(`--${name} must be a number`);
  return n;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readTokens(file: string | undefined): SimToken[] {
  if (file === undefined) {
    const env = process.env.TRUETASK_SIM_TOKEN;
    if (!env) fail('give --token-file FILE or set TRUETASK_SIM_TOKEN');
    return [{ name: 'default', token: env.trim(), scope: 'read_write' }];
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    fail(`cannot read the token file ${file}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    doc = undefined;
  }
  const list = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.tokens) ? doc.tokens : undefined;
  if (list === undefined) {
    const token = text.trim();
    if (token === '' || /\s/.test(token)) fail(`the token file ${file} must hold one token, or a YAML/JSON list of tokens`);
    return [{ name: 'default', token, scope: 'read_write' }];
  }
  return list.map((entry: unknown, i: number): SimToken => {
    if (!isRecord(entry) || typeof entry.name !== 'string' || typeof entry.token !== 'string' || entry.token === '') {
      fail(`token #${i + 1} in ${file} needs a name and a token`);
    }
    const scope = entry.scope ?? 'read_write';
    if (scope !== 'read' && scope !== 'read_write') fail(`token ${entry.name}: scope must be read or read_write`);
    return { name: entry.name, token: entry.token, scope, expired: entry.expired === true };
  });
}

function readSeedUsers(file: string | undefined): SeedUser[] {
  if (file === undefined) return [];
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch {
    fail(`cannot read or parse the seed users file ${file}`);
  }
  const list = Array.isArray(doc) ? doc : isRecord(doc) && Array.isArray(doc.users) ? doc.users : undefined;
  if (list === undefined) fail(`${file} must hold a list of users (or {users: [...]})`);
  return list as SeedUser[];
}

const values = parseCliOrExit({
  program: 'truetask-sim',
  usage: USAGE,
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'token-file': { type: 'string' },
    'seed-users': { type: 'string' },
    seed: { type: 'string' },
    'rate-limit-every': { type: 'string' },
    'retry-after': { type: 'string' },
    'error-rate': { type: 'string' },
    'latency-ms': { type: 'string' },
    'drop-rate': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

const faults: Faults = {};
const every = number('rate-limit-every', values['rate-limit-every']);
if (every !== undefined) faults.rateLimit = { every, retryAfterSeconds: number('retry-after', values['retry-after']) ?? 1 };
const errorRate = number('error-rate', values['error-rate']);
if (errorRate !== undefined) faults.errorRate = errorRate;
const latencyMs = number('latency-ms', values['latency-ms']);
if (latencyMs !== undefined) faults.latencyMs = latencyMs;
const dropRate = number('drop-rate', values['drop-rate']);
if (dropRate !== undefined) faults.dropRate = dropRate;

if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) fail('--tls-cert and --tls-key go together');
const tls =
  values['tls-cert'] !== undefined && values['tls-key'] !== undefined
    ? { cert: readFileSync(values['tls-cert'], 'utf8'), key: readFileSync(values['tls-key'], 'utf8') }
    : undefined;

// Loaded once the arguments are known to be good (--help and bad flags answer at once).
const [{ pino }, { createLogger }, { startTruetaskSimulator }] = await Promise.all([import('pino'), import('../log.ts'), import('./server.ts')]);

// The request log goes to stderr; stdout carries only the URL.
const logger = createLogger({ level: values.quiet ? 'warn' : 'info', destination: pino.destination(2) });

try {
  const sim = await startTruetaskSimulator({
    port: number('port', values.port) ?? 8080,
    host: values.host,
    tokens: readTokens(values['token-file']),
    users: readSeedUsers(values['seed-users']),
    faults,
    ...(values.seed !== undefined ? { seed: number('seed', values.seed) ?? 1 } : {}),
    ...(tls ? { tls } : {}),
    logger,
  });
  process.stdout.write(`${sim.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'truetask-sim stopping');
    sim.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
