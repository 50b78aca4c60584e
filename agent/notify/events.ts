import type { Clock } from '../clock.js';

export const EVENT_KINDS = ['deployed', 'rollback', 'quarantined', 'repeated-failure', 'commit-refused', 'volume-failed', 'job-failed', 'operator', 'image-update-available', 'deferred', 'deferral-lifted'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * What an operator is told. `message` comes from CapstanError messages, which never contain
 * secret values by design; `redactEvent` is the second line of defence.
 */
export interface NotificationEvent {
  kind: EventKind;
  node: string;
  commit: string | null;
  app?: string;
  service?: string;
  /** Stable reason code, e.g. `HEALTHCHECK_FAILED`, `MANIFEST_INVALID`. */
  reason?: string;
  message: string;
  /** ISO 8601. */
  at: string;
}

export function isEventKind(value: string): value is EventKind {
  return (EVENT_KINDS as readonly string[]).includes(value);
}

/** Stamps `at` from the injected clock, so callers never read the wall clock themselves. */
export function newEvent(clock: Clock, fields: Omit<NotificationEvent, 'at'>): NotificationEvent {
  return { ...fields, at: new Date(clock.now()).toISOString() };
}

export const REDACTED = '[redacted]';

/**
 * Replaces every occurrence of each known secret value. Values shorter than 4 characters are
 * skipped: they would blank ordinary words ("on", "app") and guard nothing a person could use.
 * Longest first, so a secret that contains another is removed whole.
 */
export function redact(text: string, secrets: readonly string[]): string {
  const candidates = [...new Set(secrets)].filter((secret) => secret.length >= 4).sort((a, b) => b.length - a.length);
  let result = text;
  for (const secret of candidates) result = result.split(secret).join(REDACTED);
  return result;
}

export function redactEvent(event: NotificationEvent, secrets: readonly string[]): NotificationEvent {
  if (secrets.length === 0) return event;
  const scrub = (value: string | undefined) => (value === undefined ? undefined : redact(value, secrets));
  return {
    ...event,
    node: redact(event.node, secrets),
    commit: event.commit === null ? null : redact(event.commit, secrets),
    app: scrub(event.app),
    service: scrub(event.service),
    reason: scrub(event.reason),
    message: redact(event.message, secrets),
  };
}
