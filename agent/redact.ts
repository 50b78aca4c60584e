// Defence in depth for "no secret value in logs, SQLite or messages": Capstan's own messages
// never include values, but text from elsewhere can (Docker answering "exec: \"<command>\":
// executable file not found" for a command built from a secret). Every such text passes here.

export const REDACTED = '[redacted]';

/** Values shorter than this are not redacted: "1" or "true" would blank out whole messages. */
const MIN_LENGTH = 4;

export function redactValues(text: string, values: Iterable<string> | undefined): string {
  if (!values) return text;
  let result = text;
  // Longest first, so a value containing another is replaced whole.
  for (const value of [...values].filter((candidate) => candidate.length >= MIN_LENGTH).sort((a, b) => b.length - a.length)) {
    if (result.includes(value)) result = result.split(value).join(REDACTED);
  }
  return result;
}
