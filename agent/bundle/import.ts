// `capstan bundle import` and the agent's inbox: verify everything, then load the images, then
// add the commits to the local repository the agent reads. The next cycle deploys the commit
// through the same checks as any commit (its own signature policy, rollout, quarantine).
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from '../log.js';
import { parseRepoLocation, shortBranchName } from '../source/location.js';
import { locateGitdir } from '../source/local.js';
import type { StateStore } from '../state/store.js';
import type { TrustedSigner } from '../trust/types.js';
import * as nodeFs from 'node:fs';
import type { Keyring } from '../../secrets/index.js';
import { splitReference } from '../targets/containers/plan-mirrors.js';
import { validateDir } from '../load/index.js';
import type { HostPolicy } from '../policy/index.js';
import { writeCheckout } from '../source/checkouts.js';
import { execTool } from './exec.js';
import { BundleErrorCode, bundleError, type BundleIndex } from './format.js';
import { chainIds, loadImages, localChainIds } from './images.js';
import { readBundle } from './read.js';
import { verifyIndex } from './sign.js';

export interface ImportConfig {
  /** The agent's `--repo`: for a site fed by bundles, a local path (a bare repository is made there if none exists). */
  repo: string;
  branch: string;
  stateDir: string;
  /** Signers from the host's trust file; a bundle is refused without one. */
  signers: TrustedSigner[];
  /** `--allow-rewind`: a bundle whose commit is not a descendant of the local head may still move it. */
  allowRewind: boolean;
  /** What the agent loads manifests with, to tag built images as this site names them. */
  load: { path: string; hashKey: () => Uint8Array; keyring?: () => Promise<Keyring>; policy?: () => Promise<HostPolicy> };
}

export interface ImportDeps {
  docker: Docker;
  store: StateStore;
  logger: Logger;
  now: () => Date;
}

export interface Imported {
  index: BundleIndex;
  indexDigest: string;
  signer: string;
  loaded: string[];
}

const META_PREFIX = 'bundle_imported:';

/**
 * Imports `file` or refuses it having changed nothing. In order: the bundle's size and shape,
 * its index signature against the trust file, the branch, replay (already imported, or not newer
 * than the local head and the applied commit), then every part staged and hashed against the
 * signed index, the git prerequisites and the layers the site must already hold. Only then are
 * images loaded (first, so the commit never lands without its images) and commits fetched.
 */
export async function importBundle(file: string, config: ImportConfig, deps: ImportDeps): Promise<Imported> {
  const { docker, store, logger } = deps;
  const branch = shortBranchName(config.branch);
  const location = parseRepoLocation(config.repo);
  if (location.kind !== 'local') {
    throw bundleError(BundleErrorCode.configInvalid, file,
      `the agent reads ${location.url}: a site fed by bundles reads a local repository (--repo /var/lib/capstan/offline.git), which import creates`);
  }
  const gitdir = await ensureRepository(location.path);
  const git = (...args: string[]) => execTool('git', ['--git-dir', gitdir, ...args]).then((result) => result.stdout.trim());
  const holds = (commit: string) => git('cat-file', '-e', `${commit}^{commit}`).then(() => true, () => false);
  const isAncestor = (ancestor: string, descendant: string) => git('merge-base', '--is-ancestor', ancestor, descendant).then(() => true, () => false);

  const bundlesDir = join(config.stateDir, 'bundles');
  await fsp.mkdir(bundlesDir, { recursive: true });
  const stagingDir = await fsp.mkdtemp(join(bundlesDir, 'staging-'));
  try {
    let signer = '';
    const read = await readBundle(file, {
      stagingDir,
      progress: (message) => logger.info({ file }, message),
      verify: async (indexBytes, signature) => {
        const verdict = await verifyIndex(indexBytes, signature ?? '', config.signers, deps.now());
        if (verdict.ok) signer = `${verdict.signer.format} ${verdict.signer.fingerprint}`;
        return verdict;
      },
      beforeParts: async (index, indexDigest) => {
        if (index.branch !== branch) {
          throw bundleError(BundleErrorCode.wrongBranch, file, `is for branch ${index.branch}; this agent deploys ${branch}`, { branch: index.branch });
        }
        const previous = store.getMeta(`${META_PREFIX}${indexDigest}`);
        if (previous !== null) throw bundleError(BundleErrorCode.alreadyImported, file, `was imported already (${previous})`, { commit: index.commit });
        const head = await git('rev-parse', '--verify', '--quiet', `refs/heads/${branch}`).catch(() => '');
        const applied = store.lastAppliedCommit;
        for (const [what, commit] of [['the local branch head', head], ['the applied commit', applied]] as const) {
          if (!commit || config.allowRewind || !(await holds(commit)) || !(await holds(index.commit))) continue;
          if (commit === index.commit || await isAncestor(index.commit, commit)) {
            throw bundleError(BundleErrorCode.older, file, `holds ${index.commit}, which is not newer than ${what} ${commit}`, { commit: index.commit });
          }
        }
      },
    });
    const { index } = read;

    // Everything below reads staged, verified parts; nothing has been changed yet.
    const repoBundle = read.parts.get('repo.bundle') as string;
    if (index.since !== undefined && !(await holds(index.since))) {
      throw bundleError(BundleErrorCode.missingCommit, file, `is a delta on ${index.since}, which this site does not hold: import the bundle that brought it first`, { since: index.since });
    }
    await git('bundle', 'verify', '--quiet', repoBundle).catch((cause) => {
      throw bundleError(BundleErrorCode.missingCommit, file, `its commits cannot be added: ${(cause as Error).message}`, {}, cause);
    });
    const held = index.images.some((image) => image.carried.length < image.layers.length) ? await localChainIds(docker) : new Set<string>();
    for (const image of index.images) {
      const chain = chainIds(image.layers);
      image.layers.forEach((layer, position) => {
        if (!image.carried.includes(layer) && !held.has(chain[position])) {
          throw bundleError(BundleErrorCode.missingLayer, file, `image ${image.ref} needs layer ${layer}, which neither the bundle nor this engine holds: import the earlier bundle first, or make a full one`, { image: image.ref, layer });
        }
      });
    }

    // Objects in under a private ref: the branch does not move, and nothing reads them yet.
    const incoming = 'refs/capstan/bundle-incoming';
    await git('fetch', '--quiet', '--no-tags', repoBundle, `+refs/heads/${branch}:${incoming}`).catch((cause) => {
      throw bundleError(BundleErrorCode.missingCommit, file, `its commits cannot be added: ${(cause as Error).message}`, {}, cause);
    });
    const fetched = await git('rev-parse', incoming);
    if (fetched !== index.commit) throw bundleError(BundleErrorCode.tampered, file, `its git bundle holds ${fetched}, the signed index says ${index.commit}`);
    const head = await git('rev-parse', '--verify', '--quiet', `refs/heads/${branch}`).catch(() => '');
    if (head && !config.allowRewind && !(await isAncestor(head, index.commit))) {
      await git('update-ref', '-d', incoming).catch(() => undefined);
      throw bundleError(BundleErrorCode.older, file, `${index.commit} does not descend from the local head ${head}: it would rewind the branch (--allow-rewind allows it)`, { commit: index.commit });
    }

    const imagesTar = read.parts.get('images.tar');
    let loaded: string[] = [];
    if (imagesTar) {
      const layers = index.images.reduce((sum, image) => sum + image.carried.length, 0);
      logger.info({ file, images: index.images.length, layers }, 'loading images');
      loaded = await loadImages(docker, imagesTar).catch((cause) => {
        throw bundleError(BundleErrorCode.loadFailed, file, `docker load failed: ${(cause as Error).message}`, {}, cause);
      });
    }
    const built = index.apps.flatMap((app) => app.services.filter((service) => service.built).map((service) => ({ app: app.name, service: service.name, image: service.image })));
    if (built.length > 0) await tagBuiltImages(built, index, { gitdir, stagingDir, config, docker, logger, file });
    // Last, and atomic (git's compare-and-swap on the old value): the branch moves, the next
    // cycle sees the commit. A crash before this leaves the site as it was, the bundle importable.
    await git('update-ref', '-m', 'capstan bundle import', `refs/heads/${branch}`, index.commit, head || '0'.repeat(40));
    await git('update-ref', '-d', incoming).catch(() => undefined);
    store.setMeta(`${META_PREFIX}${read.indexDigest}`, `commit ${index.commit} at ${deps.now().toISOString()}`);
    store.setMeta('bundle_last_imported', JSON.stringify({ commit: index.commit, branch, index: read.indexDigest, signer, at: deps.now().toISOString() }));
    logger.info({ file, commit: index.commit, signer, images: index.images.length }, 'bundle imported');
    return { index, indexDigest: read.indexDigest, signer, loaded };
  } finally {
    await fsp.rm(stagingDir, { recursive: true, force: true });
  }
}

/**
 * A built image's tag is an HMAC under the site's own hash key (load/normalize/build.ts), so the
 * bundle's tag means nothing here: the manifests at the commit are loaded as the agent will load
 * them, and each built image is tagged with the tag this site gives it, so the cycle finds it
 * and builds nothing. Manifests that do not load are left to the cycle to report.
 */
async function tagBuiltImages(built: Array<{ app: string; service: string; image: string }>, index: BundleIndex,
  context: { gitdir: string; stagingDir: string; config: ImportConfig; docker: Docker; logger: Logger; file: string }): Promise<void> {
  const { config, docker, logger } = context;
  const checkout = await writeCheckout(nodeFs, context.stagingDir, index.commit, context.gitdir, logger, 'bundle');
  const validation = await validateDir({
    root: checkout.dir,
    path: config.load.path,
    commit: index.commit,
    hashKey: config.load.hashKey(),
    keyring: await config.load.keyring?.(),
    policy: await config.load.policy?.(),
  });
  if (!validation.state) {
    logger.warn({ file: context.file, problems: validation.problems.length }, 'the manifests of the bundle do not load here; built images are not tagged');
    return;
  }
  for (const entry of built) {
    const service = validation.state.apps.find((app) => app.name === entry.app)?.services.find((candidate) => candidate.name === entry.service);
    const image = index.images.find((candidate) => candidate.ref === entry.image);
    if (!service?.build || !image) continue;
    const { repo, tag } = splitReference(service.image);
    await docker.getImage(image.id).tag({ repo, tag: tag ?? 'latest' });
    // The bundle's own tag for it is meaningless here.
    await docker.getImage(entry.image).remove({ noprune: true }).catch(() => undefined);
    logger.info({ app: entry.app, service: entry.service, image: service.image }, 'built image tagged for this site');
  }
}

/** The local repository, made bare (with HEAD on nothing) when the path does not exist yet. */
async function ensureRepository(repoPath: string): Promise<string> {
  if (!existsSync(repoPath)) await execTool('git', ['init', '--quiet', '--bare', repoPath]);
  return locateGitdir((await import('node:fs')).default, repoPath);
}
