import { formsToRedact, redactForms } from './redact.js';

/**
 * Every secret value this process has decrypted, registered the moment it is decrypted (not
 * when the commit that holds it has loaded): a commit that fails to load because of a value
 * (a secret used as a volume name) must not carry it into the error, the log, SQLite or a
 * notification. One per agent, from the composition root. Values are kept for the life of the
 * process, so text about an older commit is scrubbed too; they are never written anywhere.
 */
export class SecretRegistry {
  private readonly known = new Set<string>();
  /** Every form of the known values, longest first; computed again only after a new value. */
  private forms: string[] | undefined;

  register(value: string): void {
    if (value === '' || this.known.has(value)) return;
    this.known.add(value);
    this.forms = undefined;
  }

  values(): string[] {
    return [...this.known];
  }

  redact(text: string): string {
    if (this.known.size === 0) return text;
    this.forms ??= formsToRedact(this.known);
    return redactForms(text, this.forms);
  }
}
