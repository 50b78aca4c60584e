import type Docker from 'dockerode';
import type { Logger } from '../../log.js';
import type { DesiredState } from '../../model.js';
import type { StateStore } from '../../state/store.js';

/**
 * After a successful cycle, removes images that are neither the current nor the rollback
 * image of any service. Only images this node pulled itself are candidates: an image built or
 * loaded by hand, or used by anything else, is never removed (and Docker refuses to remove an
 * image a container uses; that is not an error here).
 */
export async function collectImages(
  deps: { docker: Docker; store: StateStore; node: string; logger: Logger },
  desired: DesiredState,
): Promise<string[]> {
  const { docker, store, node, logger } = deps;
  store.touchServiceImages(
    node,
    desired.apps.flatMap((app) => app.services.map((service) => ({ app: app.name, service: service.name, image: service.image }))),
  );

  // Per service, the two most recently used images: the current one and the one to roll back to.
  const keep = new Set<string>();
  const seen = new Map<string, number>();
  for (const row of store.serviceImages(node)) {
    const key = `${row.app}/${row.service}`;
    const count = seen.get(key) ?? 0;
    if (count < 2) keep.add(row.image);
    seen.set(key, count + 1);
  }
  const removed: string[] = [];
  for (const image of store.pulledImages(node)) {
    if (keep.has(image)) continue;
    try {
      await docker.getImage(image).remove();
      removed.push(image);
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status !== 404) {
        // 409: still used by a container (maybe not ours); try again after a later rollout.
        logger.debug({ image, status }, 'old image not removed');
        continue;
      }
    }
    store.forgetPulledImage(node, image);
    store.forgetServiceImage(node, image);
  }
  if (removed.length > 0) logger.info({ images: removed }, 'removed old images');
  return removed;
}
