import assert from 'node:assert/strict';
import { parse } from 'dotenv';
import { describe, it } from 'node:test';
import type { ManifestProblem } from '../../agent/errors.js';
import { expandDotenv } from '../../agent/load/compose/dotenv-expand.js';

// How Compose reads a .env file's values, from compose-go's own dotenv tests: inputs and expected
// values copied from compose-spec/compose-go dotenv/godotenv_test.go and dotenv/fixtures/
// (Apache License 2.0, Copyright The Compose Specification Authors; the dotenv package is a fork
// of joho/godotenv, MIT). The file is parsed by the `dotenv` library, then expanded as Compose does.

function read(text: string, outer: Record<string, string> = {}): { values: Record<string, string>; problems: ManifestProblem[] } {
  const problems: ManifestProblem[] = [];
  const values = expandDotenv(text, parse(text), (name) => outer[name], 'app/.env', problems);
  return { values: Object.fromEntries(values), problems };
}

describe('.env values: compose-go godotenv_test.go', () => {
  it('TestSubstitutions (fixtures/substitutions.env)', () => {
    const text = 'OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n';
    assert.deepEqual(read(text), { values: { OPTION_A: '1', OPTION_B: '1', OPTION_C: '1', OPTION_D: '1_1', OPTION_E: '' }, problems: [] });
  });

  it('fixtures/substitutions-default.env: ${VAR:-default}, then earlier values', () => {
    const text = 'OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n';
    assert.deepEqual(read(text).values, { OPTION_A: '1', OPTION_B: '1', OPTION_C: '1', OPTION_D: '1_1', OPTION_E: '' });
    assert.equal(read(text, { OPTION_A: 'outer' }).values.OPTION_A, 'outer', 'a variable from around the file is used by ${VAR:-default}');
  });

  it('TestExpanding', () => {
    const cases: [string, Record<string, string>][] = [
      ['FOO=test\nBAR=$FOO', { FOO: 'test', BAR: 'test' }],
      ['FOO=test\nBAR=${FOO}bar', { FOO: 'test', BAR: 'testbar' }],
      ['BAR=$FOO', { BAR: '' }],
      ['FOO=test\nBAR="quote $FOO"', { FOO: 'test', BAR: 'quote test' }],
      ["BAR='quote $FOO'", { BAR: 'quote $FOO' }],
      ['FOO="foo\\$BAR"', { FOO: 'foo$BAR' }],
      ['FOO="foo\\${BAR}"', { FOO: 'foo${BAR}' }],
      ['FOO=test\nBAR="foo\\${FOO} ${FOO}"', { FOO: 'test', BAR: 'foo${FOO} test' }],
    ];
    for (const [text, expected] of cases) assert.deepEqual(read(text).values, expected, text);
  });

  it('TestParsing: escapes in double quotes', () => {
    const cases: [string, string][] = [
      ['FOO="escaped\\"bar"', 'escaped"bar'],
      ['FOO="\\"quoted\\""', '"quoted"'],
      ['FOO="bar\\\\baz"', 'bar\\baz'],
      ['FOO="a\\tb"', 'a\tb'],
      ['FOO="\\0123"', 'S'],
    ];
    for (const [text, expected] of cases) assert.equal(read(text).values.FOO, expected, text);
  });

  it('fixtures/quoted.env: single quotes literal, double quotes with escapes, inline comments', () => {
    const text = "OPTION_A='1'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\nOPTION_G=\"\"\nOPTION_H=\"\\n\"\nOPTION_I = \"echo 'asd'\" # Inline comment\nOPTION_Z = \"last value\"\n";
    assert.deepEqual(read(text).values, { OPTION_A: '1', OPTION_C: '', OPTION_D: '\\n', OPTION_E: '1', OPTION_G: '', OPTION_H: '\n', OPTION_I: "echo 'asd'", OPTION_Z: 'last value' });
  });

  it('${VAR:?message} is an error at its line; the value is never quoted', () => {
    const { problems } = read('A=secret-value\nB=${MISSING:?set it}\n');
    assert.deepEqual(problems, [{ code: 'UNDEFINED_VARIABLE', file: 'app/.env', line: 2, column: 1, key: 'B', message: "variable 'MISSING' is not set or empty: set it" }]);
  });
});
