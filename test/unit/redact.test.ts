import assert from 'node:assert/strict';
import { it } from 'node:test';
import { redactValues } from '../../agent/redact.js';

it('scrubs secret values from foreign text, longest first, leaving short values alone', () => {
  const table: [string, string[] | undefined, string][] = [
    ['exec: "hunter2-long": executable file not found', ['hunter2-long'], 'exec: "[redacted]": executable file not found'],
    ['token abcdef and abcdefgh', ['abcdef', 'abcdefgh'], 'token [redacted] and [redacted]'],
    ['restart=true count=1', ['true', '1'], 'restart=[redacted] count=1'],
    ['nothing to hide', undefined, 'nothing to hide'],
  ];
  for (const [text, values, expected] of table) assert.equal(redactValues(text, values), expected);
});
