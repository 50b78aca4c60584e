// A service's `post_start` / `pre_stop` (../schema/lifecycle.ts) → the model's LifecycleHooks:
// the command split as `command` is, the environment as a string map. Only what the manifest
// sets is present, so services without hooks keep the config hash they had before hooks existed.
import type { LifecycleHook, Service } from '../../model.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { ServiceManifest } from '../schema/schema.js';
import { shellSplit } from './shell-split.js';
import { toStringMap } from './string-map.js';

type HookManifest = NonNullable<ServiceManifest['post_start']>[number];

export function normalizeLifecycle(spec: ServiceManifest, path: KeyPath, problems: PathProblem[]): Pick<Service, 'postStart' | 'preStop'> {
  const fields: Pick<Service, 'postStart' | 'preStop'> = {};
  if (spec.post_start !== undefined) fields.postStart = hooks(spec.post_start, [...path, 'post_start'], problems);
  if (spec.pre_stop !== undefined) fields.preStop = hooks(spec.pre_stop, [...path, 'pre_stop'], problems);
  return fields;
}

function hooks(list: HookManifest[], path: KeyPath, problems: PathProblem[]): LifecycleHook[] {
  return list.flatMap((spec, index) => {
    const at: KeyPath = [...path, index];
    const environment = spec.environment === undefined ? undefined : toStringMap(spec.environment, [...at, 'environment'], { what: 'variable' });
    problems.push(...(environment?.problems ?? []));
    const split = typeof spec.command === 'string' ? shellSplit(spec.command) : { words: spec.command };
    if ('error' in split) {
      problems.push({ code: 'COMMAND_INVALID', path: [...at, 'command'], message: split.error });
      return [];
    }
    if (split.words.length === 0 || split.words[0] === '') {
      problems.push({ code: 'COMMAND_INVALID', path: [...at, 'command'], message: 'the command is empty; give the program to run' });
      return [];
    }
    const hook: LifecycleHook = { command: split.words };
    if (spec.user !== undefined) hook.user = spec.user;
    if (spec.privileged !== undefined) hook.privileged = spec.privileged;
    if (spec.working_dir !== undefined) hook.workingDir = spec.working_dir;
    if (environment !== undefined) hook.environment = environment.map;
    return [hook];
  });
}
