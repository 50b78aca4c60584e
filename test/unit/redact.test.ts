import assert from 'node:assert/strict';
import { it } from 'node:test';
import { formsOf, redactValues } from '../../agent/redact.js';

it('scrubs secret values from foreign text, longest first; short values only as whole tokens', () => {
  const table: [string, string[] | undefined, string][] = [
    ['exec: "hunter2-long": executable file not found', ['hunter2-long'], 'exec: "[redacted]": executable file not found'],
    ['token abcdef and abcdefgh', ['abcdef', 'abcdefgh'], 'token [redacted] and [redacted]'],
    ['restart=true count=1', ['true', '1'], 'restart=[redacted] count=[redacted]'],
    ['exec: "pin": not found; spinning up web-1 and pine', ['pin', '1'], 'exec: "[redacted]": not found; spinning up web-1 and pine'],
    ['bind /srv/ab/data refused', ['ab'], 'bind /srv/[redacted]/data refused'],
    ['empty values hide nothing', [''], 'empty values hide nothing'],
    ['nothing to hide', undefined, 'nothing to hide'],
  ];
  for (const [text, values, expected] of table) assert.equal(redactValues(text, values), expected);
});

it('scrubs the words a shell-style split cuts a value into, and values that come back escaped', () => {
  const table: [string, string, string][] = [
    // `command: "${TOOL} --flag"` is split like a shell would; Docker quotes the first word only.
    ['exec: "first-word": executable file not found', 'first-word second-word', 'exec: "[redacted]": executable file not found'],
    ['exec: "two words": not found', '"two words" tail', 'exec: "[redacted]": not found'],
    ['exec: "ab": not found', 'ab cd', 'exec: "[redacted]": not found'],
    // Docker's %q, and JSON: quotes, backslashes and newlines come back escaped.
    ['exec: "pa\\"ss\\\\word": not found', 'pa"ss\\word', 'exec: "[redacted]": not found'],
    ['{"error":"line1\\nline2"}', 'line1\nline2', '{"error":"[redacted]"}'],
    ['exec: "bell\\x01": not found', 'bell\u0001', 'exec: "[redacted]": not found'],
    ['{"msg":"exec: \\"q\\\\\\"uote\\": not found"}', 'q"uote', '{"msg":"exec: \\"[redacted]\\": not found"}'],
    ['postgres://shop:p%40ss%20word@db/shop', 'p@ss word', 'postgres://shop:[redacted]@db/shop'],
  ];
  for (const [text, value, expected] of table) assert.equal(redactValues(text, [value]), expected, `${value} in ${text}`);
  assert.ok(formsOf('one two').includes('one') && formsOf('one two').includes('two'));
  assert.deepEqual(formsOf(''), []);
});
