// The targets Capstan can converge to, by the name `--target` / CAPSTAN_TARGET gives. Adding a
// target is a folder beside containers/ and swarm/ with the same stage files, and one line here
// (docs/design.md, "Adding a target").
import { containersTarget } from './containers/index.js';
import { swarmTarget } from './swarm/index.js';
import type { TargetRegistration } from './target.js';

export const TARGETS = {
  containers: containersTarget,
  swarm: swarmTarget,
} satisfies Record<string, TargetRegistration>;

export type TargetName = keyof typeof TARGETS;

export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

export function isTargetName(name: string): name is TargetName {
  return Object.hasOwn(TARGETS, name);
}
