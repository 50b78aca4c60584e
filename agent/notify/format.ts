import { createHmac } from 'node:crypto';
import type { EventKind, NotificationEvent } from './events.js';
import type { NotifyTarget } from './targets.js';

/** One HTTP POST, ready to send. */
export interface OutgoingRequest {
  headers: Record<string, string>;
  body: string;
}

export const SIGNATURE_HEADER = 'X-Capstan-Signature';

// Limits of the receivers: Discord rejects content over 2000 characters, ntfy turns bodies over
// 4096 bytes into attachments. Slack allows 40,000; 3,000 keeps a channel readable.
const DISCORD_MAX = 2000;
const NTFY_MAX_BYTES = 4096;
const SLACK_MAX = 3000;

const TITLES: Record<EventKind, string> = {
  deployed: 'deployed',
  rollback: 'rolled back',
  quarantined: 'quarantined a commit',
  'repeated-failure': 'keeps failing',
  'commit-refused': 'refused a commit',
  'volume-failed': 'volume snapshot, restore or hand-off failed',
  'job-failed': 'scheduled job failed',
  operator: 'was given a command by an operator',
  'image-update-available': 'found an image update for',
  deferred: 'deferred a change',
  'deferral-lifted': 'deployed a change that waited',
};

// ntfy shows tags that are emoji short codes as emoji.
const NTFY_TAGS: Record<EventKind, string> = {
  deployed: 'white_check_mark',
  rollback: 'rewind',
  quarantined: 'no_entry',
  'repeated-failure': 'warning',
  'commit-refused': 'lock',
  'volume-failed': 'floppy_disk',
  'job-failed': 'alarm_clock',
  operator: 'wrench',
  'image-update-available': 'package',
  deferred: 'hourglass',
  'deferral-lifted': 'fast_forward',
};

export function formatRequest(target: NotifyTarget, event: NotificationEvent, deliveryId: string): OutgoingRequest {
  switch (target.kind) {
    case 'webhook':
      return webhookRequest(event, deliveryId, target.secret);
    case 'ntfy':
      return ntfyRequest(event, target.priority, target.token);
    case 'slack':
      return jsonRequest({ text: truncate(`*${title(event)}*\n${details(event)}`, SLACK_MAX) });
    case 'discord':
      return jsonRequest({ content: truncate(`**${title(event)}**\n${details(event)}`, DISCORD_MAX) });
  }
}

/** The body receivers verify: a fixed set of keys, absent values as null. */
export function webhookBody(event: NotificationEvent): string {
  return JSON.stringify({
    event: event.kind,
    node: event.node,
    commit: event.commit,
    app: event.app ?? null,
    service: event.service ?? null,
    reason: event.reason ?? null,
    message: event.message,
    at: event.at,
  });
}

/** `sha256=<hex>` of the exact body bytes, as GitHub signs its webhooks. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

function webhookRequest(event: NotificationEvent, deliveryId: string, secret: string | undefined): OutgoingRequest {
  const body = webhookBody(event);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Capstan-Event': event.kind,
    'X-Capstan-Delivery': deliveryId,
  };
  if (secret !== undefined) headers[SIGNATURE_HEADER] = signBody(body, secret);
  return { headers, body };
}

function ntfyRequest(event: NotificationEvent, priority: number | undefined, token: string | undefined): OutgoingRequest {
  const urgent = event.kind !== 'deployed' && event.kind !== 'operator' && event.kind !== 'image-update-available';
  const headers: Record<string, string> = {
    'Content-Type': 'text/plain; charset=utf-8',
    Title: headerSafe(title(event)),
    Tags: `${NTFY_TAGS[event.kind]},capstan`,
    Priority: String(priority ?? (urgent ? 4 : 3)),
  };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  return { headers, body: truncateBytes(details(event), NTFY_MAX_BYTES) };
}

function jsonRequest(payload: Record<string, string>): OutgoingRequest {
  return { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) };
}

/** "Capstan on node-1 rolled back shop/web". */
function title(event: NotificationEvent): string {
  const subject = event.app === undefined ? '' : ` ${event.app}${event.service === undefined ? '' : `/${event.service}`}`;
  return `Capstan on ${event.node} ${TITLES[event.kind]}${subject}`;
}

function details(event: NotificationEvent): string {
  const facts = [
    event.commit === null ? undefined : `commit ${event.commit.slice(0, 12)}`,
    event.reason === undefined ? undefined : `reason ${event.reason}`,
    `at ${event.at}`,
  ].filter((fact) => fact !== undefined);
  return `${event.message}\n(${facts.join(', ')})`;
}

/** Header values must be Latin-1; names from manifests and host names are ASCII anyway. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function truncateBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cutting bytes may split a character; TextDecoder drops the broken tail as U+FFFD, removed here.
  const cut = new TextDecoder().decode(bytes.subarray(0, maxBytes - 3)).replace(/\uFFFD$/, '');
  return `${cut}…`;
}
