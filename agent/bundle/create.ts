// `capstan bundle create`: the branch's commits up to a commit, the images its manifests use and
// a signed index, in one file an operator carries to a site with no network.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import type Docker from 'dockerode';
import tar from 'tar-stream';
import { pipeline } from 'node:stream/promises';
import type { Keyring } from '../../secrets/index.js';
import { formatProblem } from '../errors.js';
import type { Logger } from '../log.js';
import { validateDir } from '../load/index.js';
import type { DesiredState } from '../model.js';
import type { HostPolicy } from '../policy/index.js';
import { writeCheckout } from '../source/checkouts.js';
import { parseRepoLocation, shortBranchName } from '../source/location.js';
import { listContext } from '../load/files/build-context.js';
import { buildImage } from '../targets/containers/execute-build.js';
import { execTool } from './exec.js';
import { BundleErrorCode, bundleError, BUNDLE_FORMAT, INDEX_ENTRY, LIMITS, SIGNATURE_ENTRY, type BundleImage, type BundleIndex, type BundlePart, type PartName } from './format.js';
import { repackImages, saveImages } from './images.js';
import { readIndexOnly } from './inspect.js';
import { signIndex } from './sign.js';

export interface CreateOptions {
  repo: string;
  branch: string;
  commit?: string;
  out: string;
  /** A previous bundle file or a commit the site already holds. */
  since?: string;
  signKey?: string;
  /** Folder of the manifests inside the repository. */
  path: string;
  keyring?: Keyring;
  policy?: HostPolicy;
}

export interface CreateDeps {
  docker: Docker;
  logger: Logger;
  progress: (message: string) => void;
}

export async function createBundle(options: CreateOptions, deps: CreateDeps): Promise<BundleIndex> {
  const { docker, progress } = deps;
  const branch = shortBranchName(options.branch);
  const out = resolve(options.out);
  const work = await fs.promises.mkdtemp(join(fs.realpathSync(process.env.TMPDIR ?? '/tmp'), 'capstan-bundle-'));
  const fail = (message: string, cause?: unknown) => bundleError(BundleErrorCode.createFailed, out, message, {}, cause);
  const temporaryImages: string[] = [];
  try {
    // A bare clone of the one branch, with the git CLI: HTTP(S) URLs and local paths alike.
    const location = parseRepoLocation(options.repo);
    const gitdir = join(work, 'repo.git');
    const source = location.kind === 'http' ? location.url : location.path;
    await execTool('git', ['clone', '--quiet', '--bare', '--single-branch', '--no-tags', '--branch', branch, source, gitdir])
      .catch((cause) => { throw fail(`cannot clone branch ${branch}: ${(cause as Error).message}`, cause); });
    const git = (...args: string[]) => execTool('git', ['--git-dir', gitdir, ...args]).then((result) => result.stdout.trim());
    const head = await git('rev-parse', `refs/heads/${branch}`);
    const commit = options.commit ? await git('rev-parse', '--verify', `${options.commit}^{commit}`).catch(() => '') : head;
    if (!/^[0-9a-f]{40}$/.test(commit)) throw fail(`commit ${options.commit} is not on branch ${branch}`);
    if (commit !== head && !(await git('merge-base', '--is-ancestor', commit, head).then(() => true, () => false))) {
      throw fail(`commit ${commit} is not on branch ${branch}`);
    }
    if (commit !== head) await git('update-ref', `refs/heads/${branch}`, commit);

    const previous = options.since ? await resolveSince(options.since, git, docker, options, work) : undefined;
    if (previous && previous.commit === commit) throw fail(`nothing is new since ${options.since}: it already holds ${commit}`);
    if (previous && !(await git('merge-base', '--is-ancestor', previous.commit, commit).then(() => true, () => false))) {
      throw fail(`--since ${options.since}: commit ${previous.commit} is not an ancestor of ${commit}`);
    }

    progress(`git bundle of ${branch} at ${commit.slice(0, 12)}${previous ? ` since ${previous.commit.slice(0, 12)}` : ''}`);
    const repoBundle = join(work, 'repo.bundle');
    await git('bundle', 'create', repoBundle, `refs/heads/${branch}`, ...(previous ? [`^${previous.commit}`] : []))
      .catch((cause) => { throw fail(`git bundle failed: ${(cause as Error).message}`, cause); });
    const log = await git('log', '--max-count=1000', '--format=%H %s', commit, ...(previous ? [`^${previous.commit}`] : []));
    const commits = log.split('\n').filter((line) => line !== '').map((line) => ({ id: line.slice(0, 40), subject: line.slice(41, 1065) }));

    const desired = await loadAt(commit, gitdir, work, options, deps.logger, fail);
    const refs = [...new Set(desired.apps.flatMap((app) => app.services.map((service) => service.image)))].sort();
    // Built images get a tag under this run's throwaway hash key; the site tags them with its own
    // (the tag depends on the site's hash.key), and they are removed here once saved.
    const built = desired.apps.flatMap((app) => app.services.filter((service) => service.build));
    for (const service of built) {
      progress(`building ${service.app}/${service.name}`);
      await buildImage(docker, service.image, service.build!, { 'capstan.bundle': 'build' }, deps.logger, { listContext });
      temporaryImages.push(service.image);
    }
    const imageIds = new Map<string, string>();
    for (const ref of refs) imageIds.set(ref, await ensureImage(docker, ref, progress, fail));

    const parts: Array<{ name: PartName; file: string }> = [{ name: 'repo.bundle', file: repoBundle }];
    let images: BundleImage[] = [];
    if (refs.length > 0) {
      progress(`docker save of ${refs.length} image(s)`);
      const saved = join(work, 'saved.tar');
      await saveImages(docker, refs, saved).catch((cause) => { throw fail(`docker save failed: ${(cause as Error).message}`, cause); });
      const imagesTar = join(work, 'images.tar');
      images = await repackImages(saved, imagesTar, refs, imageIds, previous?.layers ?? new Set(), progress);
      await fs.promises.rm(saved);
      parts.push({ name: 'images.tar', file: imagesTar });
    }

    const described: BundlePart[] = [];
    for (const part of parts) {
      const digest = await digestFile(part.file);
      if (digest.size > LIMITS.partBytes) throw fail(`${part.name} would be ${digest.size} bytes, more than a bundle part may hold (${LIMITS.partBytes}): bundle fewer apps, or use --since`);
      described.push({ name: part.name, ...digest });
    }
    const index: BundleIndex = {
      format: BUNDLE_FORMAT,
      repo: location.kind === 'http' ? location.url.replace(/\/\/[^/@]*@/, '//') : location.path,
      branch,
      commit,
      ...(previous ? { since: previous.commit } : {}),
      createdAt: new Date().toISOString(),
      commits,
      apps: desired.apps.map((app) => ({ name: app.name, services: app.services.map((service) => ({ name: service.name, image: service.image, ...(service.build ? { built: true } : {}) })) })),
      images,
      parts: described,
    };
    const indexFile = join(work, INDEX_ENTRY);
    await fs.promises.writeFile(indexFile, JSON.stringify(index, null, 2) + '\n');
    let signature: string | undefined;
    if (options.signKey) {
      signature = await signIndex(indexFile, options.signKey).catch((cause) => { throw fail(`signing failed: ${(cause as Error).message}`, cause); });
    } else {
      deps.logger.warn({ out }, 'no --sign-key: the bundle is unsigned, and a site with a trust file refuses it');
    }
    await writeBundle(out, indexFile, signature, parts);
    progress(`wrote ${out}: ${(await fs.promises.stat(out)).size} bytes`);
    return index;
  } finally {
    for (const image of temporaryImages) await docker.getImage(image).remove().catch(() => undefined);
    await fs.promises.rm(work, { recursive: true, force: true });
  }
}

/** The previous bundle's commit and every layer its images use (the site holds them once it imported it). */
async function resolveSince(since: string, git: (...args: string[]) => Promise<string>, docker: Docker, options: CreateOptions, work: string): Promise<{ commit: string; layers: Set<string> }> {
  if (fs.existsSync(since) && fs.statSync(since).isFile()) {
    const previous = await readIndexOnly(since);
    return { commit: previous.commit, layers: new Set(previous.images.flatMap((image) => image.layers)) };
  }
  const commit = await git('rev-parse', '--verify', `${since}^{commit}`).catch(() => '');
  if (!/^[0-9a-f]{40}$/.test(commit)) throw bundleError(BundleErrorCode.createFailed, options.out, `--since ${since} is neither a bundle file nor a commit of the branch`);
  // The layers of the images the manifests at that commit use, as far as this engine holds them.
  const layers = new Set<string>();
  const desired = await loadAt(commit, join(work, 'repo.git'), join(work, 'since'), options, undefined, (message) => bundleError(BundleErrorCode.createFailed, options.out, message));
  for (const app of desired.apps) {
    for (const service of app.services) {
      const info = await docker.getImage(service.image).inspect().catch(() => undefined);
      for (const layer of info?.RootFS?.Layers ?? []) layers.add(layer);
    }
  }
  return { commit, layers };
}

async function loadAt(commit: string, gitdir: string, work: string, options: CreateOptions, logger: Logger | undefined,
  fail: (message: string) => Error): Promise<DesiredState> {
  const silent = { info() {}, warn() {}, error() {}, debug() {}, child() { return silent; } } as unknown as Logger;
  const checkout = await writeCheckout(fs, work, commit, gitdir, logger ?? silent, randomBytes(4).toString('hex'));
  const validation = await validateDir({
    root: checkout.dir,
    path: options.path,
    commit,
    hashKey: randomBytes(32),
    keyring: options.keyring,
    uncheckedEnvFiles: options.keyring === undefined,
    policy: options.policy,
  });
  if (!validation.state) throw fail(`the manifests at ${commit} do not load:\n${validation.problems.map((problem) => `  ${formatProblem(problem)}`).join('\n')}`);
  return validation.state;
}

/** The image's ID, pulling it when this engine lacks it. */
async function ensureImage(docker: Docker, ref: string, progress: (message: string) => void, fail: (message: string, cause?: unknown) => Error): Promise<string> {
  const present = await docker.getImage(ref).inspect().catch(() => undefined);
  if (present) return present.Id;
  progress(`pulling ${ref}`);
  try {
    const stream = await docker.pull(ref);
    await new Promise<void>((resolvePull, reject) => docker.modem.followProgress(stream, (error: Error | null, events: Array<{ error?: string }>) => {
      const failed = events?.find((event) => event.error);
      if (error || failed) reject(error ?? new Error(failed?.error));
      else resolvePull();
    }));
  } catch (cause) {
    throw fail(`image ${ref} is not on this engine and cannot be pulled: ${(cause as Error).message}`, cause);
  }
  return (await docker.getImage(ref).inspect()).Id;
}

async function digestFile(file: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return { size: (await fs.promises.stat(file)).size, sha256: hash.digest('hex') };
}

/** The tar, written beside `out` and renamed, so a crash never leaves a half bundle under its name. */
async function writeBundle(out: string, indexFile: string, signature: string | undefined, parts: Array<{ name: PartName; file: string }>): Promise<void> {
  const temporary = `${out}.tmp-${process.pid}`;
  const pack = tar.pack();
  const writing = pipeline(pack, fs.createWriteStream(temporary, { mode: 0o644 }));
  const fixed = { mtime: new Date(0), mode: 0o644, uid: 0, gid: 0 };
  const addBytes = (name: string, bytes: Buffer) => new Promise<void>((done, reject) => pack.entry({ ...fixed, name }, bytes, (error) => (error ? reject(error) : done())));
  try {
    await addBytes(INDEX_ENTRY, await fs.promises.readFile(indexFile));
    if (signature !== undefined) await addBytes(SIGNATURE_ENTRY, Buffer.from(signature));
    for (const part of parts) {
      const size = (await fs.promises.stat(part.file)).size;
      await new Promise<void>((done, reject) => {
        const sink = pack.entry({ ...fixed, name: part.name, size, type: 'file' }, (error) => (error ? reject(error) : done()));
        fs.createReadStream(part.file).on('error', reject).pipe(sink);
      });
    }
    pack.finalize();
    await writing;
    await fs.promises.rename(temporary, out);
  } catch (error) {
    pack.destroy(error as Error);
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}
