import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shellSplit } from '../../agent/load/normalize/shell-split.js';

describe('shellSplit', () => {
  const cases: [text: string, words: string[]][] = [
    ['', []],
    ['   ', []],
    ['httpd -f -p 8080', ['httpd', '-f', '-p', '8080']],
    ['  spaced\t\tout \n ', ['spaced', 'out']],
    [`echo 'single quoted  text'`, ['echo', 'single quoted  text']],
    [`echo "double quoted"`, ['echo', 'double quoted']],
    [`echo ''`, ['echo', '']],
    [`echo ""`, ['echo', '']],
    [`a"b c"d`, ['ab cd']],
    [`'it'"'"'s'`, ["it's"]],
    [`echo "a \\"quote\\" and \\\\ backslash"`, ['echo', 'a "quote" and \\ backslash']],
    [`echo "keep \\n as is"`, ['echo', 'keep \\n as is']],
    [`echo 'no \\escapes "here"'`, ['echo', 'no \\escapes "here"']],
    ['echo escaped\\ space', ['echo', 'escaped space']],
    ['echo \\$HOME $HOME', ['echo', '$HOME', '$HOME']],
    [`sh -c "echo a && echo b"`, ['sh', '-c', 'echo a && echo b']],
    ['grep -e a\\|b', ['grep', '-e', 'a|b']],
    ['line one \\\ncontinued', ['line', 'one', 'continued']],
    ['python -c print(1)', ['python', '-c', 'print(1)']],
    ['# not a comment', ['#', 'not', 'a', 'comment']],
  ];
  for (const [text, words] of cases) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(words)}`, () => {
      assert.deepEqual(shellSplit(text), { words });
    });
  }

  const errors: [text: string, messagePart: string][] = [
    [`echo 'open`, 'unterminated single quote'],
    [`echo "open`, 'unterminated double quote'],
    [`echo "escaped quote \\"`, 'unterminated double quote'],
    ['echo trailing \\', 'backslash'],
    ['echo a && echo b', "'&' is a shell operator"],
    ['echo a; echo b', "';' is a shell operator"],
    ['cat a | wc', "'|' is a shell operator"],
    ['echo > file', "'>' is a shell operator"],
    ['echo `date`', "'`' is a shell operator"],
  ];
  for (const [text, messagePart] of errors) {
    it(`${JSON.stringify(text)} is refused`, () => {
      const result = shellSplit(text);
      assert.ok('error' in result, JSON.stringify(result));
      assert.ok(result.error.includes(messagePart), result.error);
    });
  }
});
