import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { runCapstan, spawnCapstan, stopProcess, waitForLine } from '../helpers/cli.js';
import { docker as engine1, testLabels, TEST_IMAGE, uniqueName } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';
import type { RemoteRepo } from '../helpers/git-server.js';
import type { TempDir } from '../helpers/paths.js';
import { startSecondEngine, type SecondEngine } from '../helpers/second-engine.js';
import { run, trustedSigners, type SignedRepo, type SigningWorkspace, type SshKey } from '../helpers/signing.js';

// Air-gapped delivery across two engines: images built on the first, a signed bundle made from
// a repository served over HTTP, imported on the second (which has no registry and never sees
// the git server), and deployed by the normal cycle. Every refusal changes nothing.

const VERSIONS = ['v1', 'v2', 'v3', 'v4', 'v5'] as const;
type Version = (typeof VERSIONS)[number];

describe('bundle: signed offline delivery of commits and images', { timeout: 900_000 }, () => {
  // The fixture gives the git server, node name and folders; the agent here runs on the second
  // engine, from the site's own repository. The commits, bundles and site states the tests need
  // are made on first use (commitOf, bundleFile, siteAt), so in file order each is made once and
  // a test run alone makes what comes before it.
  const agent = sharedAgent({ app: 'offline', repoName: 'offline' });
  const { node, app } = agent;
  const imageName = `local/${uniqueName('bundle-img')}`;
  let engine2: SecondEngine;
  let remote: RemoteRepo;
  let repo: SignedRepo;
  let workspace: SigningWorkspace;
  let trusted: SshKey;
  let stranger: SshKey;
  let work: TempDir;
  let site: TempDir;
  let trustFile: string;
  const commits: Partial<Record<Version, string>> = {};
  const made = new Set<string>();

  const siteEnv = () => ({
    CAPSTAN_REPO: join(site.path, 'offline.git'),
    CAPSTAN_STATE_DIR: join(site.path, 'state'),
    CAPSTAN_NODE: node,
    CAPSTAN_TRUST_FILE: trustFile,
    DOCKER_HOST: engine2.host,
    // The second engine runs with --iptables=false (see second-engine.ts).
    CAPSTAN_NETWORK_ISOLATION: 'off',
  });
  const onSite = (...args: string[]) => runCapstan(args, { timeoutMs: 300_000, env: siteEnv() });
  const create = (out: string, ...args: string[]) =>
    runCapstan(['bundle', 'create', '--repo', remote.url, '--branch', 'main', '--out', join(work.path, out), ...args],
      { timeoutMs: 300_000, env: { HOME: workspace.root, GNUPGHOME: workspace.env.GNUPGHOME } });
  const bundle = (name: string) => join(work.path, name);
  const versionFiles = (version: Version): Record<string, string> => {
    switch (version) {
      case 'v1': return { [`${app}.yaml`]: manifest(`${imageName}:1`, 'v1') };
      case 'v2': return { [`${app}.yaml`]: manifest(`${imageName}:2`, 'v2') };
      case 'v3': return { [`${app}.yaml`]: manifest(`${imageName}:1`, 'v3') };
      case 'v4': return { [`${app}.yaml`]: manifest(`${imageName}:3`, 'v4') };
      case 'v5': return {
        [`${app}.yaml`]: manifest(`${imageName}:1`, 'v5') + `  built:\n    build: { context: built }\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n`,
        'built/Dockerfile': `FROM ${TEST_IMAGE}\nCOPY hello.txt /hello.txt\n`,
        'built/hello.txt': `built for ${app}\n`,
      };
    }
  };
  const manifest = (webImage: string, version: string) =>
    `app: ${app}\nservices:\n  web:\n    image: ${webImage}\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n    environment: { VERSION: "${version}" }\n    update: { monitor: 1s }\n` +
    `  side:\n    image: ${TEST_IMAGE}\n    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]\n`;
  const siteImage = (ref: string) => engine2.docker.getImage(ref).inspect().then(() => true, () => false);
  const siteHead = () => run('git', ['--git-dir', join(site.path, 'offline.git'), 'rev-parse', '--verify', '--quiet', 'refs/heads/main'], { env: workspace.env })
    .then((result) => result.stdout.trim(), () => '');
  /** The commit of `version` on the remote, made (signed, pushed) with those before it if missing. */
  const commitOf = async (version: Version): Promise<string> => {
    for (const name of VERSIONS.slice(0, VERSIONS.indexOf(version) + 1)) {
      if (commits[name]) continue;
      commits[name] = await repo.commit(name === 'v5' ? 'v5: a built service' : name, versionFiles(name), { sign: trusted });
      await remote.push();
    }
    return commits[version]!;
  };
  /** A trusted-signed bundle (made on first use), and what each is made of. */
  const bundles: Record<string, { version: Version; since?: 'full.bundle' | Version }> = {
    'full.bundle': { version: 'v1' },
    'delta.bundle': { version: 'v2', since: 'full.bundle' },
    'v3.bundle': { version: 'v3', since: 'v2' },
    'v4.bundle': { version: 'v4', since: 'v2' },
    'v5.bundle': { version: 'v5', since: 'v3' },
  };
  const bundleFile = async (name: string): Promise<string> => {
    if (!made.has(name)) {
      const { version, since } = bundles[name];
      const commit = await commitOf(version);
      const base = since === undefined ? [] : ['--since', since === 'full.bundle' ? await bundleFile(since) : await commitOf(since)];
      const result = await create(name, '--sign-key', trusted.privateKeyPath, '--commit', commit, ...base);
      assert.equal(result.code, 0, result.stderr);
      made.add(name);
    }
    return bundle(name);
  };
  /** The site holds `version` (imported in order: full, delta, v3) and runs it. */
  const siteAt = async (version: 'v1' | 'v2' | 'v3') => {
    const steps = [['v1', 'full.bundle'], ['v2', 'delta.bundle'], ['v3', 'v3.bundle']] as const;
    for (const [name, file] of steps.slice(0, VERSIONS.indexOf(version) + 1)) {
      const head = await siteHead();
      if (VERSIONS.findIndex((candidate) => commits[candidate] === head) >= VERSIONS.indexOf(name)) continue;
      const imported = await onSite('bundle', 'import', await bundleFile(file));
      assert.equal(imported.code, 0, imported.stderr);
    }
    if (JSON.parse((await onSite('status', '--json')).stdout).appliedCommit !== commits[version]) {
      const once = await onSite('once');
      assert.equal(once.code, 0, once.stderr);
    }
  };
  const running = async () => {
    const containers = await engine2.docker.listContainers({ filters: { label: [`capstan.node=${node}`] } });
    return Object.fromEntries(containers.map((container) => [container.Labels['capstan.service'], container.Image]));
  };

  /** Builds `tag` on engine 1: the test image plus one small layer holding `content`. */
  async function buildImage(tag: string, content: string, from = TEST_IMAGE): Promise<void> {
    const pack = tar.pack();
    pack.entry({ name: 'Dockerfile' }, `FROM ${from}\nCOPY version.txt /version-${content.trim()}.txt\n`);
    pack.entry({ name: 'version.txt' }, content);
    pack.finalize();
    const stream = await engine1.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, labels: testLabels(), rm: true });
    await new Promise<void>((resolve, reject) => engine1.modem.followProgress(stream, (error: Error | null, events: Array<{ error?: string }>) => {
      const failed = events?.find((event) => event.error);
      if (error || failed) reject(error ?? new Error(failed?.error));
      else resolve();
    }));
  }

  /** Refused with `code`, and the site holds neither the commit nor the image. */
  async function assertRefused(file: string, code: RegExp, image?: string): Promise<void> {
    const headBefore = await siteHead();
    const result = await onSite('bundle', 'import', file);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, code);
    assert.equal(await siteHead(), headBefore);
    if (image) assert.equal(await siteImage(image), false, `${image} must not be loaded`);
  }

  before(async () => {
    engine2 = await startSecondEngine();
    remote = agent.repo;
    ({ workspace, repo, trusted, stranger, trustFile } = await trustedSigners(remote.workDir, 'git,capstan-bundle'));
    work = await agent.tempDir('capstan-bundle-work');
    site = await agent.tempDir('capstan-bundle-site');
    await buildImage(`${imageName}:1`, 'one\n');
    await buildImage(`${imageName}:2`, 'two\n');
    await buildImage(`${imageName}:3`, 'three\n', `${imageName}:2`);
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await engine2?.stop();
    for (const tag of ['3', '2', '1']) await engine1.getImage(`${imageName}:${tag}`).remove({ force: true }).catch(() => undefined);
    await workspace?.cleanup();
  });

  it('creates a signed bundle that inspect lists and verifies', async () => {
    const inspect = await runCapstan(['bundle', 'inspect', await bundleFile('full.bundle'), '--trust-file', trustFile, '--json']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const report = JSON.parse(inspect.stdout);
    assert.equal(report.signature.status, 'verified');
    assert.equal(report.partsIntact, true);
    assert.equal(report.index.commit, commits.v1);
    assert.deepEqual(report.index.images.map((image: { ref: string }) => image.ref).sort(), [`${imageName}:1`, TEST_IMAGE].sort());
    // Shared layers once: the test image's layer is in both images, carried once.
    const carried = report.index.images.flatMap((image: { carried: string[] }) => image.carried);
    assert.equal(new Set(carried).size, 2);
  });

  it('refuses a flipped byte in an image layer, in the index, a truncated file, an unsigned bundle and a stranger\'s key, importing nothing', async () => {
    const full = readFileSync(await bundleFile('full.bundle'));
    const flippedLayer = Buffer.from(full);
    flippedLayer[full.length - 40_000] ^= 0x01;
    writeFileSync(bundle('flipped-layer.bundle'), flippedLayer);
    await assertRefused(bundle('flipped-layer.bundle'), /BUNDLE_TAMPERED: .*images\.tar has sha256/, `${imageName}:1`);

    const flippedIndex = Buffer.from(full);
    const at = full.indexOf(Buffer.from(await commitOf('v1')));
    flippedIndex[at] = flippedIndex[at] === 0x61 ? 0x62 : 0x61;
    writeFileSync(bundle('flipped-index.bundle'), flippedIndex);
    await assertRefused(bundle('flipped-index.bundle'), /BUNDLE_BAD_SIGNATURE/, `${imageName}:1`);

    copyFileSync(bundle('full.bundle'), bundle('truncated.bundle'));
    truncateSync(bundle('truncated.bundle'), Math.floor(full.length / 2));
    await assertRefused(bundle('truncated.bundle'), /BUNDLE_TRUNCATED/, `${imageName}:1`);

    assert.equal((await create('unsigned.bundle')).code, 0);
    await assertRefused(bundle('unsigned.bundle'), /BUNDLE_UNSIGNED/, `${imageName}:1`);

    assert.equal((await create('stranger.bundle', '--sign-key', stranger.privateKeyPath)).code, 0);
    await assertRefused(bundle('stranger.bundle'), new RegExp(`BUNDLE_UNTRUSTED: .*${stranger.fingerprint.replace(/[+/]/g, '.')}`), `${imageName}:1`);
  });

  it('refuses a bundle whose images part was swapped for another signed bundle\'s', async () => {
    const entries = async (file: string) => {
      const found: Record<string, Buffer> = {};
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => { found[header.name] = Buffer.concat(chunks); next(); });
      });
      await new Promise<void>((resolve, reject) => { extract.on('finish', resolve).on('error', reject); extract.end(readFileSync(file)); });
      return found;
    };
    const good = await entries(await bundleFile('full.bundle'));
    // Other image content of the same size under the trusted, signed index.
    const swapped = Buffer.from(good['images.tar']);
    swapped.write('swapped', 1024);
    const pack = tar.pack();
    for (const name of ['index.json', 'index.sig', 'repo.bundle']) pack.entry({ name }, good[name]);
    pack.entry({ name: 'images.tar' }, swapped);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
    writeFileSync(bundle('swapped.bundle'), Buffer.concat(chunks));
    await assertRefused(bundle('swapped.bundle'), /BUNDLE_TAMPERED/, `${imageName}:1`);
  });

  it('imports on the second engine with no registry or git server reachable, and the cycle deploys it', async () => {
    // The first import: the site holds nothing before it.
    const result = await onSite('bundle', 'import', await bundleFile('full.bundle'));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await siteImage(`${imageName}:1`), true);
    assert.equal(await siteHead(), commits.v1);
    const once = await onSite('once');
    assert.equal(once.code, 0, once.stderr);
    assert.deepEqual(await running(), { web: `${imageName}:1`, side: TEST_IMAGE });
    const status = JSON.parse((await onSite('status', '--json')).stdout);
    assert.equal(status.appliedCommit, commits.v1);
    assert.equal(status.lastBundle.commit, commits.v1);
    assert.match(status.lastBundle.signer, new RegExp(`^ssh ${trusted.fingerprint.replace(/[+/]/g, '.')}`));
  });

  it('a delta after a one-service change carries only the new layer, and imports on top', async () => {
    await siteAt('v1');
    await bundleFile('delta.bundle');
    const fullSize = statSync(bundle('full.bundle')).size;
    const deltaSize = statSync(bundle('delta.bundle')).size;
    assert.ok(deltaSize * 20 < fullSize, `delta ${deltaSize} bytes, full ${fullSize}`);
    const imported = await onSite('bundle', 'import', bundle('delta.bundle'));
    assert.equal(imported.code, 0, imported.stderr);
    const once = await onSite('once');
    assert.equal(once.code, 0, once.stderr);
    assert.deepEqual(await running(), { web: `${imageName}:2`, side: TEST_IMAGE });
  });

  it('refuses a replayed bundle and an older commit\'s bundle', async () => {
    await siteAt('v2');
    await assertRefused(bundle('full.bundle'), /BUNDLE_ALREADY_IMPORTED/);
    const older = await create('older.bundle', '--sign-key', trusted.privateKeyPath, '--commit', await commitOf('v1'));
    assert.equal(older.code, 0, older.stderr);
    await assertRefused(bundle('older.bundle'), /BUNDLE_OLDER/);
    assert.deepEqual(await running(), { web: `${imageName}:2`, side: TEST_IMAGE });
  });

  it('capstan run --inbox imports a dropped bundle and deploys it; a tampered one is set aside', async () => {
    await siteAt('v2');
    await bundleFile('v3.bundle');
    const inbox = join(work.path, 'inbox');
    await run('mkdir', ['-p', inbox], { env: workspace.env });
    copyFileSync(bundle('v3.bundle'), join(inbox, 'v3.bundle'));
    const bad = readFileSync(bundle('v3.bundle'));
    bad[bad.length - 3000] ^= 0x01;
    writeFileSync(join(inbox, 'bad.bundle'), bad);
    // Copied "long ago": the inbox leaves files changed in the last seconds to finish copying.
    const past = new Date(Date.now() - 60_000);
    for (const name of ['v3.bundle', 'bad.bundle']) utimesSync(join(inbox, name), past, past);
    // Left alone: a link (a stick's content is not followed anywhere), and a file still being copied.
    symlinkSync(bundle('v3.bundle'), join(inbox, 'link.bundle'));
    writeFileSync(join(inbox, 'copying.bundle'), readFileSync(bundle('v3.bundle')).subarray(0, 1000));
    const watching = spawnCapstan(['run', '--inbox', inbox, '--schedule', '0 0 1 1 *'], { env: siteEnv() });
    try {
      const finished = await waitForLine(watching, (_line, json) => json?.msg === 'cycle finished', 300_000);
      assert.equal(finished.json?.result, 'applied', finished.line);
    } finally {
      await stopProcess(watching);
    }
    assert.deepEqual(readdirSync(join(inbox, 'imported')), ['v3.bundle']);
    assert.deepEqual(readdirSync(join(inbox, 'rejected')).sort(), ['bad.bundle', 'bad.bundle.reason']);
    assert.match(readFileSync(join(inbox, 'rejected', 'bad.bundle.reason'), 'utf8'), /BUNDLE_TAMPERED/);
    assert.equal(existsSync(join(inbox, 'v3.bundle')), false);
    assert.deepEqual(readdirSync(inbox).sort(), ['copying.bundle', 'imported', 'link.bundle', 'rejected']);
    assert.equal(await siteHead(), commits.v3);
    assert.deepEqual(await running(), { web: `${imageName}:1`, side: TEST_IMAGE });
  });

  it('refuses a delta that relies on a layer the site no longer holds, loading nothing', async () => {
    // The site pruned image 2 (unused since v3); a delta made since v2 counts on its layer.
    await siteAt('v3');
    await engine2.docker.getImage(`${imageName}:2`).remove();
    await assertRefused(await bundleFile('v4.bundle'), /BUNDLE_MISSING_LAYER: .*needs layer sha256:/, `${imageName}:3`);
    assert.deepEqual(await running(), { web: `${imageName}:1`, side: TEST_IMAGE });
  });

  it('carries an image built from the repository, which the site tags as its own hash key names it', async () => {
    await siteAt('v3');
    await bundleFile('v5.bundle');
    const report = JSON.parse((await runCapstan(['bundle', 'inspect', bundle('v5.bundle'), '--json'])).stdout);
    const builtEntry = report.index.apps[0].services.find((service: { name: string }) => service.name === 'built');
    assert.equal(builtEntry.built, true);
    const builtImage = report.index.images.find((image: { ref: string }) => image.ref === builtEntry.image);
    assert.equal(builtImage.carried.length, 1, 'only the COPY layer: the base is on the site');
    const imported = await onSite('bundle', 'import', bundle('v5.bundle'));
    assert.equal(imported.code, 0, imported.stderr);
    const once = await onSite('once');
    assert.equal(once.code, 0, once.stderr);
    assert.doesNotMatch(once.stdout + once.stderr, /build-image|"msg":"build output"/);
    const containers = await engine2.docker.listContainers({ filters: { label: [`capstan.node=${node}`, 'capstan.service=built'] } });
    assert.equal(containers.length, 1);
    assert.equal(containers[0].ImageID, builtImage.id, 'the site runs the image built where the bundle was made');
  });

  it('verifies a bundle signed with an OpenPGP key from the trust file', async () => {
    await commitOf('v1');
    const key = await workspace.gpgKey('pgp-release');
    writeFileSync(trustFile, `${readFileSync(trustFile, 'utf8')}${await workspace.exportGpgKey(key)}`);
    const result = await create('pgp.bundle', '--sign-key', `gpg:${key.fingerprint}`);
    assert.equal(result.code, 0, result.stderr);
    const inspect = await runCapstan(['bundle', 'inspect', bundle('pgp.bundle'), '--trust-file', trustFile, '--json']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const report = JSON.parse(inspect.stdout);
    assert.equal(report.signature.status, 'verified');
    assert.match(report.signature.detail, new RegExp(`^openpgp ${key.fingerprint}`));
  });
});
