// `build:` → BuildSpec: the context resolved inside the checkout, its files listed as the build
// will send them and digested. The image tag needs the hash key (args may be secrets), so it is
// set in index.ts (see buildImageTag).
import { createHmac } from 'node:crypto';
import { posix, resolve } from 'node:path';
import type { BuildSpec } from '../../model.js';
import { contextDigest, listContext } from '../files/build-context.js';
import { canonicalJson } from './hash.js';
import type { KeyPath, PathProblem } from '../problems.js';
import { isInside, toRepoPath, type Checkout } from '../files/repo-files.js';
import type { ServiceManifest } from '../schema/schema.js';
import { toStringMap } from './string-map.js';

export async function normalizeBuild(
  spec: NonNullable<ServiceManifest['build']>,
  path: KeyPath,
  context: { checkout: Checkout; manifestDir: string },
  problems: PathProblem[],
): Promise<BuildSpec | undefined> {
  const long = typeof spec === 'string' ? { context: spec } : spec;
  const contextPath: KeyPath = typeof spec === 'string' ? path : [...path, 'context'];
  const args = toStringMap(long.args, [...path, 'args'], { what: 'build argument' });
  problems.push(...args.problems);
  const dockerfile = posix.normalize(long.dockerfile ?? 'Dockerfile');
  if (dockerfile.startsWith('../') || dockerfile.startsWith('/')) {
    problems.push({ code: 'BUILD_INVALID', path: [...path, 'dockerfile'], message: 'the Dockerfile must be inside the context: give its path relative to the context' });
    return undefined;
  }

  const absolute = resolve(context.manifestDir, long.context);
  const outside = 'the build context leaves the checkout; build from a folder of the repository';
  const real = isInside(context.checkout.root, absolute) ? await context.checkout.files.realpath(absolute).catch(() => undefined) : undefined;
  if (!isInside(context.checkout.root, absolute) || (real !== undefined && !isInside(context.checkout.realRoot, real))) {
    problems.push({ code: 'BUILD_OUTSIDE_CHECKOUT', path: contextPath, message: outside });
    return undefined;
  }
  if (real === undefined || !(await context.checkout.files.stat(real)).isDirectory()) {
    problems.push({ code: 'BUILD_NOT_FOUND', path: contextPath, message: 'the build context is not a folder of the checkout (relative to the manifest\'s folder); commit it or fix the path' });
    return undefined;
  }
  const dockerfileInfo = await context.checkout.files.stat(resolve(real, dockerfile)).catch(() => undefined);
  if (!dockerfileInfo?.isFile()) {
    const at = typeof spec !== 'string' && spec.dockerfile !== undefined ? [...path, 'dockerfile'] : contextPath;
    problems.push({ code: 'BUILD_NOT_FOUND', path: at, message: `there is no ${dockerfile} in the build context` });
    return undefined;
  }
  let digest: string;
  try {
    digest = await contextDigest(context.checkout.files, real, await listContext(real, dockerfile, context.checkout.files));
  } catch (error) {
    problems.push({ code: 'BUILD_INVALID', path: contextPath, message: (error as Error).message });
    return undefined;
  }
  const build: BuildSpec = { context: real, contextPath: toRepoPath(context.checkout.realRoot, real), contextDigest: digest, dockerfile, args: args.map };
  if (long.target !== undefined) build.target = long.target;
  return build;
}

/**
 * `capstan/<app>-<service>:<24 hex>`. Keyed like the config hash: the tag is visible to anyone
 * who lists images, and the arguments it covers may be secrets.
 */
export function buildImageTag(app: string, service: string, build: BuildSpec, hashKey: Uint8Array): string {
  const input = canonicalJson({ context: build.contextDigest, dockerfile: build.dockerfile, args: build.args, target: build.target });
  return `capstan/${app}-${service}:${createHmac('sha256', hashKey).update(input).digest('hex').slice(0, 24)}`;
}
