import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { inspect } from 'node:util';
import { parse } from 'dotenv';
import { CapstanError } from '../../agent/errors.js';
import {
  decryptEnvDocument,
  decryptEnvFile,
  decryptFile,
  editFile,
  encryptFile,
  keygen,
  loadKeyring,
  parseKeyring,
  rotateFiles,
  secretsCommand,
  setVariable,
  spawnEditor,
  systemSecretsDeps,
  unsetVariable,
  type SecretsDeps,
} from '../../secrets/index.js';

const SENTINEL = 'S3NT1NEL';
const { readFile, readdir, stat, writeFile, mkdir, mkdtemp, rm } = fsPromises;

interface Sandbox {
  /** A real git repository; files are created under `config/`. */
  repo: string;
  keyFile: string;
  editRoot: string;
  /** Everything written to stdout and stderr, across every command run in this sandbox. */
  output: string[];
  deps(overrides?: Partial<SecretsDeps>): SecretsDeps & { stdoutText(): string };
}

function collector(output: string[]): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      output.push(chunk.toString());
      done();
    },
  });
  return { stream, text: () => chunks.join('') };
}

async function sandbox(t: TestContext): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), 'capstan-secrets-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const repo = join(root, 'repo');
  const editRoot = join(root, 'edit-tmp');
  await mkdir(join(repo, 'config'), { recursive: true });
  await mkdir(editRoot);
  execFileSync('git', ['init', '-q', repo]);
  const output: string[] = [];
  const keyFile = join(root, 'capstan.key');
  return {
    repo,
    keyFile,
    editRoot,
    output,
    deps(overrides = {}) {
      const stdout = collector(output);
      const stderr = collector(output);
      return {
        fs: fsPromises,
        stdin: Readable.from([]),
        stdout: stdout.stream,
        stderr: stderr.stream,
        env: { CAPSTAN_KEY_FILE: keyFile },
        cwd: repo,
        clock: { now: () => Date.parse('2025-01-01T00:00:00Z') },
        spawnEditor,
        editTempDirs: [editRoot],
        ...overrides,
        stdoutText: stdout.text,
      };
    },
  };
}

function stdinOf(text: string): Readable {
  return Readable.from([Buffer.from(text)]);
}

async function rejectsWith(run: () => Promise<unknown>, code: string): Promise<CapstanError> {
  let caught: unknown;
  try {
    await run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof CapstanError, `expected a CapstanError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const rendering of [String(caught), JSON.stringify(caught), inspect(caught, { depth: 10 })]) {
    assert.ok(!rendering.includes(SENTINEL), `error leaks a value: ${rendering}`);
  }
  return caught;
}

function assertOutputHasNoValue(box: Sandbox): void {
  for (const chunk of box.output) assert.ok(!chunk.includes(SENTINEL), `a message leaks a value: ${chunk}`);
}

async function setValue(box: Sandbox, file: string, name: string, value: string): Promise<void> {
  await setVariable(box.deps({ stdin: stdinOf(value) }), file, name, {});
}

async function decrypted(box: Sandbox, file: string, repoPath = file): Promise<Record<string, string>> {
  return decryptEnvFile({ text: await readFile(join(box.repo, file), 'utf8'), repoPath, keyring: await loadKeyring(box.keyFile) });
}

test('keygen writes a mode 0600 key file, refuses to overwrite it, and --add makes a new primary', async (t) => {
  const box = await sandbox(t);
  const deps = box.deps();
  await keygen(deps, {});
  assert.equal((await stat(box.keyFile)).mode & 0o777, 0o600);
  const first = await loadKeyring(box.keyFile);
  assert.equal(deps.stdoutText(), `${first.primary.id}\n`);
  const before = await readFile(box.keyFile, 'utf8');
  await rejectsWith(() => keygen(box.deps(), {}), 'SECRETS_KEY_FILE_EXISTS');
  assert.equal(await readFile(box.keyFile, 'utf8'), before);
  await keygen(box.deps(), { add: true });
  const second = await loadKeyring(box.keyFile);
  assert.equal(second.keys.length, 2);
  assert.equal(second.keys[0].id, first.primary.id);
  assert.notEqual(second.primary.id, first.primary.id);
  assert.equal((await stat(box.keyFile)).mode & 0o777, 0o600);
  await rejectsWith(() => keygen(box.deps({ env: {} }), {}), 'SECRETS_NO_KEY_FILE');
});

test('set reads the value from stdin, strips one trailing newline, and creates the file', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  await setValue(box, 'config/prod.env', 'DB_PASSWORD', `${SENTINEL}-value\n`);
  await setValue(box, 'config/prod.env', 'CERT', `${SENTINEL}-line1\n${SENTINEL}-line2\r\n`);
  assert.deepEqual(await decrypted(box, 'config/prod.env'), {
    DB_PASSWORD: `${SENTINEL}-value`,
    CERT: `${SENTINEL}-line1\n${SENTINEL}-line2`,
  });
  const text = await readFile(join(box.repo, 'config/prod.env'), 'utf8');
  assert.ok(!text.includes(SENTINEL));
  assert.ok(text.includes('path="config/prod.env"'), 'bound to the path relative to the git root');
  assertOutputHasNoValue(box);
});

test('set changes one line only; unset removes one; the rest stays byte for byte', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const file = 'config/app.env';
  await setValue(box, file, 'A', `${SENTINEL}-a`);
  await setValue(box, file, 'B', `${SENTINEL}-b`);
  await setValue(box, file, 'C', `${SENTINEL}-c`);
  const before = (await readFile(join(box.repo, file), 'utf8')).split('\n');
  await setValue(box, file, 'B', `${SENTINEL}-b2`);
  const after = (await readFile(join(box.repo, file), 'utf8')).split('\n');
  assert.deepEqual(
    after.map((line, index) => (line === before[index] ? '=' : line.split(/[= ]/)[0])),
    ['=', '=', 'B', '=', '#', '='],
  );
  const unchanged = await readFile(join(box.repo, file), 'utf8');
  await setValue(box, file, 'B', `${SENTINEL}-b2`);
  assert.equal(await readFile(join(box.repo, file), 'utf8'), unchanged, 'setting the same value rewrites nothing');
  await unsetVariable(box.deps(), file, 'A', {});
  assert.deepEqual(await decrypted(box, file), { B: `${SENTINEL}-b2`, C: `${SENTINEL}-c` });
  await unsetVariable(box.deps(), 'config/new.env', 'X', {});
  assert.deepEqual(await decrypted(box, 'config/new.env'), {});
  await rejectsWith(() => setVariable(box.deps({ stdin: stdinOf('v') }), file, '9BAD', {}), 'SECRETS_INVALID_NAME');
  assertOutputHasNoValue(box);
});

test('encrypt works in place; decrypt prints dotenv that reads back the same values', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const plain = `# database\nDB_PASSWORD=${SENTINEL}-value\nQUOTED="${SENTINEL} with # hash"\nMULTI='${SENTINEL}\nsecond'\n`;
  await writeFile(join(box.repo, 'config/plain.env'), plain, { mode: 0o640 });
  await encryptFile(box.deps(), 'config/plain.env', {});
  const text = await readFile(join(box.repo, 'config/plain.env'), 'utf8');
  assert.ok(!text.includes(SENTINEL));
  assert.equal((await stat(join(box.repo, 'config/plain.env'))).mode & 0o777, 0o640, 'mode kept');
  await rejectsWith(() => encryptFile(box.deps(), 'config/plain.env', {}), 'SECRETS_ALREADY_ENCRYPTED');
  assertOutputHasNoValue(box);
  const deps = box.deps();
  await decryptFile(deps, 'config/plain.env', {});
  assert.deepEqual(parse(deps.stdoutText()), parse(plain));
  assert.deepEqual(await readdir(join(box.repo, 'config')), ['plain.env'], 'no temporary files left');
});

test('decrypt of a plaintext file fails with SECRETS_NOT_ENCRYPTED and prints nothing', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  await writeFile(join(box.repo, 'config/plain.env'), `DB_PASSWORD=${SENTINEL}-value\n`);
  const deps = box.deps();
  await rejectsWith(() => decryptFile(deps, 'config/plain.env', {}), 'SECRETS_NOT_ENCRYPTED');
  assert.equal(deps.stdoutText(), '');
  await rejectsWith(() => setVariable(box.deps({ stdin: stdinOf('x') }), 'config/plain.env', 'A', {}), 'SECRETS_NOT_ENCRYPTED');
  await rejectsWith(() => decryptFile(box.deps(), 'config/absent.env', {}), 'SECRETS_FILE_MISSING');
});

test('edit runs $EDITOR on a 0600 copy in the temporary folder and removes it afterwards', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const file = 'config/edit.env';
  await setValue(box, file, 'KEEP', `${SENTINEL}-keep`);
  await setValue(box, file, 'DROP', `${SENTINEL}-drop`);
  const keepLine = (await readFile(join(box.repo, file), 'utf8')).split('\n')[1];
  const log = join(box.repo, '..', 'editor-log');
  const editor = join(box.repo, '..', 'fake-editor.sh');
  // Rewrites through a second file and a rename, as many editors do.
  await writeFile(
    editor,
    [
      '#!/bin/sh',
      'set -e',
      `stat -c %a "$1" > '${log}.mode'`,
      `printf '%s' "$1" > '${log}.path'`,
      `grep -v '^DROP=' "$1" > "$1.new"`,
      `printf 'ADDED="${SENTINEL} added"\\n' >> "$1.new"`,
      'mv "$1.new" "$1"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  await editFile(box.deps({ env: { CAPSTAN_KEY_FILE: box.keyFile, EDITOR: editor } }), file, {});
  assert.deepEqual(await decrypted(box, file), { KEEP: `${SENTINEL}-keep`, ADDED: `${SENTINEL} added` });
  assert.equal(await readFile(`${log}.mode`, 'utf8'), '600\n');
  const copyPath = await readFile(`${log}.path`, 'utf8');
  assert.ok(copyPath.startsWith(box.editRoot + '/'), copyPath);
  assert.deepEqual(await readdir(box.editRoot), [], 'temporary copy removed');
  assert.equal((await readFile(join(box.repo, file), 'utf8')).split('\n')[1], keepLine, 'unchanged value keeps its line');
  assertOutputHasNoValue(box);
});

test('edit removes its copy and leaves the file alone when the editor fails', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const file = 'config/edit.env';
  await setValue(box, file, 'KEEP', `${SENTINEL}-keep`);
  const before = await readFile(join(box.repo, file), 'utf8');
  const editor = join(box.repo, '..', 'failing-editor.sh');
  await writeFile(editor, '#!/bin/sh\necho "BROKEN=1" >> "$1"\nexit 3\n', { mode: 0o755 });
  // The first folder cannot hold the copy, so edit falls back to the next one.
  const deps = box.deps({ env: { CAPSTAN_KEY_FILE: box.keyFile, EDITOR: editor }, editTempDirs: [join(box.editRoot, 'absent'), box.editRoot] });
  const error = await rejectsWith(() => editFile(deps, file, {}), 'SECRETS_EDITOR_FAILED');
  assert.equal(error.data.status, 3);
  assert.equal(await readFile(join(box.repo, file), 'utf8'), before);
  assert.deepEqual(await readdir(box.editRoot), []);
});

test('edit on a new file creates it; the default temporary folder is /dev/shm first', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const editor = join(box.repo, '..', 'writing-editor.sh');
  await writeFile(editor, `#!/bin/sh\nprintf 'NEW=${SENTINEL}-new\\n' >> "$1"\n`, { mode: 0o755 });
  await editFile(box.deps({ env: { CAPSTAN_KEY_FILE: box.keyFile, EDITOR: editor } }), 'config/created.env', {});
  assert.deepEqual(await decrypted(box, 'config/created.env'), { NEW: `${SENTINEL}-new` });
  assert.equal(systemSecretsDeps().editTempDirs[0], '/dev/shm');
});

test('rotate re-encrypts under the new primary key with the same values, all or nothing', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const oldKeyId = (await loadKeyring(box.keyFile)).primary.id;
  await setValue(box, 'config/one.env', 'A', `${SENTINEL}-a`);
  await setValue(box, 'config/two.env', 'B', `${SENTINEL}-b`);
  await keygen(box.deps(), { add: true });
  const keyring = await loadKeyring(box.keyFile);
  const newKeyId = keyring.primary.id;

  const good = await readFile(join(box.repo, 'config/one.env'), 'utf8');
  const broken = (await readFile(join(box.repo, 'config/two.env'), 'utf8')).replace(/^B=./m, 'B=#');
  await writeFile(join(box.repo, 'config/two.env'), broken);
  await rejectsWith(() => rotateFiles(box.deps(), ['config/one.env', 'config/two.env'], {}), 'SECRETS_TAMPERED');
  assert.equal(await readFile(join(box.repo, 'config/one.env'), 'utf8'), good, 'nothing written when one file fails');

  await rotateFiles(box.deps(), ['config/one.env'], {});
  const rotated = await readFile(join(box.repo, 'config/one.env'), 'utf8');
  assert.notEqual(rotated, good);
  assert.equal(decryptEnvDocument({ text: rotated, repoPath: 'config/one.env', keyring }).keyId, newKeyId);
  assert.notEqual(oldKeyId, newKeyId);
  assert.deepEqual(await decrypted(box, 'config/one.env'), { A: `${SENTINEL}-a` });
  const onlyNew = parseKeyring((await readFile(box.keyFile, 'utf8')).split('\n').filter((line) => !line.includes(oldKeyId)).join('\n'), 'new');
  assert.deepEqual(decryptEnvFile({ text: rotated, repoPath: 'config/one.env', keyring: onlyNew }), { A: `${SENTINEL}-a` });
  await rotateFiles(box.deps(), ['config/one.env'], {});
  assert.equal(await readFile(join(box.repo, 'config/one.env'), 'utf8'), rotated, 'a file already on the primary key is left alone');
  assertOutputHasNoValue(box);
});

test('outside a git repository the path is bound relative to the current directory; --repo-path overrides', async (t) => {
  const box = await sandbox(t);
  await keygen(box.deps(), {});
  const plainFolder = join(box.repo, '..', 'no-git', 'sub');
  await mkdir(plainFolder, { recursive: true });
  await setVariable(box.deps({ cwd: join(plainFolder, '..'), stdin: stdinOf('v1') }), 'sub/x.env', 'A', {});
  assert.match(await readFile(join(plainFolder, 'x.env'), 'utf8'), /path="sub\/x\.env"/);
  await setVariable(box.deps({ stdin: stdinOf('v2') }), 'config/y.env', 'A', { repoPath: 'deploy/y.env' });
  assert.deepEqual(await decrypted(box, 'config/y.env', 'deploy/y.env'), { A: 'v2' });
  await rejectsWith(() => decryptFile(box.deps(), 'config/y.env', {}), 'SECRETS_PATH_MISMATCH');
});

test('secretsCommand wires the sub-commands for commander and refuses a value in argv', async (t) => {
  const box = await sandbox(t);
  await secretsCommand(box.deps()).parseAsync(['keygen', '--key-file', box.keyFile], { from: 'user' });
  await secretsCommand(box.deps({ env: {}, stdin: stdinOf(`${SENTINEL}-cli\n`) })).parseAsync(
    ['set', 'config/cli.env', 'TOKEN', '--key-file', box.keyFile],
    { from: 'user' },
  );
  const deps = box.deps();
  await secretsCommand(deps).parseAsync(['decrypt', 'config/cli.env'], { from: 'user' });
  assert.equal(deps.stdoutText(), `TOKEN=${SENTINEL}-cli\n`);

  const strict = secretsCommand(box.deps({ stdin: stdinOf('unused') }));
  for (const subcommand of strict.commands) subcommand.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  await assert.rejects(strict.parseAsync(['set', 'config/cli.env', 'TOKEN', `${SENTINEL}-argv`], { from: 'user' }), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'commander.excessArguments');
    return true;
  });
  assert.deepEqual(await decrypted(box, 'config/cli.env'), { TOKEN: `${SENTINEL}-cli` });
  await writeFile(join(box.repo, 'config/plain.env'), 'A=1\n');
  await assert.rejects(secretsCommand(box.deps()).parseAsync(['decrypt', 'config/plain.env'], { from: 'user' }), { code: 'SECRETS_NOT_ENCRYPTED' });
});
