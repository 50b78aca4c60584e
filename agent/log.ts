import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON object per line when stdout is not a terminal (journald, files, log shippers);
 * readable coloured lines on a terminal. Messages are fixed strings and the variable parts go
 * in the metadata object: `logger.warn({ app, commit }, 'rollout failed')`.
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: number; redact?: (line: string) => string } = {}): Logger {
  const level = options.level ?? process.env.CAPSTAN_LOG_LEVEL ?? 'info';
  // Every line passes the secret registry on its way out (agent/secret-registry.ts): an
  // operation's description can hold a decrypted value (an image named from a secret).
  // (pino takes no `hooks: undefined`: the key is left out without a redactor.)
  const hooks = options.redact ? { hooks: { streamWrite: options.redact } } : {};
  const destination = options.destination ?? 1;
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY && destination === 1);
  if (pretty) {
    return pino({
      level,
      ...hooks,
      transport: { target: 'pino-pretty', options: { destination, colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, ...hooks, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: destination, sync: true }));
}
