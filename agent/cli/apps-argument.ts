import { CapstanError } from '../errors.js';
import { NAME_PATTERN } from '../load/schema/patterns.js';

const appName = new RegExp(NAME_PATTERN);

/** `capstan suspend|resume APP...`: app names as manifests spell them, each once. */
export function appsArgument(apps: readonly string[]): string[] {
  for (const app of apps) {
    if (!appName.test(app)) throw new CapstanError('CONFIG_INVALID', 'terminal', `'${app.slice(0, 80)}' is not an app name (lowercase letters, digits, - and _, as in a manifest's \`app:\`)`);
  }
  return [...new Set(apps)].sort();
}

/** `--reason`: one line a person typed, kept short in history and notifications. */
export function reasonOption(value: unknown): string | null {
  if (typeof value !== 'string' || value.trim() === '') return null;
  const line = value.replace(/\s+/g, ' ').trim();
  if (line.length > 500) throw new CapstanError('CONFIG_INVALID', 'terminal', '--reason is longer than 500 characters');
  return line;
}
