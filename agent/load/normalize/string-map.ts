// `environment` and `labels` accept a map or a list of `KEY=VALUE`, as in Compose; both become
// a plain string map. Values are never quoted in problems: they may come from secrets.
import type { KeyPath, PathProblem } from '../problems.js';

type ScalarValue = string | number | boolean | null;
export type MapOrList = Record<string, ScalarValue> | string[];

export function scalarToString(value: ScalarValue): string {
  return value === null ? '' : String(value);
}

/** `reservedPrefix`: keys starting with it (any case) are refused, e.g. `capstan.` for labels. */
export function toStringMap(value: MapOrList | undefined, path: KeyPath, options: { what: string; reservedPrefix?: string }): { map: Record<string, string>; problems: PathProblem[] } {
  const map: Record<string, string> = {};
  const problems: PathProblem[] = [];
  const reserved = (key: string): boolean => options.reservedPrefix !== undefined && key.toLowerCase().startsWith(options.reservedPrefix);
  const reservedMessage = `keys starting with '${options.reservedPrefix}' are reserved for Capstan's own ${options.what}s; rename the key`;
  if (value === undefined) return { map, problems };
  if (!Array.isArray(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (reserved(key)) problems.push({ code: 'RESERVED_KEY', path: [...path, key], message: reservedMessage, atKey: true });
      else map[key] = scalarToString(item);
    }
    return { map, problems };
  }
  const firstIndex = new Map<string, number>();
  value.forEach((item, index) => {
    const equals = item.indexOf('=');
    const key = equals < 0 ? item : item.slice(0, equals);
    const itemPath = [...path, index];
    if (key === '') {
      problems.push({ code: 'SCHEMA', path: itemPath, message: `a ${options.what} needs a name before '=': write KEY=VALUE` });
    } else if (reserved(key)) {
      problems.push({ code: 'RESERVED_KEY', path: itemPath, message: reservedMessage });
    } else if (firstIndex.has(key)) {
      problems.push({ code: 'DUPLICATE_KEY', path: itemPath, message: `this ${options.what} is already set by item ${firstIndex.get(key)}; keep one` });
    } else {
      firstIndex.set(key, index);
      map[key] = equals < 0 ? '' : item.slice(equals + 1);
    }
  });
  return { map, problems };
}
