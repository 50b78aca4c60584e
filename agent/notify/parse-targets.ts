import { CapstanError } from '../errors.js';
import { EVENT_KINDS, isEventKind, type EventKind } from './events.js';
import { TARGET_KINDS, type NotifyTarget, type TargetKind } from './targets.js';

export interface SecretSources {
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string;
}

const PRIORITY_NAMES: Record<string, number> = { min: 1, low: 2, default: 3, high: 4, max: 5, urgent: 5 };

/** Query parameters Capstan reads and removes; any other parameter stays in the URL. */
const OPTIONS_BY_KIND: Record<TargetKind, readonly string[]> = {
  webhook: ['events', 'secret_env', 'secret_file'],
  ntfy: ['events', 'token_env', 'token_file', 'priority'],
  slack: ['events'],
  discord: ['events'],
};
const ALL_OPTIONS = new Set(Object.values(OPTIONS_BY_KIND).flat());

/**
 * Parses `CAPSTAN_NOTIFY`: targets written as `KIND+URL`, in the spirit of Shoutrrr and Apprise
 * URLs, separated by whitespace or by a comma before the next `KIND+`:
 *
 *   webhook+https://ops.example/hook?secret_env=HOOK_SECRET&events=rollback,quarantined
 *   ntfy+https://ntfy.sh/capstan-prod?token_file=/etc/capstan/ntfy-token&priority=high
 *   slack+https://hooks.slack.com/services/T000/B000/XXXX
 *   discord+https://discord.com/api/webhooks/123/abc
 *
 * The HMAC key and the ntfy token never sit in the URL: they are named by `*_env` (an
 * environment variable) or `*_file` (a file whose content, less a final newline, is the value).
 * Slack and Discord webhook URLs are credentials of their own, so no error message here quotes
 * a URL, and logs name targets by `targetKey` only.
 */
export function parseNotifyTargets(text: string | undefined, sources: SecretSources): NotifyTarget[] {
  const entries = (text ?? '')
    .trim()
    .split(/\s+|,\s*(?=[a-z][a-z0-9-]*\+)/i)
    .filter((entry) => entry.length > 0);
  return entries.map((entry, index) => parseTarget(entry, index + 1, sources));
}

function parseTarget(entry: string, position: number, sources: SecretSources): NotifyTarget {
  const plus = entry.indexOf('+');
  const kindText = plus > 0 ? entry.slice(0, plus).toLowerCase() : '';
  const where = `CAPSTAN_NOTIFY target ${position}`;
  if (!(TARGET_KINDS as readonly string[]).includes(kindText)) {
    throw configError(`${where} must start with one of ${TARGET_KINDS.map((kind) => `${kind}+`).join(', ')} followed by an http(s) URL`, { position });
  }
  const kind = kindText as TargetKind;
  const fail = (problem: string) => configError(`${where} (${kind}): ${problem}`, { position, kind });

  let url: URL;
  try {
    url = new URL(entry.slice(plus + 1));
  } catch {
    throw fail('is not a valid URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw fail('must use https:// (or http:// on a trusted network)');
  if (url.username || url.password) throw fail('must not carry credentials in the URL; name them with token_env or token_file');

  const options = new Map<string, string>();
  for (const name of [...url.searchParams.keys()]) {
    if (!ALL_OPTIONS.has(name)) continue;
    if (!OPTIONS_BY_KIND[kind].includes(name)) throw fail(`does not take ${name} (it takes ${OPTIONS_BY_KIND[kind].join(', ')})`);
    options.set(name, url.searchParams.get(name) ?? '');
    url.searchParams.delete(name);
  }
  const events = options.has('events') ? parseEvents(options.get('events') ?? '', fail) : undefined;
  const base = { url: url.toString(), ...(events ? { events } : {}) };

  switch (kind) {
    case 'webhook': {
      const secret = readSecret(options, 'secret', sources, fail);
      return { kind, ...base, ...(secret !== undefined ? { secret } : {}) };
    }
    case 'ntfy': {
      const token = readSecret(options, 'token', sources, fail);
      const priority = options.has('priority') ? parsePriority(options.get('priority') ?? '', fail) : undefined;
      return { kind, ...base, ...(token !== undefined ? { token } : {}), ...(priority !== undefined ? { priority } : {}) };
    }
    case 'slack':
    case 'discord':
      return { kind, ...base };
  }
}

function parseEvents(text: string, fail: (problem: string) => Error): EventKind[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  const unknown = names.filter((name) => !isEventKind(name));
  if (names.length === 0 || unknown.length > 0) {
    throw fail(`events=${unknown.join(',')} is not a list of ${EVENT_KINDS.join(', ')}`);
  }
  return names as EventKind[];
}

function parsePriority(text: string, fail: (problem: string) => Error): number {
  const priority = PRIORITY_NAMES[text.toLowerCase()] ?? (/^[1-5]$/.test(text) ? Number(text) : undefined);
  if (priority === undefined) throw fail(`priority=${text} must be 1-5 or one of ${Object.keys(PRIORITY_NAMES).join(', ')}`);
  return priority;
}

function readSecret(
  options: Map<string, string>,
  prefix: 'secret' | 'token',
  sources: SecretSources,
  fail: (problem: string) => Error,
): string | undefined {
  const envName = options.get(`${prefix}_env`);
  const file = options.get(`${prefix}_file`);
  if (envName !== undefined && file !== undefined) throw fail(`takes ${prefix}_env or ${prefix}_file, not both`);
  let value: string | undefined;
  if (envName !== undefined) {
    value = sources.env[envName];
    if (value === undefined) throw fail(`${prefix}_env names ${envName}, which is not set`);
  } else if (file !== undefined) {
    try {
      value = sources.readFile(file).replace(/\r?\n$/, '');
    } catch (error) {
      throw fail(`${prefix}_file ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  } else {
    return undefined;
  }
  if (value.length === 0) throw fail(`the ${prefix} named by ${envName ?? file} is empty`);
  return value;
}

function configError(message: string, data: Record<string, unknown>): CapstanError {
  return new CapstanError('CONFIG_INVALID', 'terminal', message, data);
}
