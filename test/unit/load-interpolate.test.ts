import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpolate, type Lookup } from '../../agent/load/variables/interpolate.js';
import { interpolateTree } from '../../agent/load/variables/interpolate-tree.js';

const variables: Record<string, string> = { NAME: 'web', EMPTY: '', PORT: '8080', SECRET: 'hunter2-value' };
const lookup: Lookup = (name) => variables[name];

describe('interpolate', () => {
  const cases: [template: string, expected: string][] = [
    ['plain text', 'plain text'],
    ['$NAME', 'web'],
    ['${NAME}', 'web'],
    ['pre-${NAME}-post', 'pre-web-post'],
    ['$NAME.example', 'web.example'],
    ['$$', '$'],
    ['$$NAME', '$NAME'],
    ['cost: $$5', 'cost: $5'],
    // As compose-go: a `$` that opens no placeholder stays (template_test.go TestUnescaped).
    ['price $5', 'price $5'],
    ['trailing $', 'trailing $'],
    ['^/api$', '^/api$'],
    ['$}', '$}'],
    ['${UNSET:-fallback}', 'fallback'],
    ['${EMPTY:-fallback}', 'fallback'],
    ['${NAME:-fallback}', 'web'],
    ['${UNSET-fallback}', 'fallback'],
    ['${EMPTY-fallback}', ''],
    ['${NAME:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${UNSET:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${EMPTY?must be set}', ''],
    ['${NAME:?must be set}', 'web'],
    ['${UNSET:-${NAME}}', 'web'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['${UNSET:-a}b}', 'ab}'],
    ['${UNSET:-}', ''],
    ['http://${NAME}:${PORT}/', 'http://web:8080/'],
    ['${NAME:-${UNSET}}', 'web'],
  ];
  for (const [template, expected] of cases) {
    it(`${JSON.stringify(template)} → ${JSON.stringify(expected)}`, () => {
      const result = interpolate(template, lookup);
      assert.deepEqual(result.issues, []);
      assert.equal(result.value, expected);
    });
  }

  const failures: [template: string, code: string, variable: string | undefined, messagePart: string][] = [
    ['$UNSET', 'UNDEFINED_VARIABLE', 'UNSET', "variable 'UNSET' is not set"],
    ['${UNSET}', 'UNDEFINED_VARIABLE', 'UNSET', "variable 'UNSET' is not set"],
    ['${UNSET:?add it to secrets/web.env}', 'UNDEFINED_VARIABLE', 'UNSET', 'add it to secrets/web.env'],
    ['${EMPTY:?required}', 'UNDEFINED_VARIABLE', 'EMPTY', 'is not set or empty: required'],
    ['${UNSET?required}', 'UNDEFINED_VARIABLE', 'UNSET', 'is not set: required'],
    ['${UNSET:-${INNER}}', 'UNDEFINED_VARIABLE', 'INNER', "variable 'INNER'"],
    ['${', 'INVALID_INTERPOLATION', undefined, 'variable name'],
    ['${NAME', 'INVALID_INTERPOLATION', undefined, 'not closed'],
    ['${NAME:-open', 'INVALID_INTERPOLATION', undefined, 'not closed'],
    ['${1}', 'INVALID_INTERPOLATION', undefined, 'variable name'],
    ['${NAME!x}', 'INVALID_INTERPOLATION', undefined, 'unexpected character'],
  ];
  for (const [template, code, variable, messagePart] of failures) {
    it(`${JSON.stringify(template)} is a ${code}`, () => {
      const { issues } = interpolate(template, lookup);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(issues[0].code, code);
      assert.equal(issues[0].variable, variable);
      assert.ok(issues[0].message.includes(messagePart), issues[0].message);
    });
  }

  it('never puts a value into a message, even the one of another variable in a :? text', () => {
    const templates = ['${SECRET:+${UNSET}}', '${UNSET:?see ${SECRET}}', '$SECRET${', '${SECRET} ${MISSING}'];
    for (const template of templates) {
      const { issues } = interpolate(template, lookup);
      assert.ok(issues.length > 0, template);
      for (const issue of issues) assert.ok(!issue.message.includes(variables.SECRET), issue.message);
    }
  });

  it('does not evaluate a default that is not used', () => {
    const asked: string[] = [];
    interpolate('${NAME:-${OTHER}}', (name) => (asked.push(name), variables[name]));
    assert.deepEqual(asked, ['NAME']);
  });
});

describe('interpolateTree', () => {
  it('interpolates values but not keys, and casts numeric and boolean fields from placeholders', () => {
    const data = {
      app: '${NAME}',
      services: {
        '${NAME}': {
          image: 'busybox:${PORT}',
          replicas: '${REPLICAS:-3}',
          ports: [{ target: '${PORT}', published: '${PORT}' }, '${PORT}:80'],
          volumes: [{ type: 'bind', source: '/x', target: '/y', read_only: '${RO:-true}' }],
          environment: { COUNT: '${PORT}' },
        },
      },
    };
    const result = interpolateTree(data, lookup);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.data, {
      app: 'web',
      services: {
        '${NAME}': {
          image: 'busybox:8080',
          replicas: 3,
          ports: [{ target: 8080, published: 8080 }, '8080:80'],
          volumes: [{ type: 'bind', source: '/x', target: '/y', read_only: true }],
          environment: { COUNT: '8080' },
        },
      },
    });
  });

  it('leaves an uncastable value as a string for the schema to refuse', () => {
    const result = interpolateTree({ services: { web: { replicas: '${NAME}' } } }, lookup);
    assert.deepEqual(result.data, { services: { web: { replicas: 'web' } } });
  });

  it('reports each problem at the key path of its value', () => {
    const result = interpolateTree({ services: { web: { environment: ['A=${MISSING}'], image: '${' } } }, lookup);
    assert.deepEqual(
      result.problems.map((problem) => [problem.code, problem.path]),
      [
        ['UNDEFINED_VARIABLE', ['services', 'web', 'environment', 0]],
        ['INVALID_INTERPOLATION', ['services', 'web', 'image']],
      ],
    );
  });
});
