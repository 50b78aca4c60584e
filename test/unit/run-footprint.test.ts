import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { RUN_V8_FLAGS } from '../../agent/cli/run-v8-flags.js';
import { deferUnusedDockerModules } from '../../agent/docker.js';
import { repoRoot, tempDir, type TempDir } from '../helpers/paths.js';

const run = promisify(execFile);

// `capstan run` idles for the host's whole life, so what it loads is resident memory for good
// (BENCHMARKS.md, figure 4). These packages are only needed for what it does rarely or never:
// TypeBox generates manifests-schema/, openpgp verifies OpenPGP signatures, gRPC/protobufjs
// serve BuildKit sessions and ssh2 ssh:// Docker hosts; cron-parser (with Luxon) computes deploy
// windows, which a host without a policy file has none of.
const UNUSED_AT_RUN_TIME = /\/node_modules\/(@sinclair\/typebox|openpgp|@grpc\/|protobufjs|ssh2|cron-parser|luxon)\//;

describe('what capstan run loads', { timeout: 60_000 }, () => {
  let work: TempDir;
  before(async () => {
    work = await tempDir('capstan-footprint');
  });
  after(() => work?.cleanup());

  it('neither TypeBox, openpgp, gRPC, ssh2 nor cron-parser, once its modules and its Docker client are loaded', async () => {
    // ESM imports are seen by a load hook, CommonJS requires in require's cache.
    const trace = join(work.path, 'trace.txt');
    const hooks = join(work.path, 'hooks.mjs');
    await writeFile(hooks, `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(trace)}, url + '\\n');
  return next(url, context);
}
`);
    const dist = join(repoRoot(), 'dist', 'agent');
    const probe = join(work.path, 'probe.mjs');
    await writeFile(probe, `import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(hooks).href)});
await import(${JSON.stringify(pathToFileURL(join(dist, 'cli', 'commands', 'run.js')).href)});
const { connectDocker } = await import(${JSON.stringify(pathToFileURL(join(dist, 'docker.js')).href)});
connectDocker();
appendFileSync(${JSON.stringify(trace)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n');
`);
    await run(process.execPath, [probe], { cwd: work.path, timeout: 30_000 });
    const loaded = readFileSync(trace, 'utf8').split('\n');
    assert.ok(loaded.some((entry) => entry.includes('/node_modules/dockerode/')), 'the probe loaded dockerode');
    assert.ok(loaded.some((entry) => entry.includes('/dist/agent/load/')), 'the probe loaded the loader');
    assert.deepEqual(loaded.filter((entry) => UNUSED_AT_RUN_TIME.test(entry)), []);
  });
});

// `capstan status` and `history` only read SQLite (and Docker for status): the cycle's modules
// (git, the loader and its schema validator, the targets) cost seconds of start-up on a busy host.
// (config.ts's read limits, the target registry and each target's status rows, with the
// containers' read-only observe, are small and stay; a target's stages load only when it is created.)
const CYCLE_ONLY =
  /\/node_modules\/(isomorphic-git|ajv|yaml|age-encryption|cron-parser|luxon)\/|\/dist\/agent\/(load\/(?!files\/read-text\.js)|source\/|targets\/(?!index\.js|status\.js|[^/]+\/status\.js|containers\/observe\.js))/;

describe('what capstan status and history load', { timeout: 60_000 }, () => {
  let work: TempDir;
  before(async () => {
    work = await tempDir('capstan-footprint-status');
  });
  after(() => work?.cleanup());

  for (const command of ['status', 'history']) {
    it(`${command}: SQLite, none of git, the loader or the targets`, async () => {
      const trace = join(work.path, `${command}-trace.txt`);
      const hooks = join(work.path, `${command}-hooks.mjs`);
      await writeFile(hooks, `import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(trace)}, url + '\\n');
  return next(url, context);
}
`);
      const probe = join(work.path, `${command}-probe.mjs`);
      await writeFile(probe, `import { createRequire, register } from 'node:module';
import { appendFileSync } from 'node:fs';
register(${JSON.stringify(pathToFileURL(hooks).href)});
await import(${JSON.stringify(pathToFileURL(join(repoRoot(), 'dist', 'agent', 'cli', 'commands', `${command}.js`)).href)});
appendFileSync(${JSON.stringify(trace)}, Object.keys(createRequire(import.meta.url).cache).join('\\n') + '\\n');
`);
      await run(process.execPath, [probe], { cwd: work.path, timeout: 30_000 });
      const loaded = readFileSync(trace, 'utf8').split('\n');
      assert.ok(loaded.some((entry) => entry.includes('/dist/agent/state/store.js')), 'the probe loaded the state store');
      assert.deepEqual(loaded.filter((entry) => CYCLE_ONLY.test(entry)), []);
    });
  }
});

describe('collecting garbage after a cycle', () => {
  it('collects the whole heap without --expose-gc on the command line, and leaves no gc() global', async () => {
    // In a child process: the flag it sets stays out of the test runner.
    const module = pathToFileURL(join(repoRoot(), 'dist', 'agent', 'cli', 'collect-garbage.js')).href;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `
import { getHeapStatistics } from 'node:v8';
import { collectGarbage } from ${JSON.stringify(module)};
let kept = [];
for (let index = 0; index < 200000; index++) kept.push({ index, text: 'cycle ' + index });
kept = null;
const before = getHeapStatistics().used_heap_size;
collectGarbage();
const after = getHeapStatistics().used_heap_size;
collectGarbage();
process.stdout.write(JSON.stringify({ before, after, global: typeof globalThis.gc }));
`], { timeout: 30_000 });
    const { before, after, global } = JSON.parse(stdout) as { before: number; after: number; global: string };
    assert.ok(after < before - 4e6, `used heap ${before} bytes before, ${after} after`);
    assert.equal(global, 'undefined');
  });
});

describe('V8 flags of capstan run', () => {
  it('are known to this Node (V8 only prints a warning for an unknown one, and ignores it)', async () => {
    for (const flag of RUN_V8_FLAGS) {
      const { stderr } = await run(process.execPath, ['-e', `require('node:v8').setFlagsFromString(${JSON.stringify(flag)})`]);
      assert.equal(stderr, '', flag);
    }
  });
});

describe('deferring dockerode\'s gRPC and ssh2', () => {
  let work: TempDir;
  before(async () => {
    work = await tempDir('capstan-defer');
  });
  after(() => work?.cleanup());

  /** A fake install: node_modules/<name>/package.json plus the given files, under a fresh folder. */
  async function fakeInstall(name: string, packages: Record<string, { version: string; files: Record<string, string> }>): Promise<string> {
    const root = join(work.path, name);
    await mkdir(root, { recursive: true });
    for (const [packageName, { version, files }] of Object.entries(packages)) {
      const dir = join(root, 'node_modules', packageName);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: packageName, version, main: './lib/main.js' }));
      for (const [file, text] of Object.entries(files)) {
        await mkdir(dirname(join(dir, file)), { recursive: true });
        await writeFile(join(dir, file), text);
      }
    }
    await writeFile(join(root, 'package.json'), '{}');
    return join(root, 'package.json');
  }

  const real = (tag: string) => `globalThis.realLoads = (globalThis.realLoads ?? 0) + 1;\nmodule.exports = function (value) { return '${tag} ' + value; };\n`;

  it('puts stand-ins in require\'s cache that load the real file on their first call', async () => {
    const from = await fakeInstall('known', {
      dockerode: { version: '4.0.8', files: { 'lib/main.js': '', 'lib/session.js': real('session') } },
      'docker-modem': { version: '5.0.7', files: { 'lib/main.js': '', 'lib/ssh.js': real('ssh') } },
    });
    const deferred = deferUnusedDockerModules(from);
    assert.equal(deferred.length, 2);
    const requireFrom = createRequire(from);
    const [session, ssh] = deferred.map((path) => requireFrom(path) as (value: string) => string);
    const global = globalThis as { realLoads?: number };
    assert.equal(global.realLoads, undefined, 'nothing real loaded yet');
    assert.equal(session('call'), 'session call');
    assert.equal(ssh('call'), 'ssh call');
    assert.equal(ssh('again'), 'ssh again');
    assert.equal(global.realLoads, 2, 'each real file loaded once');
    assert.equal(requireFrom(deferred[0]), (requireFrom.cache[deferred[0]] as NodeJS.Module).exports, 'the real module is cached now');
    assert.deepEqual(deferUnusedDockerModules(from), [], 'what is loaded already is left alone');
  });

  it('leaves dockerode to load as usual when its layout is not the known one', async () => {
    const layouts = {
      'no dockerode': {},
      'session.js moved': {
        dockerode: { version: '4.0.8', files: { 'lib/main.js': '', 'lib/buildkit/session.js': '' } },
        'docker-modem': { version: '5.0.7', files: { 'lib/main.js': '', 'lib/ssh.js': '' } },
      },
      'an unchecked major version': {
        dockerode: { version: '6.0.0', files: { 'lib/main.js': '', 'lib/session.js': '' } },
        'docker-modem': { version: '5.0.7', files: { 'lib/main.js': '', 'lib/ssh.js': '' } },
      },
    };
    for (const [name, packages] of Object.entries(layouts)) {
      const from = await fakeInstall(name.replace(/ /g, '-'), packages);
      const cached = Object.keys(createRequire(from).cache).length;
      assert.deepEqual(deferUnusedDockerModules(from), [], name);
      assert.equal(Object.keys(createRequire(from).cache).length, cached, `${name}: require's cache untouched`);
    }
  });
});
