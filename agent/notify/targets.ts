import { createHash } from 'node:crypto';
import type { EventKind } from './events.js';

interface TargetBase {
  url: string;
  /** Only these kinds are sent to the target; all kinds when absent. */
  events?: EventKind[];
}

/** A generic JSON webhook; `secret` is the HMAC-SHA256 key, read from an env var or a file. */
export interface WebhookTarget extends TargetBase {
  kind: 'webhook';
  secret?: string;
}

/** ntfy (ntfy.sh or self-hosted): the URL names the topic, e.g. `https://ntfy.sh/capstan`. */
export interface NtfyTarget extends TargetBase {
  kind: 'ntfy';
  token?: string;
  /** 1 (min) … 5 (max); when absent, failures go out as 4 (high) and deployments as 3. */
  priority?: number;
}

export interface SlackTarget extends TargetBase {
  kind: 'slack';
}

export interface DiscordTarget extends TargetBase {
  kind: 'discord';
}

export type NotifyTarget = WebhookTarget | NtfyTarget | SlackTarget | DiscordTarget;
export type TargetKind = NotifyTarget['kind'];
export const TARGET_KINDS: readonly TargetKind[] = ['webhook', 'ntfy', 'slack', 'discord'];

/**
 * Names a target in the queue and in logs without its URL: Slack and Discord webhook URLs are
 * credentials, and an ntfy topic is often one. The hash keeps two targets on one host apart and
 * stays the same across restarts, so queued rows find their target again.
 * Example: `slack:hooks.slack.com#3f9a1c2b`.
 */
export function targetKey(target: NotifyTarget): string {
  const digest = createHash('sha256').update(`${target.kind}+${target.url}`).digest('hex').slice(0, 8);
  return `${target.kind}:${new URL(target.url).host}#${digest}`;
}

export function wantsEvent(target: NotifyTarget, kind: EventKind): boolean {
  return target.events === undefined || target.events.includes(kind);
}
