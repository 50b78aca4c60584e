// Splits `command: "httpd -f -p 8080"` into argv the way a POSIX shell tokenizes, as Compose does
// with shellwords: whitespace separates; single quotes keep everything; double quotes keep
// everything but let `\` escape `"`, `\`, `$` and `` ` ``; outside quotes `\` escapes any character.
// Nothing is expanded, so shell operators are refused: an unquoted `&&` would reach the program
// as an argument, which is never what was meant.

export type SplitResult = { words: string[] } | { error: string };

const OPERATOR_CHARS = new Set([';', '&', '|', '<', '>', '`']);
const ESCAPABLE_IN_DOUBLE_QUOTES = new Set(['"', '\\', '$', '`', '\n']);
const SHELL_HINT = 'for shell features write a list: ["sh", "-c", "…"]';

export function shellSplit(text: string): SplitResult {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let index = 0;
  while (index < text.length) {
    const char = text[index];
    if (char === ' ' || char === '\t' || char === '\n' || char === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      index += 1;
    } else if (char === "'") {
      const close = text.indexOf("'", index + 1);
      if (close < 0) return { error: `unterminated single quote; ${SHELL_HINT}` };
      word += text.slice(index + 1, close);
      inWord = true;
      index = close + 1;
    } else if (char === '"') {
      const quoted = readDoubleQuoted(text, index + 1);
      if (!quoted) return { error: `unterminated double quote; ${SHELL_HINT}` };
      word += quoted.value;
      inWord = true;
      index = quoted.end;
    } else if (char === '\\') {
      if (index + 1 >= text.length) return { error: 'ends with a backslash that escapes nothing' };
      // A backslash before a newline joins lines, as in a shell.
      if (text[index + 1] !== '\n') word += text[index + 1];
      inWord = true;
      index += 2;
    } else if (OPERATOR_CHARS.has(char)) {
      return { error: `unquoted '${char}' is a shell operator, but no shell runs the command; quote it, or ${SHELL_HINT}` };
    } else {
      word += char;
      inWord = true;
      index += 1;
    }
  }
  if (inWord) words.push(word);
  return { words };
}

/** Reads up to the closing `"` from `start` (just after the opening one); undefined if none. */
function readDoubleQuoted(text: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (char === '"') return { value, end: index + 1 };
    if (char === '\\' && index + 1 < text.length && ESCAPABLE_IN_DOUBLE_QUOTES.has(text[index + 1])) {
      if (text[index + 1] !== '\n') value += text[index + 1];
      index += 1;
    } else {
      value += char;
    }
  }
  return undefined;
}
