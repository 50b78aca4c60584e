// Compose's merge rules, for `compose.override.yaml` over `compose.yaml` and for a service over
// the one it `extends`: maps merge key by key, most lists append, and a few fields are identified
// by a key so that an override replaces an entry instead of adding a second one:
//   replaced whole        command, entrypoint, healthcheck.test, and any scalar
//   by variable / label   environment, labels, build.args, extra_hosts, sysctls (list or map form)
//   by container path     volumes, devices, tmpfs, secrets, configs (target)
//   by network / service  networks, depends_on (list or map form)
//   appended, once each   everything else that is a list (ports, cap_add, dns, profiles, …)
// `!reset` removes what is inherited, `!override` replaces it whole.
import { mapOf, text, type Located, type LocatedMap, type MapEntry } from './located.js';

const REPLACED = new Set(['command', 'entrypoint', 'healthcheck.test']);
const KEYED_MAPS = new Set(['environment', 'labels', 'build.args', 'extra_hosts', 'sysctls', 'annotations']);
const BY_TARGET = new Set(['volumes', 'devices', 'tmpfs', 'secrets', 'configs']);
const NAME_LISTS = new Set(['networks', 'depends_on']);

/** A service definition over another one (both maps); the result shares untouched nodes. */
export function mergeService(base: Located, override: Located): Located {
  return mergeAt(base, override, '');
}

/** Top-level Compose file over another: services by name, everything else as plain maps. */
export function mergeProject(base: Located, override: Located): Located {
  if (base.kind !== 'map' || override.kind !== 'map') return override;
  const entries = new Map(base.entries);
  for (const [key, entry] of override.entries) {
    const earlier = entries.get(key);
    if (entry.value.tag === 'reset') entries.delete(key);
    else if (!earlier || entry.value.tag === 'override') entries.set(key, entry);
    else if (key === 'services' && earlier.value.kind === 'map' && entry.value.kind === 'map') {
      const services = new Map(earlier.value.entries);
      for (const [name, service] of entry.value.entries) {
        const previous = services.get(name);
        if (service.value.tag === 'reset') services.delete(name);
        else services.set(name, previous && service.value.tag !== 'override' ? { keyAt: previous.keyAt, value: mergeService(previous.value, service.value) } : service);
      }
      entries.set(key, { keyAt: earlier.keyAt, value: { ...earlier.value, entries: services } });
    } else entries.set(key, { keyAt: earlier.keyAt, value: mergePlain(earlier.value, entry.value) });
  }
  return { ...base, entries };
}

function mergeAt(base: Located, override: Located, field: string): Located {
  if (override.tag === 'override' || REPLACED.has(field)) return override;
  if (KEYED_MAPS.has(field) && (base.kind !== 'scalar' || override.kind !== 'scalar')) return mergeKeyed(asKeyedMap(base), asKeyedMap(override));
  if (NAME_LISTS.has(field)) return mergeKeyed(asNameMap(base), asNameMap(override), (left, right) => mergePlain(left, right));
  if (BY_TARGET.has(field) && base.kind === 'seq' && override.kind === 'seq') return mergeByTarget(base, override, field);
  if (base.kind === 'map' && override.kind === 'map') {
    const entries = new Map(base.entries);
    for (const [key, entry] of override.entries) {
      const earlier = entries.get(key);
      if (entry.value.tag === 'reset') entries.delete(key);
      else if (!earlier) entries.set(key, entry);
      else entries.set(key, { keyAt: earlier.keyAt, value: mergeAt(earlier.value, entry.value, field === '' ? key : `${field}.${key}`) });
    }
    return { ...base, entries };
  }
  if (base.kind === 'seq' && override.kind === 'seq') return appendUnique(base, override);
  return override;
}

/** Maps merged recursively, anything else replaced: top-level volumes, networks, secrets, x- blocks. */
function mergePlain(base: Located, override: Located): Located {
  if (override.tag === 'override' || base.kind !== 'map' || override.kind !== 'map') return override;
  const entries = new Map(base.entries);
  for (const [key, entry] of override.entries) {
    const earlier = entries.get(key);
    if (entry.value.tag === 'reset') entries.delete(key);
    else entries.set(key, earlier ? { keyAt: earlier.keyAt, value: mergePlain(earlier.value, entry.value) } : entry);
  }
  return { ...base, entries };
}

function mergeKeyed(base: LocatedMap, override: LocatedMap, mergeValues?: (left: Located, right: Located) => Located): LocatedMap {
  const entries = new Map(base.entries);
  for (const [key, entry] of override.entries) {
    const earlier = entries.get(key);
    if (entry.value.tag === 'reset') entries.delete(key);
    else entries.set(key, earlier && mergeValues ? { keyAt: earlier.keyAt, value: mergeValues(earlier.value, entry.value) } : entry);
  }
  return { ...override, entries };
}

/** `[KEY=VALUE, KEY]` → {KEY: VALUE, KEY: null}, each entry keeping the list item's origin. */
export function asKeyedMap(located: Located): LocatedMap {
  if (located.kind === 'map') return located;
  if (located.kind === 'scalar') return mapOf([], located.at);
  const entries: [string, MapEntry][] = located.items.map((item) => {
    const itemText = text(item) ?? '';
    const equals = itemText.indexOf('=');
    const key = equals < 0 ? itemText : itemText.slice(0, equals);
    const value: Located = { kind: 'scalar', value: equals < 0 ? null : itemText.slice(equals + 1), at: item.at };
    return [key, { keyAt: item.at, value }];
  });
  return mapOf(entries, located.at);
}

/** `[db, cache]` → {db: null, cache: null}, for networks and depends_on. */
export function asNameMap(located: Located): LocatedMap {
  if (located.kind === 'map') return located;
  if (located.kind === 'scalar') return mapOf([], located.at);
  return mapOf(
    located.items.map((item): [string, MapEntry] => [text(item) ?? '', { keyAt: item.at, value: { kind: 'scalar', value: null, at: item.at } }]),
    located.at,
  );
}

function mergeByTarget(base: Located & { kind: 'seq' }, override: Located & { kind: 'seq' }, field: string): Located {
  const byTarget = new Map<string, Located>();
  for (const item of [...base.items, ...override.items]) byTarget.set(targetOf(item, field) ?? `#${byTarget.size}`, item);
  return { ...override, items: [...byTarget.values()] };
}

/** The container path (or secret name) an entry of volumes, devices, tmpfs, secrets or configs is for. */
function targetOf(item: Located, field: string): string | undefined {
  if (item.kind === 'map') return text(item.entries.get('target')?.value) ?? text(item.entries.get('source')?.value);
  const itemText = text(item);
  if (itemText === undefined) return undefined;
  // `/run:size=64m` (tmpfs) and `db_password` (secrets, configs) name their target first.
  const parts = itemText.split(':');
  return field === 'volumes' || field === 'devices' ? (parts[1] ?? parts[0]) : parts[0];
}

function appendUnique(base: Located & { kind: 'seq' }, override: Located & { kind: 'seq' }): Located {
  const seen = new Set(base.items.map((item) => JSON.stringify(plainKey(item))));
  const added = override.items.filter((item) => !seen.has(JSON.stringify(plainKey(item))));
  return { ...override, items: [...base.items, ...added] };
}

function plainKey(item: Located): unknown {
  if (item.kind === 'scalar') return item.value;
  if (item.kind === 'seq') return item.items.map(plainKey);
  return Object.fromEntries([...item.entries].map(([key, entry]) => [key, plainKey(entry.value)]));
}
