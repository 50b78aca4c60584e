// Validates interpolated manifest data against the generated JSON Schema (compiled once) and turns
// ajv's errors into problems a person can act on: one per mistake, pointing at the key path.
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { KeyPath, PathProblem } from '../problems.js';
import { schemaValidator, SCHEMA_FILE } from '../../schema-file.js';
import {
  ABSOLUTE_PATH_PATTERN,
  BYTE_SIZE_PATTERN,
  CAPABILITY_PATTERN,
  DEVICE_PATTERN,
  DOCKER_VOLUME_PATTERN,
  FILE_MODE_PATTERN,
  GRANT_PATTERN,
  NAME_PATTERN,
  NETWORK_MODE_PATTERN,
  RUNTIME_PATTERN,
  SIGNAL_PATTERN,
} from './patterns.js';
import { closest } from '../suggest.js';

type SchemaNode = { type?: string; enum?: string[]; items?: SchemaNode; properties?: Record<string, unknown> };

const NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63 characters";

const PATTERN_RULES: Record<string, string> = {
  [NAME_PATTERN]: `must be a name: ${NAME_RULE}`,
  [DOCKER_VOLUME_PATTERN]: "must be a Docker volume name: letters, digits, '_', '.' and '-', starting with a letter or digit",
  [ABSOLUTE_PATH_PATTERN]: "must be an absolute path inside the container (starting with '/')",
  [FILE_MODE_PATTERN]: 'must be permission bits in octal, such as "0400" or "0440"',
  [GRANT_PATTERN]: 'must name an app (`db`) or one service of it (`db/postgres`)',
  [NETWORK_MODE_PATTERN]: 'must be host, none or service:<name of a service of this app>',
  [BYTE_SIZE_PATTERN]: 'must be a size such as 512m, 1g or 64k (or a number of bytes)',
  [CAPABILITY_PATTERN]: 'must be a capability name such as NET_ADMIN',
  [SIGNAL_PATTERN]: 'must be a signal name such as SIGTERM, or its number',
  [RUNTIME_PATTERN]: 'must be a Docker runtime name such as runc or runsc',
  '^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$': "must be a host name: letters, digits, '-', '_' and '.', starting with a letter or digit",
  [DEVICE_PATTERN]: 'must be HOST_DEVICE[:CONTAINER_DEVICE][:PERMISSIONS], such as /dev/ttyUSB0:/dev/ttyUSB0:rw, or a CDI device name such as nvidia.com/gpu=all',
  '^[0-9]{1,4}(\\.[0-9]{1,9})?$': 'must be a number of CPUs such as 0.5 or 2',
};

/** Messages for a map key that does not match the map's key pattern, by the map's own key. */
const KEY_RULES: Record<string, (key: string) => string> = {
  services: (key) => `invalid service name '${key}': use ${NAME_RULE}`,
  volumes: (key) => `invalid volume name '${key}': use ${NAME_RULE}`,
  environment: () => "a variable name cannot contain '='",
  labels: () => 'a label key cannot be empty',
  secrets: () => "a secret file's key is its absolute path inside the container (starting with '/')",
  depends_on: (key) => `invalid service name '${key}': use ${NAME_RULE}`,
  ulimits: (key) => `invalid ulimit name '${key}': use its lower-case name, such as nofile or nproc`,
};

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  // Verbose errors (VALIDATOR_OPTIONS): they carry the failing data and schema, to pick the anyOf branch that was meant.
  compiled ??= schemaValidator(SCHEMA_FILE);
  return compiled;
}

export function validateManifest(data: unknown): PathProblem[] {
  const validate = validator();
  if (validate(data)) return [];
  const problems = pruneAnyOf(validate.errors ?? []).map((error) => toProblem(error, data));
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const identity = JSON.stringify([problem.path, problem.message]);
    return seen.has(identity) ? false : (seen.add(identity), true);
  });
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function branchMatches(branch: SchemaNode, data: unknown): boolean {
  const actual = jsonType(data);
  if (branch.type === undefined || branch.type === actual) return true;
  return (branch.type === 'number' && actual === 'integer') || (branch.type === 'integer' && actual === 'number');
}

function within(error: ErrorObject, anyOf: ErrorObject): boolean {
  const instance = anyOf.instancePath;
  const sameData = error.instancePath === instance || error.instancePath.startsWith(instance + '/');
  return sameData && error.schemaPath.startsWith(anyOf.schemaPath + '/');
}

/**
 * An anyOf (`command: string | list`) fails with errors from every branch. When the data's type
 * picks exactly one branch (a map among string/integer/map ports), only that branch's errors
 * matter; otherwise the anyOf itself is the problem ("must be a string or a list of strings").
 */
function pruneAnyOf(errors: ErrorObject[]): ErrorObject[] {
  let remaining = errors;
  const anyOfs = errors.filter((error) => error.keyword === 'anyOf').sort((left, right) => left.schemaPath.length - right.schemaPath.length);
  for (const anyOf of anyOfs) {
    if (!remaining.includes(anyOf)) continue;
    const branches = anyOf.schema as SchemaNode[];
    const matching = branches.flatMap((branch, index) => (branchMatches(branch, anyOf.data) ? [index] : []));
    if (matching.length === 1) {
      const kept = `${anyOf.schemaPath}/${matching[0]}/`;
      remaining = remaining.filter((error) => error !== anyOf && (!within(error, anyOf) || error.schemaPath.startsWith(kept)));
    } else {
      remaining = remaining.filter((error) => !within(error, anyOf));
    }
  }
  return remaining;
}

function toPath(pointer: string, data: unknown): KeyPath {
  const path: KeyPath = [];
  let current: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const isIndex = Array.isArray(current) && /^\d+$/.test(segment);
    path.push(isIndex ? Number(segment) : segment);
    current = current !== null && typeof current === 'object' ? (current as Record<string, unknown>)[segment] : undefined;
  }
  return path;
}

function describeType(type: string | undefined, schema?: SchemaNode): string {
  switch (type) {
    case 'string':
      return schema?.enum ? `one of ${schema.enum.join(', ')}` : 'a string';
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'null':
      return 'empty';
    case 'array':
      return schema?.items?.type === 'string' ? 'a list of strings' : 'a list';
    case 'object':
      return 'a map';
    default:
      return 'a value';
  }
}

function joinAlternatives(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function toProblem(error: ErrorObject, data: unknown): PathProblem {
  const path = toPath(error.instancePath, data);
  const params = error.params as Record<string, unknown>;
  const actualType = jsonType(error.data);
  const actual = describeType(actualType === 'integer' ? 'number' : actualType);
  const schema = (code: string, message: string, at: KeyPath = path, atKey = false): PathProblem => ({ code, path: at, message, atKey });
  switch (error.keyword) {
    case 'type':
      return schema('SCHEMA', `must be ${describeType(String(params.type), error.parentSchema as SchemaNode)}, not ${actual}`);
    case 'anyOf': {
      const branches = (error.schema as SchemaNode[]).map((branch) => describeType(branch.type, branch));
      return schema('SCHEMA', `must be ${joinAlternatives(branches)}, not ${actual}`);
    }
    case 'required':
      return schema('SCHEMA', `missing required key '${String(params.missingProperty)}'`);
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema as SchemaNode).properties ?? {});
      if (known.length === 0) {
        const rule = KEY_RULES[String(path[path.length - 1])];
        return schema('SCHEMA', rule ? rule(key) : `invalid key '${key}'`, [...path, key], true);
      }
      const suggestion = closest(key, known);
      const hint = suggestion ? ` (did you mean '${suggestion}'?)` : ` (known keys: ${known.join(', ')})`;
      return schema('UNKNOWN_KEY', `unknown key '${key}'${hint}`, [...path, key], true);
    }
    case 'pattern':
      return schema('SCHEMA', PATTERN_RULES[String(params.pattern)] ?? `must match ${String(params.pattern)}`);
    case 'enum':
      return schema('SCHEMA', `must be one of ${(params.allowedValues as string[]).join(', ')}`);
    case 'minimum':
    case 'maximum':
      return schema('SCHEMA', `must be ${String(params.comparison)} ${String(params.limit)}`);
    case 'minLength':
      return schema('SCHEMA', params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters`);
    case 'minProperties':
      return schema('SCHEMA', path.length === 1 && path[0] === 'services' ? 'must define at least one service' : 'must not be empty');
    default:
      return schema('SCHEMA', error.message ?? 'is invalid');
  }
}
