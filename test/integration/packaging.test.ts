// `npm install -g` of the packed package gives a working `capstan`: compiled JavaScript,
// the native SQLite module built from source, no TypeScript at run time.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { sharedAgent } from '../helpers/fixture.js';
import { repoRoot } from '../helpers/paths.js';

const run = promisify(execFile);

describe('packaging: npm pack, npm install -g', { timeout: 600_000 }, () => {
  const fixture = sharedAgent({ noRepo: true }); // no git server or agent: npm's scratch folder
  let work: string;
  let capstan: string;
  let installed: string;

  before(async () => {
    work = (await fixture.tempDir('capstan-pack')).path;
    const env = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    // test/run.sh built dist/ already; `prepack` would rewrite it in place while other test
    // files import from it (a half-written module fails their import), so it is skipped here.
    const packed = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], { cwd: repoRoot(), env, maxBuffer: 16 << 20, timeout: 300_000 });
    const tarball = join(work, packed.stdout.trim().split('\n').at(-1)!);
    const prefix = join(work, 'prefix');
    await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], { env, maxBuffer: 16 << 20, timeout: 480_000 });
    capstan = join(prefix, 'bin', 'capstan');
    installed = join(prefix, 'lib', 'node_modules', 'capstan');
  });

  it('installs a capstan command that runs', async () => {
    const version = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')).version as string;
    assert.equal((await run(capstan, ['--version'])).stdout.trim(), version);
    const validated = await run(capstan, ['validate', join(repoRoot(), 'examples', 'hello')]);
    assert.match(validated.stdout, /valid: 1 app\(s\), 1 service\(s\)/);
  });

  it('opens its SQLite state (native module built) and manages keys', async () => {
    const state = join(work, 'state');
    const history = await run(capstan, ['history', '--state-dir', state]);
    assert.match(history.stdout, /CYCLE/);
    assert.ok(existsSync(join(state, 'capstan.db')));
    await run(capstan, ['secrets', 'keygen', '--key-file', join(work, 'secrets.key')]);
    assert.ok(existsSync(join(work, 'secrets.key')));
  });

  it('ships compiled JavaScript only', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)]));
    const shipped = files(join(installed, 'dist'));
    assert.ok(shipped.some((file) => file.endsWith('main.js')));
    assert.deepEqual(shipped.filter((file) => file.endsWith('.ts')), []);
    assert.equal(existsSync(join(installed, 'node_modules', 'typescript')), false, 'no TypeScript at run time');
    assert.equal(existsSync(join(installed, 'dist', 'test')), false, 'tests are not shipped');
  });
});
