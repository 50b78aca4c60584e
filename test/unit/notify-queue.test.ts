// The SQLite queue's bounds: the oldest pending rows go when it is full, and rows for a target
// that is no longer configured are closed without a send.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import pino from 'pino';
import { readCounter } from '../../agent/metrics/index.js';
import { NotificationQueue, Notifier, targetKey, type NotificationEvent, type NotifyTarget } from '../../agent/notify/index.js';
import { openDb } from '../../agent/state/db.js';

const dir = mkdtempSync(join(tmpdir(), 'capstan-notify-queue-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const clock = { now: () => Date.UTC(2026, 0, 1), sleep: async () => undefined };
const event = (message: string): NotificationEvent => ({ kind: 'repeated-failure', node: 'n1', commit: null, message, at: '2026-01-01T00:00:00.000Z' });
const neverFetch = async (): Promise<Response> => assert.fail('nothing should be sent');

it('drops the oldest pending notifications beyond the bound, and logs it', () => {
  const db = openDb(join(dir, 'overflow.db'));
  const lines: string[] = [];
  const logger = pino({ base: undefined }, { write: (line: string) => void lines.push(line) });
  const target: NotifyTarget = { kind: 'slack', url: 'https://hooks.example/services/a' };
  const notifier = new Notifier({ db, targets: [target], clock, logger, maxPending: 3, fetch: neverFetch });
  for (let index = 1; index <= 5; index++) notifier.notify(event(`failure ${index}`));

  const rows = new NotificationQueue(db).list().reverse();
  assert.deepEqual(
    rows.map((row) => [row.event.message, row.state]),
    [
      ['failure 1', 'dropped'],
      ['failure 2', 'dropped'],
      ['failure 3', 'pending'],
      ['failure 4', 'pending'],
      ['failure 5', 'pending'],
    ],
  );
  assert.equal(notifier.pendingCount(), 3);
  assert.equal(lines.filter((line) => line.includes('notification queue full, dropped the oldest')).length, 2);
  assert.deepEqual(readCounter(db, 'notifications'), [{ labels: { result: 'dropped', target: targetKey(target) }, value: 2 }]);
  db.close();
});

it('closes rows whose target was removed from the configuration, without sending', async () => {
  const db = openDb(join(dir, 'removed.db'));
  const logger = pino({ level: 'silent' });
  const removed: NotifyTarget = { kind: 'discord', url: 'https://discord.example/api/webhooks/1/old' };
  new Notifier({ db, targets: [removed], clock, logger, fetch: neverFetch }).notify(event('before the change'));
  const notifier = new Notifier({ db, targets: [{ kind: 'discord', url: 'https://discord.example/api/webhooks/2/new' }], clock, logger, fetch: neverFetch });
  assert.deepEqual(await notifier.pump(), { delivered: 0, retried: 0, failed: 1 });
  const [row] = new NotificationQueue(db).list();
  assert.deepEqual([row.state, row.attempts, row.lastError], ['failed', 0, 'target no longer configured']);
  db.close();
});

it('queues nothing when no target wants the event, and never throws into the caller', () => {
  const db = openDb(join(dir, 'closed.db'));
  const lines: string[] = [];
  const logger = pino({ base: undefined }, { write: (line: string) => void lines.push(line) });
  const notifier = new Notifier({ db, targets: [{ kind: 'webhook', url: 'https://x.example/h', events: ['deployed'] }], clock, logger, fetch: neverFetch });
  notifier.notify(event('not wanted'));
  assert.equal(notifier.pendingCount(), 0);
  db.close();
  // A closed database must not turn a notification into a failed cycle.
  assert.doesNotThrow(() => notifier.notify({ ...event('db gone'), kind: 'deployed' }));
  assert.equal(lines.filter((line) => line.includes('could not queue a notification')).length, 1);
});
