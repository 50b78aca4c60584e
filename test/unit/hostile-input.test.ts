import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { validateDir, type ValidateInput } from '../../agent/load/index.js';
import { plan } from '../../agent/targets/containers/plan.js';
import { DEFAULT_POLICY } from '../../agent/policy/index.js';

// Issue 21, holes 5 and 8: hostile or absurd input is refused with its file and line, in time
// linear in its size, and nothing is silently altered. On the code before the fix, the 10 MB
// manifest and the 100,000 keys took minutes (the test times out), `replicas: 1e23` passed
// validation (and hung the planner), and the rest was accepted.

describe('hostile input: bounded, refused with its file and line', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'capstan-hostile-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Problems of a checkout holding exactly `files`, formatted. */
  async function problemsOf(files: Record<string, string | Buffer>, input: Partial<ValidateInput> = {}): Promise<string[]> {
    const dir = await mkdtemp(join(root, 'case-'));
    for (const [name, content] of Object.entries(files)) {
      await mkdir(join(dir, name, '..'), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    const result = await validateDir({ root: dir, commit: '', hashKey: new Uint8Array(), uncheckedEnvFiles: true, ...input });
    return result.problems.map(formatProblem);
  }
  const web = (extra: string) => `app: a\nservices:\n  web:\n    image: x\n${extra}`;

  it('Compose label_file, include and extends.file go through the bounded reader: not UTF-8 or too large is refused at the entry that reads them', async () => {
    const notUtf8 = Buffer.concat([Buffer.from('A=1\nB=caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const compose = 'include: [other.yaml]\nservices:\n  web:\n    image: x\n    label_file: labels.env\n  job:\n    extends: {file: base.yaml, service: base}\n';
    const base = 'services:\n  base:\n    image: x\n    environment: {A: "' + 'y'.repeat(3000) + '"}\n';
    const problems = await problemsOf({ 'app/compose.yaml': compose, 'app/labels.env': notUtf8, 'app/other.yaml': Buffer.concat([Buffer.from('services:\n  other:\n    image: "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]), 'app/base.yaml': base }, { readLimits: { maxManifestBytes: 2048, maxTreeBytes: 1024 * 1024 } });
    assert.deepEqual(problems.filter((text) => !text.includes('POLICY')), [
      "app/compose.yaml:1:11: include[0]: 'other.yaml': line 3 holds bytes that are not UTF-8; save the file as UTF-8 (nothing is replaced or guessed) [NOT_UTF8]",
      "app/compose.yaml:5:17: services.web.label_file: the label file labels.env: line 2 holds bytes that are not UTF-8; save the file as UTF-8 (nothing is replaced or guessed) [COMPOSE_INVALID]",
      "app/compose.yaml:7:21: services.job.extends.file: 'base.yaml': the file is 3056 bytes, more than the limit of 2048 per file (--max-manifest-bytes, CAPSTAN_MAX_MANIFEST_BYTES) [FILE_TOO_LARGE]",
    ]);
  });

  it('an absurd replica count is refused by the schema', async () => {
    const problems = await problemsOf({ 'a.yaml': web('    replicas: 99999999999999999999999\n') });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^a\.yaml:5:\d+: services\.web\.replicas: must be <= 1000 \[SCHEMA\]$/);
  });

  it('counts and sizes have maximums: ports, memory, cpus, pids, and the containers of a commit', async () => {
    const ports = Array.from({ length: 1001 }, (_, index) => 10000 + index).join(', ');
    const problems = await problemsOf({
      'a.yaml': web(`    ports: [${ports}]\n    resources: { memory: 99999999999999999999999, cpus: 100000, pids_limit: 99999999999 }\n`),
      'b.yaml': 'app: b\nservices:\n' + Array.from({ length: 11 }, (_, index) => `  s${index}: { image: x, replicas: 1000 }\n`).join(''),
    });
    const text = problems.join('\n');
    assert.match(text, /a\.yaml:5:\d+: services\.web\.ports: must NOT have more than 1000 items/);
    assert.match(text, /a\.yaml:6:\d+: services\.web\.resources\.memory: /);
    assert.match(text, /a\.yaml:6:\d+: services\.web\.resources\.cpus: /);
    assert.match(text, /a\.yaml:6:\d+: services\.web\.resources\.pids_limit: must be <= 4194304/);
    assert.match(text, /b\.yaml:\d+:1: services\.s\d+\.replicas: the apps ask for more than 10000 containers in all/);
  });

  it('the largest commit the schema allows (10,000 containers) plans in one pass over them', async () => {
    const dir = await mkdtemp(join(root, 'largest-'));
    await writeFile(join(dir, 'a.yaml'), 'app: a\nservices:\n' + Array.from({ length: 10 }, (_, index) => `  s${index}: { image: local/x:1, replicas: 1000 }\n`).join(''));
    const { state, problems } = await validateDir({ root: dir, commit: 'c', hashKey: new Uint8Array(32) });
    assert.deepEqual(problems, []);
    const planned = plan(state!, { node: 'n', containers: [], networks: [], volumes: [], images: ['local/x:1'], runtimes: [], foreign: { containers: [], networks: [], volumes: [] } });
    // Per container: create, start, wait-ready; and the app's network.
    assert.equal(planned.operations.length, 3 * 10_000 + 1);
  });

  it('a 10 MB manifest is refused before it is parsed, naming the file and the setting', async () => {
    const big = 'app: a\nservices:\n  web:\n    image: x\nx-padding: "' + 'a'.repeat(10 * 1024 * 1024) + '"\n';
    const problems = await problemsOf({ 'big.yaml': big });
    assert.deepEqual(problems.length, 1);
    assert.match(problems[0], /^big\.yaml: the file is \d+ bytes, more than the limit of 1048576 per file \(--max-manifest-bytes, CAPSTAN_MAX_MANIFEST_BYTES\) \[FILE_TOO_LARGE\]$/);
    // The limit is the host's: raised, the same file loads.
    assert.deepEqual(await problemsOf({ 'big.yaml': big }, { readLimits: { maxManifestBytes: 16 * 1024 * 1024, maxTreeBytes: 64 * 1024 * 1024 } }), []);
  });

  it('the files of a commit together are bounded too', async () => {
    const files = Object.fromEntries(Array.from({ length: 4 }, (_, index) => [`app${index}.yaml`, `app: app${index}\nservices:\n  web: { image: x }\nx-pad: "${'p'.repeat(400)}"\n`]));
    const problems = await problemsOf(files, { readLimits: { maxManifestBytes: 1024, maxTreeBytes: 1500 } });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^app3\.yaml: .* more than the limit of 1500 per commit \(--max-tree-bytes, CAPSTAN_MAX_TREE_BYTES\) \[TREE_TOO_LARGE\]$/);
  });

  it('finds a duplicate key among 100,000 in linear time, at its line', async () => {
    const keys = Array.from({ length: 100_000 }, (_, index) => `  k${index}: v\n`).join('');
    const problems = await problemsOf({ 'keys.yaml': `app: a\nservices:\n  web: { image: x }\nx-keys:\n${keys}  k7: again\n` }, { readLimits: { maxManifestBytes: 4 * 1024 * 1024, maxTreeBytes: 4 * 1024 * 1024 } });
    assert.deepEqual(problems, ["keys.yaml:100005:3: x-keys.k7: 'k7' is written twice in the same map (first on line 12); keep one [YAML_SYNTAX]"]);
  });

  it('an alias bomb is a problem, not a hang', async () => {
    const bomb = 'x-a: &a [x, x, x, x, x, x, x, x, x, x]\n' + Array.from({ length: 9 }, (_, index) => `x-${String.fromCharCode(98 + index)}: &${String.fromCharCode(98 + index)} [${Array(10).fill(`*${String.fromCharCode(97 + index)}`).join(', ')}]\n`).join('');
    const problems = await problemsOf({ 'bomb.yaml': bomb + 'app: a\nservices:\n  web: { image: x }\n' });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], /^bomb\.yaml:2:\d+: .*alias.* \[YAML_SYNTAX\]$/i);
  });

  it('bytes that are not UTF-8 are refused, naming the file and line, never replaced (manifest and env file)', async () => {
    const manifest = Buffer.concat([Buffer.from('app: a\nservices:\n  web:\n    image: x\n    environment: { NAME: "caf'), Buffer.from([0xe9]), Buffer.from('" }\n')]);
    assert.deepEqual(await problemsOf({ 'a.yaml': manifest }), [
      'a.yaml:5:1: line 5 holds bytes that are not UTF-8; save the file as UTF-8 (nothing is replaced or guessed) [NOT_UTF8]',
    ]);
    const env = Buffer.concat([Buffer.from('# capstan-secrets v1\nNAME='), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]);
    const problems = await problemsOf({ 'a.yaml': web('    env_files: [app.env]\n'), 'app.env': env });
    assert.deepEqual(problems, ['app.env:2:1: line 2 holds bytes that are not UTF-8; save the file as UTF-8 (nothing is replaced or guessed) [NOT_UTF8]']);
  });

  it('a volume name that is not the app\'s own is refused unless the host policy allows it', async () => {
    const files = { 'a.yaml': `app: a\nservices:\n  web:\n    image: x\n    volumes: ["data:/data", "own:/own"]\nvolumes:\n  data:\n    name: b_data\n  own:\n    name: a_own\n` };
    assert.deepEqual(await problemsOf(files), [
      "a.yaml:8:11: volumes.data.name: Docker volume 'b_data' is not this app's (a_data); it may be another app's or one Capstan did not create, so it is refused by host policy; set allowed_volume_names: [b_data] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]",
      'a.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n    allowed_volume_names: [b_data]',
    ]);
    assert.deepEqual(await problemsOf(files, { policy: { ...DEFAULT_POLICY, allowedVolumeNames: ['b_data'] } }), []);
  });

  it('tmpfs: exec, suid, dev and sizes beyond the policy are refused; the policy can allow them', async () => {
    const files = { 'a.yaml': web('    tmpfs: ["/run:size=64m,exec,suid", "/big:size=100g", "/dev-ok:size=1g,mode=1777", "/tmp"]\n') };
    const problems = await problemsOf(files);
    assert.deepEqual(problems, [
      'a.yaml:5:12: services.web.tmpfs: tmpfs /big of size 100g, more than 1073741824 bytes, is refused by host policy; set max_tmpfs_size: 100g in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      'a.yaml:5:12: services.web.tmpfs: tmpfs /run with exec, suid is refused by host policy; set allowed_tmpfs_options: [exec, suid] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
      'a.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n' +
        '    allowed_tmpfs_options: [exec, suid]\n' +
        '    max_tmpfs_size: 100g',
    ]);
    assert.deepEqual(await problemsOf(files, { policy: { ...DEFAULT_POLICY, allowedTmpfsOptions: ['exec', 'suid'], maxTmpfsBytes: 100 * 1024 ** 3 } }), []);
  });
});
