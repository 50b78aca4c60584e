import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpolate } from '../../agent/load/variables/interpolate.js';

// compose-go's own interpolation tests, run against Capstan's interpolate(): the templates and
// expected results are copied from compose-spec/compose-go template/template_test.go (Apache
// License 2.0, Copyright 2020 The Compose Specification Authors). Two differences are Capstan's
// on purpose and asserted as such at the end: an unset variable without a default is a problem
// (compose-go warns and gives ''), and a `:?` message is quoted as written, never interpolated
// (it could print another variable's value, a secret).

const defaults: Record<string, string> = { FOO: 'first', BAR: '', JSON: '{"json":2}' };
const mapping = (name: string) => defaults[name];
const substitute = (template: string) => interpolate(template, mapping);

describe('interpolation: compose-go template_test.go', () => {
  it('TestEscaped, TestSubstituteNoMatch, TestUnescaped: $$ is $, a $ opening nothing stays', () => {
    for (const [template, expected] of [
      ['$${foo}', '${foo}'],
      ['foo', 'foo'],
      ['a $ string', 'a $ string'],
      ['^REGEX$', '^REGEX$'],
      ['$}', '$}'],
      ['$', '$'],
    ]) {
      assert.deepEqual(substitute(template), { value: expected, issues: [] }, template);
    }
  });

  it('TestInvalid: ${ that opens no valid placeholder is an error', () => {
    for (const template of ['${', '${}', '${ }', '${ foo}', '${foo }', '${foo!}']) {
      assert.deepEqual(
        substitute(template).issues.map((issue) => issue.code),
        ['INVALID_INTERPOLATION'],
        template,
      );
    }
  });

  it('TestNonBraced, TestValueNoDefault, TestNoValueWithDefault', () => {
    for (const [template, expected] of [
      ['$FOO-bar', 'first-bar'],
      ['This $FOO var', 'This first var'],
      ['This ${FOO} var', 'This first var'],
      ['ok ${missing:-def}', 'ok def'],
      ['ok ${missing-def}', 'ok def'],
      ['${A:+${A},}B', 'B'],
    ]) {
      assert.deepEqual(substitute(template), { value: expected, issues: [] }, template);
    }
  });

  it('TestDefaultsForMandatoryVariables-like table: each operator', () => {
    for (const [template, expected] of [
      ['-ok ${BAR:-defaultValue}', '-ok defaultValue'],
      ['+ok ${UNSET:-${BAR-defaultValue}}', '+ok '],
      ['-ok ${FOO:-defaultValue}', '-ok first'],
      [':-ok ${UNSET-defaultValue}', ':-ok defaultValue'],
      [':-ok ${BAR-defaultValue}', ':-ok '],
      [':?ok ${BAR-defaultValue}', ':?ok '],
      [':?ok ${BAR:-defaultValue}', ':?ok defaultValue'],
      [':+ok ${BAR:-defaultValue}', ':+ok defaultValue'],
      ['+ok ${BAR-defaultValue}', '+ok '],
      ['?ok ${BAR:-defaultValue}', '?ok defaultValue'],
    ]) {
      assert.deepEqual(substitute(template), { value: expected, issues: [] }, template);
    }
  });

  it('TestSubstituteWithNestedDefault-like table: defaults and alternatives hold placeholders', () => {
    for (const [template, expected] of [
      ['ok ${UNSET_VAR-$FOO}', 'ok first'],
      ['ok ${UNSET_VAR-${FOO}}', 'ok first'],
      ['ok ${UNSET_VAR-${FOO} ${FOO}}', 'ok first first'],
      ['ok ${BAR:-$FOO}', 'ok first'],
      ['ok ${BAR:-${FOO}}', 'ok first'],
      ['ok ${BAR:-${FOO} ${FOO}}', 'ok first first'],
      ['ok ${BAR+$FOO}', 'ok first'],
      ['ok ${BAR+$FOO ${FOO:+second}}', 'ok first second'],
    ]) {
      assert.deepEqual(substitute(template), { value: expected, issues: [] }, template);
    }
  });

  it('TestMandatoryVariableErrors, TestDefaultsForMandatoryVariables', () => {
    for (const [template, message] of [
      ['not ok ${UNSET_VAR:?Mandatory Variable Unset}', "variable 'UNSET_VAR' is not set or empty: Mandatory Variable Unset"],
      ['not ok ${BAR:?Mandatory Variable Empty}', "variable 'BAR' is not set or empty: Mandatory Variable Empty"],
      ['not ok ${UNSET_VAR:?}', "variable 'UNSET_VAR' is not set or empty"],
      ['not ok ${UNSET_VAR?Mandatory Variable Unset}', "variable 'UNSET_VAR' is not set: Mandatory Variable Unset"],
      ['not ok ${UNSET_VAR?}', "variable 'UNSET_VAR' is not set"],
      ['${UNSET_VAR?bar-baz}', "variable 'UNSET_VAR' is not set: bar-baz"],
    ]) {
      assert.deepEqual(substitute(template).issues.map((issue) => issue.message), [message], template);
    }
    for (const [template, expected] of [
      ['ok ${FOO:?err}', 'ok first'],
      ['ok ${FOO?err}', 'ok first'],
      ['ok ${BAR?err}', 'ok '],
      ['${UNSET_VAR-myerror?msg}', 'myerror?msg'],
      ['${FOO?bar-baz}', 'first'],
      ['${BAR:-default_value_for_empty_var}', 'default_value_for_empty_var'],
      ['${UNSET_VAR-default_value_for_unset_var}', 'default_value_for_unset_var'],
    ]) {
      assert.deepEqual(substitute(template), { value: expected, issues: [] }, template);
    }
  });

  it('TestExtractVariables-like operators: the first operator after the name decides', () => {
    const set = (name: string) => (name === 'VARNAME' ? 'set' : undefined);
    for (const [template, expected] of [
      ['${VARNAME-va:-lu:?e}', 'set'],
      ['${UNSET-va:-lu:?e}', 'va:-lu:?e'],
      ['${VARNAME:+va:?lu:-e}', 'va:?lu:-e'],
      ['${VARNAME+va?lu-e}', 'va?lu-e'],
    ]) {
      assert.equal(interpolate(template, set).value, expected, template);
    }
  });

  it('TestDefaultsWithJSON, TestSubstituteWithJSON: braces inside a default', () => {
    for (const template of ['ok ${missing:-{"json":1}}', 'ok ${missing-{"json":1}}']) assert.deepEqual(substitute(template), { value: 'ok {"json":1}', issues: [] }, template);
    for (const template of ['ok ${JSON:-{"json":1}}', 'ok ${JSON-{"json":1}}']) assert.deepEqual(substitute(template), { value: 'ok {"json":2}', issues: [] }, template);
  });

  it('where Capstan differs on purpose: an unset variable is a problem; a :? message is not interpolated', () => {
    for (const template of ['This ${missing} var']) {
      const result = substitute(template);
      assert.equal(result.value, 'This  var', 'the value is what Compose gives');
      assert.deepEqual(result.issues.map((issue) => issue.code), ['UNDEFINED_VARIABLE'], 'but the load stops: a container must not start with a silently empty setting');
    }
    assert.deepEqual(substitute('This ${BAR} var'), { value: 'This  var', issues: [] }, 'set but empty is no problem');
    assert.deepEqual(
      substitute('not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}').issues.map((issue) => issue.message),
      ["variable 'UNSET_VAR' is not set or empty: Mandatory Variable ${FOO}"],
    );
  });
});
