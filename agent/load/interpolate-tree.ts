// Interpolates every string value (never a key) of a parsed manifest. A few fields are numbers or
// booleans in the schema; when their value came from a placeholder (`replicas: ${REPLICAS}`) the
// resulting string is cast back, as compose-go's interpolation type-cast table does.
import { interpolate, type Lookup } from './interpolate.js';
import { type KeyPath, type PathProblem } from './problems.js';

type Cast = (text: string) => unknown;

const toInteger: Cast = (text) => (/^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text);
const toBoolean: Cast = (text) => (text === 'true' ? true : text === 'false' ? false : text);

/** Path patterns (`*` matches any key or index) of non-string fields, and their cast. */
const CASTS: { pattern: string[]; cast: Cast }[] = [
  { pattern: ['services', '*', 'replicas'], cast: toInteger },
  { pattern: ['services', '*', 'ports', '*', 'target'], cast: toInteger },
  { pattern: ['services', '*', 'ports', '*', 'published'], cast: toInteger },
  { pattern: ['services', '*', 'volumes', '*', 'read_only'], cast: toBoolean },
];

function castFor(path: KeyPath): Cast | undefined {
  return CASTS.find(({ pattern }) => pattern.length === path.length && pattern.every((part, index) => part === '*' || part === path[index]))?.cast;
}

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
      if (!value.includes('$')) return value;
      let usedOpaque = false;
      const tracked: Lookup = (name) => {
        if (isOpaque(name)) usedOpaque = true;
        return lookup(name);
      };
      const result = interpolate(value, tracked);
      if (usedOpaque) opaquePaths.push(path);
      for (const issue of result.issues) problems.push({ code: issue.code, path, message: issue.message });
      return castFor(path)?.(result.value) ?? result.value;
    }
    if (Array.isArray(value)) return value.map((item, index) => visit(item, [...path, index]));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, visit(item, [...path, key])]));
    }
    return value;
  };
  return { data: visit(data, []), problems, opaquePaths };
}
