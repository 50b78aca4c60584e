// Interpolates every string value (never a key) of a parsed manifest. A string where the schema
// wants a number or a boolean (`replicas: ${REPLICAS}`, `read_only: "false"`) is cast after
// interpolation, as compose-go's interpolation type-cast table does (../schema/casts.ts).
import { interpolate, type Lookup } from './interpolate.js';
import { type KeyPath, type PathProblem } from '../problems.js';
import { castAt } from '../schema/casts.js';

export interface InterpolatedTree {
  data: unknown;
  problems: PathProblem[];
  /** Strings that used an opaque variable (a stand-in value): what they became is not checked. */
  opaquePaths: KeyPath[];
}

export function interpolateTree(data: unknown, lookup: Lookup, isOpaque: (name: string) => boolean = () => false): InterpolatedTree {
  const problems: PathProblem[] = [];
  const opaquePaths: KeyPath[] = [];
  const visit = (value: unknown, path: KeyPath): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('$')) return castAt(path)?.(value) ?? value;
      let usedOpaque = false;
      const tracked: Lookup = (name) => {
        if (isOpaque(name)) usedOpaque = true;
        return lookup(name);
      };
      const result = interpolate(value, tracked);
      if (usedOpaque) opaquePaths.push(path);
      for (const issue of result.issues) {
        const unset = issue.code === 'UNDEFINED_VARIABLE' && !issue.required && issue.variable !== undefined;
        problems.push({ code: issue.code, path, message: issue.message, ...(unset ? { unsetVariable: issue.variable } : {}) });
      }
      return castAt(path)?.(result.value) ?? result.value;
    }
    if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, visit(item, [...path, key])]));
    }
    return value;
  };
  return { data: visit(data, []), problems, opaquePaths };
}
