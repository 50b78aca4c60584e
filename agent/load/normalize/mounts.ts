// Service mounts, Compose syntax → what each one refers to. Pure: resolving repository paths
// and checking declared volumes happen in normalize.ts.
//   short: `SOURCE:TARGET[:OPTIONS]`; SOURCE `/x` is a host path, `~/x` one in the agent user's
//          home, `./x`, `../x` or `a/b` a path relative to the manifest's folder, a bare word a
//          named volume (as in Compose). OPTIONS, comma-separated: `ro` or `rw`, `z` or `Z`
//          (SELinux relabelling of a bind source), `nocopy` (a volume is not seeded from the image).
//   long:  {type: volume|bind, source, target, read_only, bind: {selinux}, volume: {nocopy}}
//   anonymous: `/TARGET` alone, or {type: volume, target} without source: a volume per replica
import type { MountManifest } from '../schema/schema.js';

/** What Docker's bind option `z` / `Z` asks: relabel the source shared, or private to the container. */
export type SelinuxLabel = 'z' | 'Z';

export type MountEntry =
  | { kind: 'volume'; volume: string; target: string; readOnly: boolean; noCopy?: true; selinux?: SelinuxLabel }
  | { kind: 'anonymous'; target: string; readOnly: boolean }
  | { kind: 'host-bind'; source: string; target: string; readOnly: boolean; selinux?: SelinuxLabel }
  | { kind: 'repo-bind'; relativeSource: string; target: string; readOnly: boolean; selinux?: SelinuxLabel };

export type MountResult = { mount: MountEntry } | { error: string };

const HOME_HINT = "'~user' is not expanded: write '~/…' for the agent user's home, or an absolute host path";
/** `cached`, `delegated` and `consistent` tune Docker Desktop's file sharing; Linux ignores them, as here. */
const OPTIONS = new Set(['ro', 'rw', 'z', 'Z', 'nocopy', 'cached', 'delegated', 'consistent']);

export function parseMount(entry: MountManifest): MountResult {
  if (typeof entry === 'object') {
    const readOnly = entry.read_only ?? false;
    if (entry.type === 'volume') {
      if (entry.source === undefined) return { mount: { kind: 'anonymous', target: entry.target, readOnly } };
      if (entry.source.includes('/')) return { error: "a volume source is a volume name; for a path use type: bind" };
      if (entry.bind) return { error: 'bind options are for type: bind' };
      return withOptions({ kind: 'volume', volume: entry.source, target: entry.target, readOnly }, entry.volume?.nocopy ? ['nocopy'] : []);
    }
    if (entry.volume) return { error: 'volume options are for type: volume' };
    if (entry.source === undefined) return { error: 'a bind mount needs a source; a mount without one is an anonymous volume: type: volume' };
    const bind = bindEntry(entry.source, entry.target, readOnly);
    return 'error' in bind ? bind : withOptions(bind.mount, entry.bind?.selinux ? [entry.bind.selinux] : []);
  }
  const parts = entry.split(':');
  if (parts.length === 1) {
    if (!entry.startsWith('/')) return { error: "a mount is SOURCE:TARGET, or an absolute container path alone for an anonymous volume (/app/node_modules)" };
    return { mount: { kind: 'anonymous', target: entry, readOnly: false } };
  }
  if (parts.length > 3) return { error: "too many ':'; write SOURCE:TARGET or SOURCE:TARGET:ro" };
  const [source, target, written = 'rw'] = parts;
  if (source === '') return { error: 'the source before the first \':\' is empty' };
  if (!target.startsWith('/')) return { error: "the target must be an absolute path inside the container (starting with '/')" };
  const options = written.split(',');
  const unknown = options.find((option) => !OPTIONS.has(option));
  // Not quoted: it may have come from a secret through ${VAR}.
  if (unknown !== undefined) return { error: 'unknown mount option; use ro or rw, z or Z (bind mounts), nocopy (volumes), cached or delegated' };
  if (options.includes('ro') && options.includes('rw')) return { error: 'a mount is ro or rw, not both' };
  const readOnly = options.includes('ro');
  const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~') || source.includes('/');
  if (!isPath) return withOptions({ kind: 'volume', volume: source, target, readOnly }, options);
  const bind = bindEntry(source, target, readOnly);
  return 'error' in bind ? bind : withOptions(bind.mount, options);
}

function withOptions(mount: MountEntry, options: string[]): MountResult {
  const selinux = options.filter((option): option is SelinuxLabel => option === 'z' || option === 'Z');
  if (selinux.length > 1) return { error: 'a bind mount is relabelled z or Z, not both' };
  if (mount.kind === 'volume') {
    const volume = options.includes('nocopy') ? { ...mount, noCopy: true as const } : mount;
    return { mount: selinux.length > 0 ? { ...volume, selinux: selinux[0] } : volume };
  }
  if (options.includes('nocopy')) return { error: 'nocopy is for volumes: a bind mount copies nothing' };
  if (mount.kind === 'anonymous') return selinux.length > 0 ? { error: 'z and Z relabel a bind source; an anonymous volume needs no relabelling' } : { mount };
  return { mount: selinux.length > 0 ? { ...mount, selinux: selinux[0] } : mount };
}

/** `~/x` is under the agent user's home, resolved when the manifest is loaded (normalize.ts). */
function bindEntry(source: string, target: string, readOnly: boolean): MountResult {
  if (source.startsWith('~') && source !== '~' && !source.startsWith('~/')) return { error: HOME_HINT };
  if (source.startsWith('/') || source.startsWith('~')) return { mount: { kind: 'host-bind', source, target, readOnly } };
  return { mount: { kind: 'repo-bind', relativeSource: source, target, readOnly } };
}
