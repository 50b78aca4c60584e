import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { validateDir } from '../../agent/load/index.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';

// Issue 21: a property-based test of the loader (fast-check). Random and mutated manifests and
// env files never crash the loader, never hang past a bound (fast-check's per-run `timeout`),
// and every refusal names a file of the checkout and a line. A fixed seed and run count keep it
// reproducible and within a CI budget of a few seconds; a failure prints the seed and the
// shrunk counterexample.

const SEED = 21;
const RUNS = 500;
/** Per run; far above the few milliseconds a run takes, so only a hang trips it. */
const RUN_TIMEOUT_MS = 15_000;
/** Problems about a file as a whole, which have no line. */
const FILE_LEVEL = new Set(['EMPTY_MANIFEST', 'FILE_TOO_LARGE', 'TREE_TOO_LARGE', 'MANIFEST_OUTSIDE_CHECKOUT', 'ENV_FILE_UNREADABLE', 'SECRETS_NO_KEY']);

const SEED_MANIFEST = `app: shop
env_files: [app.env]
x-base: &base
  restart: always
  labels: { tier: web }
services:
  web:
    <<: *base
    image: local/web:1
    replicas: 2
    ports: ["80", {target: 443}]
    environment: { NAME: "\${NAME}", MODE: prod }
    volumes: ["data:/data", "./conf:/conf:ro"]
    tmpfs: /tmp
    healthcheck: { test: ["CMD", "true"], interval: 5s }
    resources: { memory: 256m, cpus: 0.5 }
    depends_on: [db]
  db:
    image: local/db:1
    secrets: { /run/secrets/pw: "\${NAME}" }
volumes:
  data: { shared: true }
`;
const SEED_ENV = '# capstan-secrets v1 age\nNAME=ENC[abc]\n';

/** A manifest's text, mutated: bytes replaced, inserted, removed, or lines duplicated. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(': ', '- ', '&a ', '*a', '<<: *base\n', '[', '{', '"', "'", '\n  ', '\t', '#', '---\n', '99999999999999999999999', '${', '\u0000', '\uFEFF') }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('duplicate-line' as const), at: fc.nat() }),
);

function mutate(text: string, mutations: { kind: string; at: number; bytes?: Uint8Array; text?: string; length?: number }[]): Buffer {
  let bytes = Buffer.from(text);
  for (const change of mutations) {
    const at = bytes.length === 0 ? 0 : change.at % bytes.length;
    if (change.kind === 'replace') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(change.bytes!), bytes.subarray(at + change.bytes!.length)]);
    else if (change.kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(change.text!), bytes.subarray(at)]);
    else if (change.kind === 'delete') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.length!)]);
    else {
      const lines = bytes.toString('latin1').split('\n');
      const line = at % Math.max(lines.length, 1);
      lines.splice(line, 0, lines[line] ?? '');
      bytes = Buffer.from(lines.join('\n'), 'latin1');
    }
  }
  return bytes;
}

/** Any JSON-like value at a manifest's keys: random shapes the schema must refuse, never crash on. */
const randomManifest = fc
  .record({
    app: fc.oneof(fc.constant('shop'), fc.string()),
    services: fc.oneof(
      fc.dictionary(fc.oneof(fc.constantFrom('web', 'db'), fc.string()), fc.dictionary(fc.constantFrom('image', 'replicas', 'ports', 'volumes', 'environment', 'tmpfs', 'network_mode', 'depends_on', 'uses', 'resources', 'command', 'secrets', 'env_files', 'labels'), fc.jsonValue({ maxDepth: 3 }))),
      fc.jsonValue({ maxDepth: 3 }),
    ),
    volumes: fc.option(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }))),
  }, { requiredKeys: [] })
  .map((value) => Buffer.from(stringify(value)));

describe('loader properties (fast-check)', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'capstan-property-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Loads a checkout of `files` and checks the properties; returns nothing, throws on a violation. */
  async function check(manifest: Buffer, env: Buffer): Promise<void> {
    const dir = await mkdtemp(join(root, 'run-'));
    try {
      await writeFile(join(dir, 'shop.yaml'), manifest);
      await writeFile(join(dir, 'app.env'), env);
      await writeFile(join(dir, 'conf'), 'x=1\n');
      const result = await validateDir({ root: dir, commit: '', hashKey: new Uint8Array(32), uncheckedEnvFiles: true, policy: { ...DEFAULT_POLICY, bindRoots: ['/srv'] } });
      for (const problem of result.problems) {
        const shown = JSON.stringify(problem);
        assert.ok(['shop.yaml', 'app.env', 'conf', 'capstan.env'].includes(problem.file), `names a file of the checkout: ${shown}`);
        assert.ok(Number.isInteger(problem.line) && problem.line >= 0, `a line: ${shown}`);
        if (!FILE_LEVEL.has(problem.code)) assert.ok(problem.line >= 1, `a line within the file: ${shown}`);
        assert.ok(problem.message.length > 0, shown);
      }
      if (result.problems.length === 0) assert.ok(result.state, 'a state when there is no problem');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('mutated manifests and env files never crash or hang the loader, and every refusal is located', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.array(mutation, { maxLength: 3 }), async (manifestChanges, envChanges) => {
        await check(mutate(SEED_MANIFEST, manifestChanges), mutate(SEED_ENV, envChanges));
      }),
      { seed: SEED, numRuns: RUNS, timeout: RUN_TIMEOUT_MS, endOnFailure: true },
    );
  });

  it('random manifests and env files of random bytes never crash or hang the loader', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomManifest, fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes))), fc.uint8Array({ maxLength: 200 }), async (manifest, env) => {
        await check(manifest, Buffer.concat([Buffer.from('# capstan-secrets v1 age\n'), Buffer.from(env)]));
      }),
      { seed: SEED, numRuns: RUNS, timeout: RUN_TIMEOUT_MS, endOnFailure: true },
    );
  });

  it('the seed itself loads (so mutations start from a valid manifest)', async () => {
    const dir = await mkdtemp(join(root, 'seed-'));
    await writeFile(join(dir, 'shop.yaml'), SEED_MANIFEST);
    await writeFile(join(dir, 'app.env'), SEED_ENV);
    await writeFile(join(dir, 'conf'), 'x=1\n');
    const result = await validateDir({ root: dir, commit: '', hashKey: new Uint8Array(32), uncheckedEnvFiles: true });
    assert.deepEqual(result.problems, []);
  });
});
