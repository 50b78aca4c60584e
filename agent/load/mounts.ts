// Service mounts, Compose syntax → what each one refers to. Pure: resolving repository paths
// and checking declared volumes happen in normalize.ts.
//   short: `SOURCE:TARGET[:ro|rw]`; SOURCE `/x` is a host path, `./x`, `../x` or `a/b` a path
//          relative to the manifest's folder, a bare word a named volume (as in Compose).
//   long:  {type: volume|bind, source, target, read_only}
//   anonymous: `/TARGET` alone, or {type: volume, target} without source: a volume per replica
import type { MountManifest } from './schema.js';

export type MountEntry =
  | { kind: 'volume'; volume: string; target: string; readOnly: boolean }
  | { kind: 'anonymous'; target: string; readOnly: boolean }
  | { kind: 'host-bind'; source: string; target: string; readOnly: boolean }
  | { kind: 'repo-bind'; relativeSource: string; target: string; readOnly: boolean };

export type MountResult = { mount: MountEntry } | { error: string };

const HOME_HINT = "'~' is not expanded: use an absolute host path";

export function parseMount(entry: MountManifest): MountResult {
  if (typeof entry === 'object') {
    const readOnly = entry.read_only ?? false;
    if (entry.type === 'volume') {
      if (entry.source === undefined) return { mount: { kind: 'anonymous', target: entry.target, readOnly } };
      if (entry.source.includes('/')) return { error: "a volume source is a volume name; for a path use type: bind" };
      return { mount: { kind: 'volume', volume: entry.source, target: entry.target, readOnly } };
    }
    if (entry.source === undefined) return { error: 'a bind mount needs a source; a mount without one is an anonymous volume: type: volume' };
    return bindEntry(entry.source, entry.target, readOnly);
  }
  const parts = entry.split(':');
  if (parts.length === 1) {
    if (!entry.startsWith('/')) return { error: "a mount is SOURCE:TARGET, or an absolute container path alone for an anonymous volume (/app/node_modules)" };
    return { mount: { kind: 'anonymous', target: entry, readOnly: false } };
  }
  if (parts.length > 3) return { error: "too many ':'; write SOURCE:TARGET or SOURCE:TARGET:ro" };
  const [source, target, mode = 'rw'] = parts;
  if (source === '') return { error: 'the source before the first \':\' is empty' };
  if (!target.startsWith('/')) return { error: "the target must be an absolute path inside the container (starting with '/')" };
  if (mode !== 'ro' && mode !== 'rw') return { error: 'the mount mode must be ro or rw' };
  const readOnly = mode === 'ro';
  const isPath = source.startsWith('/') || source.startsWith('.') || source.startsWith('~') || source.includes('/');
  if (!isPath) return { mount: { kind: 'volume', volume: source, target, readOnly } };
  return bindEntry(source, target, readOnly);
}

function bindEntry(source: string, target: string, readOnly: boolean): MountResult {
  if (source.startsWith('~')) return { error: HOME_HINT };
  if (source.startsWith('/')) return { mount: { kind: 'host-bind', source, target, readOnly } };
  return { mount: { kind: 'repo-bind', relativeSource: source, target, readOnly } };
}
