// `extends` within one Compose file: a service starts from another service's definition and
// overrides it by Compose's merge rules (merge.ts). Chains are followed, cycles are errors, and
// `file:` (a service of another file) is refused: one folder, one file, one app.
import { problem, refuse, type ConvertContext } from './context.js';
import { text, type Located, type LocatedMap, type MapEntry } from './located.js';
import { mergeService } from './merge.js';

/** Longer `extends` chains than this are a mistake, not a design. */
const MAX_DEPTH = 32;

export function resolveExtends(context: ConvertContext, services: LocatedMap): LocatedMap {
  const resolved = new Map<string, MapEntry>();
  const visiting = new Set<string>();

  const resolve = (name: string, depth: number): Located | undefined => {
    const written = services.entries.get(name);
    if (!written) return undefined;
    const done = resolved.get(name);
    if (done) return done.value;
    const service = written.value;
    const extendsEntry = service.kind === 'map' ? service.entries.get('extends') : undefined;
    if (service.kind !== 'map' || !extendsEntry) {
      resolved.set(name, written);
      return service;
    }
    const own: LocatedMap = { ...service, entries: new Map([...service.entries].filter(([key]) => key !== 'extends')) };
    const base = baseName(context, extendsEntry);
    let result: Located = own;
    if (base !== undefined) {
      if (visiting.has(name) || depth > MAX_DEPTH) {
        problem(context, extendsEntry.keyAt, 'COMPOSE_EXTENDS_CYCLE', `extends forms a cycle through '${name}'`);
      } else if (!services.entries.has(base)) {
        problem(context, extendsEntry.value.at, 'COMPOSE_EXTENDS_UNKNOWN', `there is no service '${base}' in this file to extend`);
      } else {
        visiting.add(name);
        const baseService = resolve(base, depth + 1);
        visiting.delete(name);
        if (baseService) result = mergeService(baseService, own);
      }
    }
    resolved.set(name, { keyAt: written.keyAt, value: result });
    return result;
  };

  for (const name of services.entries.keys()) resolve(name, 0);
  return { ...services, entries: new Map([...services.entries.keys()].map((name) => [name, resolved.get(name)!])) };
}

function baseName(context: ConvertContext, extendsEntry: MapEntry): string | undefined {
  const value = extendsEntry.value;
  if (value.kind === 'scalar') return text(value);
  if (value.kind !== 'map') {
    problem(context, value.at, 'COMPOSE_INVALID', 'extends is a service name or {service: name}');
    return undefined;
  }
  const file = value.entries.get('file');
  if (file) {
    refuse(context, file.keyAt, 'extends from another file; copy the service here, or use a YAML anchor');
    return undefined;
  }
  for (const [key, option] of value.entries) {
    if (key !== 'service') problem(context, option.keyAt, 'COMPOSE_UNKNOWN_KEY', `'${key}' is not a Compose key here`);
  }
  return text(value.entries.get('service')?.value);
}
