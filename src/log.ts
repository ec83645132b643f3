import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Field paths that can never be logged, whatever a caller passes. */
export const redactPaths = [
  'password',
  'passwordConfirm',
  'bindPassword',
  'token',
  'authorization',
  'Authorization',
  '*.password',
  '*.passwordConfirm',
  '*.bindPassword',
  '*.token',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  'data',
  'stringData',
  '*.data',
  '*.stringData',
];

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { app: 'truetask-adsync' },
      redact: { paths: redactPaths, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}

/** A logger that drops everything (tests and library callers that do not care). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
