// Problems found inside one manifest are first recorded against a key path in the loaded data
// (`['services', 'web', 'ports', 0]`); the file's loader turns the path into a line and column.
// Messages may quote keys, app/service/volume names and port numbers, which end up in Docker
// object names and labels anyway, but never any other value: it may have come from a secret
// through `${VAR}`.

export type KeyPath = (string | number)[];

export interface PathProblem {
  code: string;
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (unknown keys, bad names). */
  atKey?: boolean;
  /** Host-policy refusals: the policy-file settings that would lift it (policy/check.ts). */
  grant?: Record<string, unknown>;
  /** An unset `${VAR}` without default nor `?`: the variable (Compose makes it empty; allow_unset_variables). */
  unsetVariable?: string;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `['services', 'web', 'ports', 0]` → `services.web.ports[0]`; odd keys are quoted: `labels["a.b"]`. */
export function formatKeyPath(path: KeyPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) text += text === '' ? segment : `.${segment}`;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}

export function startsWith(path: KeyPath, prefix: KeyPath): boolean {
  return prefix.length <= path.length && prefix.every((segment, index) => segment === path[index]);
}
