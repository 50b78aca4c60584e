// What Compose refuses in a file's key-value lists before anything is merged: `environment:
// "FOO=1"` (a string where a map or a list belongs, which would otherwise be dropped silently),
// and a name set twice in one list (`- FOO=1`, `- FOO=2`), where the last would win unseen.
// Checked file by file, so an override file's mistakes name the override file.
import type { ManifestProblem } from '../../errors.js';
import { text, type Located } from './located.js';

/** Service fields that are a map or a list of `KEY=VALUE`, by path below the service. */
const KEYED_LISTS: string[][] = [['environment'], ['labels'], ['build', 'args'], ['sysctls'], ['annotations']];

export function checkKeyedLists(tree: Located | undefined, problems: ManifestProblem[]): void {
  const services = tree?.kind === 'map' ? tree.entries.get('services')?.value : undefined;
  if (services?.kind !== 'map') return;
  for (const service of services.entries.values()) {
    for (const fieldPath of KEYED_LISTS) {
      let value: Located | undefined = service.value;
      for (const key of fieldPath) value = value?.kind === 'map' ? value.entries.get(key)?.value : undefined;
      if (value) checkList(value, fieldPath.join('.'), problems);
    }
  }
}

function checkList(value: Located, field: string, problems: ManifestProblem[]): void {
  const problem = (at: Located['at'], code: string, message: string) => problems.push({ code, file: at.file, line: at.line, column: at.column, key: at.key, message });
  if (value.kind === 'scalar') {
    // `environment:` left empty is an empty map, as in Compose.
    if (value.value !== null) problem(value.at, 'COMPOSE_INVALID', `${field} must be a map (KEY: value) or a list of KEY=VALUE items, not a single value`);
    return;
  }
  if (value.kind !== 'seq') return;
  const first = new Map<string, number>();
  value.items.forEach((item, index) => {
    const written = text(item);
    if (written === undefined) return;
    const name = written.split('=')[0];
    if (first.has(name)) problem(item.at, 'COMPOSE_DUPLICATE', `'${name}' is already set by item ${first.get(name)} of ${field}; keep one`);
    else first.set(name, index);
  });
}
