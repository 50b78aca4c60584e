import type { DesiredState } from '../model.js';
import { EVERYTHING, type CommandArgs, type OperatorCommandName, type Suspension } from './store.js';

// The pure decisions of operator control (agent/control/): what a cycle converges while apps
// are suspended, who ran a command, what its notification says.

/** Whether `capstan suspend` without apps is in force: no cycle runs at all. */
export function everythingSuspended(suspensions: readonly Suspension[]): Suspension | undefined {
  return suspensions.find((row) => row.app === EVERYTHING);
}

/** The apps suspended one by one. */
export function suspendedApps(suspensions: readonly Suspension[]): string[] {
  return suspensions.filter((row) => row.app !== EVERYTHING).map((row) => row.app);
}

/**
 * The desired state a cycle converges while `suspended` apps are left alone: without them, and
 * naming them so the target does not look at (repair, prune) what of theirs runs. An app
 * suspended that the commit no longer has is named too: it is not pruned either.
 */
export function withoutSuspended(desired: DesiredState, suspended: readonly string[]): DesiredState {
  if (suspended.length === 0) return desired;
  const names = new Set(suspended);
  return { ...desired, apps: desired.apps.filter((app) => !names.has(app.name)), suspendedApps: [...names].sort() };
}

/** Items of a target's observation that belong to apps it must not touch, left out of planning. */
export function notSuspended<Item extends { app: string }>(items: readonly Item[], suspended: ReadonlySet<string>): Item[] {
  return suspended.size === 0 ? [...items] : items.filter((item) => !suspended.has(item.app));
}

/**
 * Who ran a command: the local user, and the one behind `sudo` when there is one
 * (`root (sudo from alice)`), as Flux records the user of `flux suspend` in an annotation.
 */
export function localUser(username: string, env: Record<string, string | undefined>): string {
  const behind = env.SUDO_USER;
  return behind && behind !== username ? `${username} (sudo from ${behind})` : username;
}

/** One line for history and notifications: `suspend shop, web: maintenance`. */
export function describeCommand(command: OperatorCommandName, args: CommandArgs): string {
  // `volume-restore` is typed `capstan volumes restore`.
  const parts: string[] = [command.startsWith('volume-') ? `volumes ${command.slice('volume-'.length)}` : command];
  if (args.volume) parts.push(args.volume);
  if (args.snapshot) parts.push(`--snapshot ${args.snapshot.slice(0, 12)}`);
  if (args.commit) parts.push(args.commit.slice(0, 12));
  if (args.apps) parts.push(args.apps.length > 0 ? args.apps.join(', ') : 'everything');
  if (args.force) parts.push('--force');
  if (args.image) parts.push(`--image ${args.image}`);
  return parts.join(' ') + (args.reason ? `: ${args.reason}` : '');
}

/** `capstan pin`/`retry` take a commit id or a prefix of 4 to 40 hex digits. */
export function isCommitPrefix(text: string): boolean {
  return /^[0-9a-f]{4,40}$/i.test(text);
}

/**
 * The one full commit id among `candidates` that starts with `prefix`; `ambiguous` or
 * `unknown` otherwise.
 */
export function expandPrefix(prefix: string, candidates: Iterable<string>): string | 'ambiguous' | 'unknown' {
  const lower = prefix.toLowerCase();
  const matches = new Set([...candidates].filter((candidate) => candidate.startsWith(lower)));
  if (matches.size === 1) return [...matches][0];
  return matches.size === 0 ? 'unknown' : 'ambiguous';
}
