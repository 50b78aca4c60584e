// The app's `hooks:` (../schema/schema.ts `Hooks`) → the model's `HookJob`s: names given, the
// command split, the service each job takes its image and configuration from resolved and checked.
import type { HookJob, HookPhase } from '../../model.js';
import type { KeyPath, PathProblem } from '../problems.js';
import type { HookJobManifest, Manifest } from '../schema/schema.js';
import type { ServiceDraft } from './draft.js';
import { durationMs } from './rollout.js';
import { shellSplit } from './shell-split.js';
import { toStringMap } from './string-map.js';

/** Ten minutes: long enough for a migration, short enough that a hung one does not hold the agent for hours. */
const DEFAULT_TIMEOUT_MS = 600_000;
/** A day: a longer job belongs in a scheduled job, not in a rollout. */
const MAX_TIMEOUT_MS = 86_400_000;

export function normalizeHooks(
  hooks: NonNullable<Manifest['hooks']>,
  services: ServiceDraft[],
  problems: PathProblem[],
): { preDeploy: HookJob[]; postDeploy: HookJob[] } | undefined {
  const byName = new Map(services.map((service) => [service.name, service]));
  const seen = new Map<string, KeyPath>();
  const jobs = (phase: HookPhase, list: HookJobManifest[] | undefined): HookJob[] =>
    (list ?? []).flatMap((spec, index) => {
      const path: KeyPath = ['hooks', phase, index];
      const name = spec.name ?? `${phase}-${index + 1}`;
      if (seen.has(name)) {
        problems.push({ code: 'HOOK_NAME_DUPLICATE', path: [...path, 'name'], message: `another hook job of the app is named '${name}'; give each job its own name` });
        return [];
      }
      seen.set(name, path);
      const service = jobService(spec, services, path, problems);
      const command = typeof spec.command === 'string' ? shellSplit(spec.command) : { words: spec.command };
      if ('error' in command) {
        problems.push({ code: 'COMMAND_INVALID', path: [...path, 'command'], message: command.error });
        return [];
      }
      if (command.words.length === 0) {
        problems.push({ code: 'COMMAND_INVALID', path: [...path, 'command'], message: 'the command is empty; give the program to run' });
        return [];
      }
      const timeoutMs = spec.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationMs(spec.timeout);
      if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMEOUT_MS)) {
        problems.push({ code: 'HOOK_TIMEOUT', path: [...path, 'timeout'], message: `${spec.timeout} is not between 1ms and 24h` });
        return [];
      }
      const environment = toStringMap(spec.environment, [...path, 'environment'], { what: 'variable' });
      problems.push(...environment.problems);
      if (service === undefined) return [];
      const target = byName.get(service)!;
      if (target.networkMode?.kind === 'service') {
        problems.push({ code: 'HOOK_SERVICE', path: [...path, 'service'], message: `'${service}' is a sidecar (network_mode: service:…); run the job with its parent's service instead` });
        return [];
      }
      return [{ phase, name, service, command: command.words, timeoutMs, environment: environment.map }];
    });
  const preDeploy = jobs('pre_deploy', hooks.pre_deploy);
  const postDeploy = jobs('post_deploy', hooks.post_deploy);
  return preDeploy.length + postDeploy.length === 0 ? undefined : { preDeploy, postDeploy };
}

/** The job's `service`, or the app's only one; undefined (with a problem) otherwise. */
function jobService(spec: HookJobManifest, services: ServiceDraft[], path: KeyPath, problems: PathProblem[]): string | undefined {
  if (spec.service !== undefined) {
    if (services.some((service) => service.name === spec.service)) return spec.service;
    problems.push({ code: 'HOOK_SERVICE', path: [...path, 'service'], message: `there is no service '${spec.service}' in this app; name the one whose image and configuration the job runs with` });
    return undefined;
  }
  if (services.length === 1) return services[0].name;
  problems.push({
    code: 'HOOK_SERVICE',
    path,
    message: `the app has ${services.length} services; set service: to the one whose image and configuration the job runs with (${services.map((service) => service.name).join(', ')})`,
  });
  return undefined;
}
