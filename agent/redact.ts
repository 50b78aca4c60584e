// Defence in depth for "no secret value in logs, SQLite or messages": Capstan's own messages
// never include values, but text from elsewhere can (Docker answering "exec: \"<command>\":
// executable file not found" for a command built from a secret). Every such text passes here.
import { shellSplit } from './load/normalize/shell-split.js';

export const REDACTED = '[redacted]';

/**
 * Forms at least this long are replaced wherever they appear. Shorter ones ("1", "abc") only
 * where they stand as a whole token: replacing every "1" inside "web-1" or "2026" would blank
 * out messages and hide nothing.
 */
const MIN_ANYWHERE = 4;

/** What may stand beside a short value for it to still be a token of its own: not these. */
const TOKEN_CHAR = /[A-Za-z0-9_.-]/;

export function redactValues(text: string, values: Iterable<string> | undefined): string {
  if (!values) return text;
  return redactForms(text, formsToRedact(values));
}

/** Every form of `values`, longest first, so a value containing another is replaced whole. */
export function formsToRedact(values: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const value of values) for (const form of formsOf(value)) forms.add(form);
  return [...forms].sort((a, b) => b.length - a.length);
}

/** `forms` as `formsToRedact` returns them (computed once for many texts, e.g. each log line). */
export function redactForms(text: string, forms: readonly string[]): string {
  let result = text;
  for (const form of forms) {
    if (!result.includes(form)) continue;
    result = form.length >= MIN_ANYWHERE ? result.split(form).join(REDACTED) : replaceWholeTokens(result, form);
  }
  return result;
}

/**
 * Every shape a value can come back in: as it is; cut into words by the shell-style split a
 * `command:` string goes through (Docker then quotes one word); escaped by whoever quotes it
 * (Docker's Go `%q`, JSON in a log line or an API answer, a URL), and escaped twice (a JSON log
 * line quoting a Docker message). Exported for its table test.
 */
export function formsOf(value: string): string[] {
  if (value === '') return [];
  const pieces = new Set<string>([value]);
  const split = shellSplit(value);
  if ('words' in split && split.words.length > 1) for (const word of split.words) pieces.add(word);
  for (const word of value.split(/\s+/)) if (word !== value) pieces.add(word);
  const forms = new Set<string>();
  for (const piece of pieces) {
    if (piece === '') continue;
    forms.add(piece);
    for (const once of escapesOf(piece)) {
      forms.add(once);
      for (const twice of escapesOf(once)) forms.add(twice);
    }
  }
  return [...forms];
}

function escapesOf(text: string): string[] {
  return [JSON.stringify(text).slice(1, -1), goQuoted(text), encodeURIComponent(text)].filter((escaped) => escaped !== text);
}

/** Go's strconv.Quote without the quotes, which Docker's `%q` messages use (printable Unicode kept). */
function goQuoted(text: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v', '"': '\\"', '\\': '\\\\' };
  let quoted = '';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (named[char] !== undefined) quoted += named[char];
    else if (code < 0x20 || code === 0x7f) quoted += `\\x${code.toString(16).padStart(2, '0')}`;
    else quoted += char;
  }
  return quoted;
}

function replaceWholeTokens(text: string, form: string): string {
  let result = '';
  let from = 0;
  for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + form.length)) {
    const before = at > 0 ? text[at - 1] : '';
    const after = text[at + form.length] ?? '';
    if (TOKEN_CHAR.test(before) || TOKEN_CHAR.test(after)) continue;
    result += text.slice(from, at) + REDACTED;
    from = at + form.length;
  }
  return result + text.slice(from);
}
