// The targets Capstan can converge to, by the name `--target` / CAPSTAN_TARGET gives. Adding a
// target is a folder beside containers/ and swarm/ with the same stage files, and one entry here
// (docs/design.md, "Adding a target"). Only what commands that never converge need is loaded
// with this file (names, help, status rows): a target's stages are imported when one is created,
// so `capstan status` and `history` start without them (test/unit/run-footprint.test.ts).
import { containerStatusRows } from './containers/status.js';
import { swarmStatusRows } from './swarm/status.js';
import type { TargetRegistration } from './target.js';

const REGISTRATIONS = {
  containers: {
    description: "this engine's containers",
    create: async (context) => (await import('./containers/index.js')).createContainerTarget(context),
    status: containerStatusRows,
    fleetShare: true,
    volumeStorage: true,
  },
  swarm: {
    description: 'Swarm services (on a manager)',
    create: async (context) => (await import('./swarm/index.js')).createSwarmTarget(context),
    status: swarmStatusRows,
    // Swarm places services itself: no fleet share.
    fleetShare: false,
    // Swarm moves tasks between nodes itself: `snapshot:` is refused there (swarm/support.ts).
    volumeStorage: false,
    logsElsewhere: 'for Swarm services use `docker service logs`',
  },
} satisfies Record<string, TargetRegistration>;

export type TargetName = keyof typeof REGISTRATIONS;

export const TARGETS: Record<TargetName, TargetRegistration> = REGISTRATIONS;

export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

export function isTargetName(name: string): name is TargetName {
  return Object.hasOwn(TARGETS, name);
}
