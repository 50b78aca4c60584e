import { redactValues } from './redact.js';

/**
 * Every secret value this process has decrypted, registered the moment it is decrypted (not
 * when the commit that holds it has loaded): a commit that fails to load because of a value
 * (a secret used as a volume name) must not carry it into the error, the log, SQLite or a
 * notification. One per agent, from the composition root. Values are kept for the life of the
 * process, so text about an older commit is scrubbed too; they are never written anywhere.
 */
export class SecretRegistry {
  private readonly known = new Set<string>();

  register(value: string): void {
    if (value !== '') this.known.add(value);
  }

  values(): string[] {
    return [...this.known];
  }

  redact(text: string): string {
    return this.known.size === 0 ? text : redactValues(text, this.known);
  }
}
