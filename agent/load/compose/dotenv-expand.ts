// `.env` and `env_file` values as Compose reads them (compose-go's dotenv): a value may use the
// variables defined above it in the same file, and the ones around the file (`.env` for an
// env_file; `capstan.env` for `.env`), with the whole `${VAR:-default}` syntax; `$$` is a `$`.
// Single-quoted values are taken literally. As in Compose, an unset variable is empty there,
// except `${VAR:?message}`, which is an error. Problems name the file, line and variable, never
// a value.
import type { ManifestProblem } from '../../errors.js';
import { interpolate, type Lookup } from '../variables/interpolate.js';

/** `KEY=` / `export KEY=` / `KEY:` at the start of a line, and the value as written after it. */
const ASSIGNMENT = /^[ \t]*(?:export[ \t]+)?([\w.-]+)[ \t]*(?:=|:[ \t])[ \t]*(.*)$/;
/** A double-quoted value on one line, escapes included. */
const DOUBLE_QUOTED = /^"((?:\\.|[^"\\])*)"/;
/** The escapes compose-go's dotenv reads in double quotes (parser.go, escapeSeqRegex). */
const ESCAPE = /\\(?:[abcfnrtv$"\\]|0[0-7]{0,3})/g;
const ESCAPED: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '"': '"', '\\': '\\', $: '$$' };

/** compose-go's expandEscapes: `\$` becomes `$$` (a literal `$` once interpolated), `\0123` an octal character. */
function expandEscapes(value: string): string {
  return value.replace(ESCAPE, (match) => {
    if (match.startsWith('\\0')) return match.length === 5 ? String.fromCharCode(parseInt(match.slice(2), 8)) : match;
    return ESCAPED[match[1]] ?? match;
  });
}

export function expandDotenv(text: string, parsed: Record<string, string>, outer: Lookup, file: string, problems: ManifestProblem[]): Map<string, string> {
  const written = new Map<string, { line: number; literal: boolean; doubleQuoted?: string }>();
  text.split(/\r?\n/).forEach((line, index) => {
    const match = ASSIGNMENT.exec(line);
    if (!match || !(match[1] in parsed)) return;
    written.delete(match[1]);
    const doubleQuoted = DOUBLE_QUOTED.exec(match[2])?.[1];
    written.set(match[1], { line: index + 1, literal: match[2].startsWith("'"), ...(doubleQuoted === undefined ? {} : { doubleQuoted: expandEscapes(doubleQuoted) }) });
  });
  const values = new Map<string, string>();
  for (const [name, { line, literal, doubleQuoted }] of written) {
    const raw = doubleQuoted ?? parsed[name];
    if (literal || !raw.includes('$')) {
      values.set(name, raw);
      continue;
    }
    const result = interpolate(raw, (variable) => (values.has(variable) ? values.get(variable) : outer(variable)));
    for (const issue of result.issues) {
      if (issue.code === 'UNDEFINED_VARIABLE' && !issue.required) continue;
      problems.push({ code: issue.code, file, line, column: 1, key: name, message: issue.message });
    }
    values.set(name, result.value);
  }
  // Names dotenv read that no line above matched (a value over several lines, say) stay as read.
  for (const [name, value] of Object.entries(parsed)) if (!values.has(name)) values.set(name, value);
  return values;
}
