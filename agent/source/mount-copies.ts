import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CapstanError } from '../errors.js';
import type { MountSpec } from '../model.js';

type Fs = typeof import('node:fs');

/**
 * Repository files a container bind-mounts come from a copy of its own, never from the checkout
 * the agent loads: a container may write into what it mounts (read-write is Compose's default),
 * and what it writes must never become the commit's manifests, nor reach another container.
 *
 * `<stateDir>/mounts/<commit>/<container>-<random>/repo/<path>`: one folder per container
 * created, copied from the verified checkout right before the create (a clone where the file
 * system shares extents, never a hard link). Pruned with the commit's checkout, which is kept as
 * long as a container of that commit runs (reconcile.ts `inUseCommits`).
 */
export interface MountCopies {
  /** `mounts` with each repository bind's source replaced by a fresh copy for `container`. */
  prepare(input: { commit: string; container: string; mounts: MountSpec[] }): Promise<MountSpec[]>;
}

export function mountsRoot(stateDir: string): string {
  return path.join(path.resolve(stateDir), 'mounts');
}

export function createMountCopies(deps: { fs: Fs; stateDir: string }): MountCopies {
  const { fs } = deps;
  const checkoutsRoot = path.join(path.resolve(deps.stateDir), 'checkouts');
  return {
    async prepare({ commit, container, mounts }) {
      if (!mounts.some((mount) => mount.type === 'bind' && mount.repo)) return mounts;
      const base = path.join(mountsRoot(deps.stateDir), commit, `${container}-${randomBytes(6).toString('hex')}`, 'repo');
      const prepared: MountSpec[] = [];
      for (const mount of mounts) {
        if (mount.type !== 'bind' || !mount.repo) {
          prepared.push(mount);
          continue;
        }
        const real = await fs.promises.realpath(mount.source);
        const checkout = await fs.promises.realpath(path.join(checkoutsRoot, commit));
        if (real !== checkout && !real.startsWith(checkout + path.sep)) {
          throw new CapstanError('MOUNT_SOURCE_OUTSIDE_CHECKOUT', 'terminal',
            `repository mount ${mount.repo.path} of ${container} resolves outside the checkout of ${commit}`, { container, path: mount.repo.path });
        }
        const copy = path.join(base, mount.repo.path);
        // Two mounts of one container may name the same path, or one inside another: copied once.
        if (!(await fs.promises.lstat(copy).then(() => true, () => false))) {
          await fs.promises.mkdir(path.dirname(copy), { recursive: true });
          // Links inside are copied as links: in the container they resolve as they did when the
          // checkout itself was mounted (escaping ones were never written into the checkout).
          await fs.promises.cp(real, copy, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false, mode: fs.constants.COPYFILE_FICLONE });
        }
        prepared.push({ ...mount, source: copy });
      }
      return prepared;
    },
  };
}
