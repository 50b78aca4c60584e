import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { POLICY_SCHEMA_FILE, readSchemaFile, schemaValidator, SCHEMA_FILE, SETTINGS_SCHEMA_FILE, validatorStamp } from '../../agent/schema-file.js';
import { renderValidatorFiles } from '../../manifests-schema/gen/validator-code.js';
import { manifestJsonSchema, renderSchemaFiles, renderSchemaJson } from '../../manifests-schema/gen/schema-json.js';
import { closest } from '../../agent/load/suggest.js';
import { validateManifest } from '../../agent/load/schema/validate.js';

function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 10 && !existsSync(join(dir, 'package.json')); depth++) dir = dirname(dir);
  assert.ok(existsSync(join(dir, 'package.json')), 'repository root not found');
  return dir;
}

describe('manifest JSON Schema', () => {
  it('each checked-in file is what the TypeBox definitions generate (run `npm run build && npm run schema`)', () => {
    const files = renderSchemaFiles();
    assert.deepEqual(files.map(({ file }) => file), ['manifests-schema/capstan.schema.json', 'manifests-schema/capstan-settings.schema.json', 'manifests-schema/host-policy.schema.json']);
    for (const { file, text } of files) {
      assert.equal(readFileSync(join(repositoryRoot(), file), 'utf8'), text, file);
      // What the agent compiles at run time: the same file, found from the compiled module.
      assert.deepEqual(readSchemaFile(file), JSON.parse(text), file);
    }
  });

  it('each checked-in validator is the standalone code of its schema, and the agent uses it', () => {
    const schemas = renderSchemaFiles();
    const validators = renderValidatorFiles(schemas);
    assert.deepEqual(validators.map(({ file }) => file), ['manifests-schema/capstan.validate.cjs', 'manifests-schema/capstan-settings.validate.cjs', 'manifests-schema/host-policy.validate.cjs']);
    for (const { file, text } of validators) {
      assert.equal(readFileSync(join(repositoryRoot(), file), 'utf8'), text, `${file} (run \`npm run build && npm run schema\`)`);
    }
    const files = [SCHEMA_FILE, SETTINGS_SCHEMA_FILE, POLICY_SCHEMA_FILE] as const;
    for (const [index, file] of files.entries()) {
      const { text } = schemas[index];
      const validator = schemaValidator(file) as ReturnType<typeof schemaValidator> & { stamp?: string };
      assert.equal(validator.stamp, validatorStamp(file, text), `${file}: the generated validator, not one compiled at start`);
      // Any change to the schema text makes a generated validator stale.
      assert.notEqual(validatorStamp(file, text.replace(/\n$/, ' \n')), validator.stamp);
    }
  });

  it('describes every field, for editors and the README', () => {
    const undocumented: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (node === null || typeof node !== 'object') return;
      const schema = node as Record<string, unknown>;
      for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (typeof child.description !== 'string' || child.description.length < 10) undocumented.push(`${path}.${name}`);
      }
      for (const [key, child] of Object.entries(schema)) {
        if (Array.isArray(child)) child.forEach((item, index) => visit(item, `${path}.${key}[${index}]`));
        else visit(child, `${path}.${key}`);
      }
    };
    visit(manifestJsonSchema(), '$');
    assert.deepEqual(undocumented, []);
  });

  it('states the restart default and why', () => {
    const text = renderSchemaJson();
    assert.match(text, /"default": "unless-stopped"/);
    assert.match(text, /after a reboot/);
  });
});

describe('validateManifest', () => {
  const base = { app: 'shop', services: { web: { image: 'local/busybox:1' } } };
  const withService = (fields: Record<string, unknown>) => ({ ...base, services: { web: { image: 'local/busybox:1', ...fields } } });

  it('accepts the smallest manifest, x- extension keys, and every field', () => {
    assert.deepEqual(validateManifest(base), []);
    assert.deepEqual(validateManifest({ ...base, 'x-base': { anything: [1] } }), []);
    const every = withService({
      command: 'httpd -f',
      entrypoint: ['/bin/sh', '-c'],
      environment: { A: 'x', B: 1, C: true, D: null },
      ports: ['80', 81, { target: 82, published: 8082, host_ip: '127.0.0.1', protocol: 'udp' }],
      volumes: ['data:/data', { type: 'bind', source: './x', target: '/x', read_only: true }],
      restart: 'no',
      labels: ['a=b'],
      replicas: 0,
      'x-note': 'ignored',
    });
    assert.deepEqual(validateManifest({ ...every, volumes: { data: null, logs: { name: 'shop-logs', labels: { a: 'b' } } } }), []);
  });

  const cases: [name: string, manifest: unknown, expected: [code: string, path: (string | number)[], message: string][]][] = [
    ['not a map', 'just text', [['SCHEMA', [], 'must be a map, not a string']]],
    ['missing keys', {}, [['SCHEMA', [], "missing required key 'app'"], ['SCHEMA', [], "missing required key 'services'"]]],
    ['no services', { app: 'a', services: {} }, [['SCHEMA', ['services'], 'must define at least one service']]],
    ['bad app name', { ...base, app: 'Shop' }, [['SCHEMA', ['app'], "must be a name: lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"]]],
    ['long app name', { ...base, app: 'a'.repeat(64) }, [['SCHEMA', ['app'], "must be a name: lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"]]],
    ['bad service name', { app: 'a', services: { Web_1: { image: 'x' } } }, [['SCHEMA', ['services', 'Web_1'], "invalid service name 'Web_1': use lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters"]]],
    ['unknown top key', { ...base, service: {} }, [['UNKNOWN_KEY', ['service'], "unknown key 'service' (did you mean 'services'?)"]]],
    ['unknown service key', withService({ imgae: 'x' }), [['UNKNOWN_KEY', ['services', 'web', 'imgae'], "unknown key 'imgae' (did you mean 'image'?)"]]],
    ['wrong type', withService({ replicas: 'two' }), [['SCHEMA', ['services', 'web', 'replicas'], 'must be an integer, not a string']]],
    ['negative replicas', withService({ replicas: -1 }), [['SCHEMA', ['services', 'web', 'replicas'], 'must be >= 0']]],
    ['fractional replicas', withService({ replicas: 1.5 }), [['SCHEMA', ['services', 'web', 'replicas'], 'must be an integer, not a number']]],
    ['empty image', withService({ image: '' }), [['SCHEMA', ['services', 'web', 'image'], 'must not be empty']]],
    ['restart', withService({ restart: 'never' }), [['SCHEMA', ['services', 'web', 'restart'], 'must be one of no, always, on-failure, unless-stopped']]],
    ['command type', withService({ command: 5 }), [['SCHEMA', ['services', 'web', 'command'], 'must be a string or a list of strings, not a number']]],
    ['command item', withService({ command: ['a', 1] }), [['SCHEMA', ['services', 'web', 'command', 1], 'must be a string, not a number']]],
    ['environment type', withService({ environment: 'A=1' }), [['SCHEMA', ['services', 'web', 'environment'], 'must be a map or a list of strings, not a string']]],
    ['environment value', withService({ environment: { A: [1] } }), [['SCHEMA', ['services', 'web', 'environment', 'A'], 'must be a string, a number, a boolean or empty, not a list']]],
    ['port long form typo', withService({ ports: [{ target: 80, pubished: 8080 }] }), [['UNKNOWN_KEY', ['services', 'web', 'ports', 0, 'pubished'], "unknown key 'pubished' (did you mean 'published'?)"]]],
    ['port out of range', withService({ ports: [{ target: 70000 }] }), [['SCHEMA', ['services', 'web', 'ports', 0, 'target'], 'must be <= 65535']]],
    ['port type', withService({ ports: [true] }), [['SCHEMA', ['services', 'web', 'ports', 0], 'must be a string, an integer or a map, not a boolean']]],
    ['mount missing type', withService({ volumes: [{ source: 'a', target: '/a' }] }), [['SCHEMA', ['services', 'web', 'volumes', 0], "missing required key 'type'"]]],
    ['mount target', withService({ volumes: [{ type: 'volume', source: 'a', target: 'a' }] }), [['SCHEMA', ['services', 'web', 'volumes', 0, 'target'], "must be an absolute path inside the container (starting with '/')"]]],
    ['volume entry type', { ...base, volumes: { data: 'yes' } }, [['SCHEMA', ['volumes', 'data'], 'must be a map or empty, not a string']]],
    ['volume docker name', { ...base, volumes: { data: { name: 'no spaces' } } }, [['SCHEMA', ['volumes', 'data', 'name'], "must be a Docker volume name: letters, digits, '_', '.' and '-', starting with a letter or digit"]]],
    ['environment name', withService({ environment: { 'A=B': 'x' } }), [['SCHEMA', ['services', 'web', 'environment', 'A=B'], "a variable name cannot contain '='"]]],
  ];
  for (const [name, manifest, expected] of cases) {
    it(name, () => {
      const problems = validateManifest(manifest).map((problem) => [problem.code, problem.path, problem.message]);
      assert.deepEqual(problems, expected);
    });
  }

  it('points unknown keys and bad names at the key itself', () => {
    const [unknown] = validateManifest(withService({ imgae: 'x' }));
    const [badName] = validateManifest({ app: 'a', services: { Web: { image: 'x' } } });
    assert.equal(unknown.atKey, true);
    assert.equal(badName.atKey, true);
  });

  it('reports every mistake at once', () => {
    const problems = validateManifest({ app: 'A', services: { web: { image: 1, replicas: -1, colour: 'red' } }, extra: 1 });
    assert.equal(problems.length, 5, JSON.stringify(problems));
  });
});

describe('closest', () => {
  const known = ['image', 'command', 'entrypoint', 'environment', 'ports', 'volumes', 'restart', 'labels', 'replicas'];
  const cases: [word: string, suggestion: string | undefined][] = [
    ['imgae', 'image'],
    ['enviroment', 'environment'],
    ['port', 'ports'],
    ['Labels', 'labels'],
    ['replica', 'replicas'],
    ['healthcheck', undefined],
    ['x', undefined],
  ];
  for (const [word, suggestion] of cases) {
    it(`${word} → ${suggestion}`, () => assert.equal(closest(word, known), suggestion));
  }
});
