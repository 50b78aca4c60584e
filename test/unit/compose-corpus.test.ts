import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { encryptEnv, newKeyringKey, parsePlainEnv, type Keyring } from '../../secrets/index.js';
import { formatProblem } from '../../agent/errors.js';
import { formatNote, loadComposeFolder, renderManifest } from '../../agent/load/compose/index.js';
import { openEnvFiles } from '../../agent/load/variables/env-files.js';
import { validateDir } from '../../agent/load/index.js';
import { loadManifestFile } from '../../agent/load/load-file.js';
import { openCheckout } from '../../agent/load/files/repo-files.js';
import type { DesiredState } from '../../agent/model.js';
import type { AppDraft } from '../../agent/load/normalize/draft.js';
import { DEFAULT_POLICY, readPolicyFile, type HostPolicy } from '../../agent/policy/index.js';
import { repoRoot, tempDir, type TempDir } from '../helpers/paths.js';

// The corpus: Compose files of well-known self-hosted software (test/fixtures/compose/<name>),
// adapted to be self-contained. For each, the offline load must give exactly the expected
// problems (expected-problems.txt) or none; the conversion must print expected.yaml and the
// notes in expected-notes.txt; and expected.yaml, loaded as a native manifest (its env files
// encrypted, as the native format wants), must give the very same app, config hashes included.
//
// CAPSTAN_UPDATE_GOLDEN=1 rewrites the expectation files from what the code does now: review
// the diff before committing it.

const CORPUS = join(repoRoot(), 'test', 'fixtures', 'compose');
const UPDATE = process.env.CAPSTAN_UPDATE_GOLDEN === '1';
const COMMIT = 'c'.repeat(40);
const hashKey = new Uint8Array(32).fill(7);
const SCHEMA = '../../../../manifests-schema/capstan.schema.json';
const COMPOSE_NAMES = /^(docker-)?compose(\.override)?\.ya?ml$/;

function readOptional(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

function lines(items: string[]): string {
  return items.map((item) => item + '\n').join('');
}

async function policyOf(folder: string): Promise<HostPolicy> {
  const file = join(folder, 'host-policy.yaml');
  return existsSync(file) ? readPolicyFile(file) : DEFAULT_POLICY;
}

/** The app without what differs by where it was loaded from: source positions and absolute paths. */
function comparable(app: AppDraft): unknown {
  return {
    ...app,
    source: undefined,
    // Where a network's external or ipam setting is written differs between the two files too.
    networks: app.networks?.map((network) => ({
      ...network,
      external: network.external && { ...network.external, line: undefined },
      ipam: network.ipam && { ...network.ipam, line: undefined },
    })),
    services: app.services.map((service) => ({
      ...service,
      source: undefined,
      mounts: service.mounts.map((mount) => (mount.type === 'bind' && mount.repo ? { ...mount, source: undefined } : mount)),
      build: service.build ? { ...service.build, context: undefined } : undefined,
    })),
  };
}

function envFilesOf(manifest: Record<string, unknown>): string[] {
  const services = Object.values((manifest.services ?? {}) as Record<string, { env_files?: string[] }>);
  return [...new Set([...((manifest.env_files as string[] | undefined) ?? []), ...services.flatMap((service) => service.env_files ?? [])])];
}

describe('Compose corpus', () => {
  const names = readdirSync(CORPUS, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const temporary: TempDir[] = [];
  const keyKey = newKeyringKey(Date.now());
  const keyring: Keyring = { source: 'test', keys: [keyKey], primary: keyKey };

  after(async () => {
    for (const dir of temporary) await dir.cleanup();
  });

  it('holds at least 40 projects', () => {
    assert.ok(names.length >= 40, `${names.length} projects`);
  });

  for (const name of names) {
    it(`${name}: validates offline, converts, and matches its expectation`, async () => {
      const folder = join(CORPUS, name);
      const policy = await policyOf(folder);
      const validation = await validateDir({ root: CORPUS, path: name, commit: COMMIT, hashKey, policy });
      const problems = lines(validation.problems.map(formatProblem));

      const checkout = await openCheckout(CORPUS);
      const envFiles = openEnvFiles(checkout, {});
      const load = await loadComposeFolder(folder, checkout, { envFiles, defaults: undefined, fallback: () => undefined }, policy);
      const notes = lines(load.notes.map(formatNote));
      assert.deepEqual(validation.notes, load.notes.map(formatNote), 'validateDir reports the same notes');
      const rendered = problems === '' && load.conversion.document ? renderManifest(load.conversion.document.data, { schema: SCHEMA, from: load.conversion.file.split('/').pop()! }) : undefined;

      const expectedFiles = { problems: join(folder, 'expected-problems.txt'), manifest: join(folder, 'expected.yaml'), notes: join(folder, 'expected-notes.txt') };
      if (UPDATE) {
        // An empty expectation is no file: a note or problem that went away takes its file along.
        if (problems !== '') writeFileSync(expectedFiles.problems, problems);
        else rmSync(expectedFiles.problems, { force: true });
        if (rendered !== undefined) writeFileSync(expectedFiles.manifest, rendered);
        if (notes !== '') writeFileSync(expectedFiles.notes, notes);
        else rmSync(expectedFiles.notes, { force: true });
      }
      assert.equal(problems, readOptional(expectedFiles.problems) ?? '', 'problems');
      assert.equal(notes, readOptional(expectedFiles.notes) ?? '', 'notes');
      if (problems !== '') {
        assert.equal(validation.state, undefined);
        return;
      }
      assert.equal(rendered, readOptional(expectedFiles.manifest), 'converted manifest');
      const state = validation.state as DesiredState;
      assert.equal(state.apps.length, 1);

      // expected.yaml as a native manifest, beside the same files, its env files encrypted.
      const native = await tempDir(`capstan-compose-${name}`);
      temporary.push(native);
      const copy = join(native.path, name);
      cpSync(folder, copy, { recursive: true, filter: (source) => !COMPOSE_NAMES.test(source.split('/').pop()!) && !/expected|host-policy/.test(source) });
      writeFileSync(join(copy, 'app.yaml'), rendered!);
      const manifest = parse(rendered!) as Record<string, unknown>;
      for (const envFile of envFilesOf(manifest)) {
        const repoPath = `${name}/${envFile.replace(/^\.\//, '')}`;
        const values = parsePlainEnv(readFileSync(join(copy, envFile), 'utf8'), repoPath);
        writeFileSync(join(copy, envFile), encryptEnv({ values, repoPath, keyring }));
      }
      // Loaded as one file: beside it, config files such as prometheus.yml would be manifests too.
      const nativeCheckout = await openCheckout(native.path);
      const nativeEnvFiles = openEnvFiles(nativeCheckout, { keyring });
      const nativeLoad = await loadManifestFile(join(copy, 'app.yaml'), nativeCheckout, { envFiles: nativeEnvFiles, fallback: () => undefined }, policy);
      assert.deepEqual([...nativeLoad.problems, ...nativeEnvFiles.problems], [], 'expected.yaml loads as a native manifest');
      assert.deepEqual(comparable(nativeLoad.app!), comparable(load.result.app!), 'the native manifest gives the same app');
    });
  }
});
