// Request bodies and headers per target, signatures, redaction, and the retry arithmetic.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  classifyStatus,
  defaultRetryPolicy,
  formatRequest,
  newEvent,
  redact,
  redactEvent,
  retryDelayMs,
  type NotificationEvent,
} from '../../agent/notify/index.js';

const event: NotificationEvent = {
  kind: 'rollback',
  node: 'node-1',
  commit: '0123456789abcdef0123',
  app: 'shop',
  service: 'web',
  reason: 'HEALTHCHECK_FAILED',
  message: 'web-2 did not become healthy within 30 s',
  at: '2026-01-02T03:04:05.000Z',
};

describe('formatRequest', () => {
  it('signs the exact webhook body with HMAC-SHA256', () => {
    const request = formatRequest({ kind: 'webhook', url: 'https://x.example/h', secret: 'k3y-value' }, event, 'delivery-1');
    assert.deepEqual(JSON.parse(request.body), {
      event: 'rollback',
      node: 'node-1',
      commit: '0123456789abcdef0123',
      app: 'shop',
      service: 'web',
      reason: 'HEALTHCHECK_FAILED',
      message: 'web-2 did not become healthy within 30 s',
      at: '2026-01-02T03:04:05.000Z',
    });
    const expected = createHmac('sha256', 'k3y-value').update(request.body).digest('hex');
    assert.equal(request.headers['X-Capstan-Signature'], `sha256=${expected}`);
    assert.equal(request.headers['X-Capstan-Event'], 'rollback');
    assert.equal(request.headers['X-Capstan-Delivery'], 'delivery-1');
  });

  it('sends absent fields as null and no signature without a secret', () => {
    const request = formatRequest({ kind: 'webhook', url: 'https://x.example/h' }, { ...event, app: undefined, service: undefined, reason: undefined, commit: null }, 'd');
    const body = JSON.parse(request.body) as Record<string, unknown>;
    assert.equal(body.app, null);
    assert.equal(body.commit, null);
    assert.equal(request.headers['X-Capstan-Signature'], undefined);
  });

  it('gives ntfy a title, tags and a priority: high for failures, default for deployments', () => {
    const failure = formatRequest({ kind: 'ntfy', url: 'https://n.example/t', token: 'tk_1' }, event, 'd');
    assert.equal(failure.headers.Title, 'Capstan on node-1 rolled back shop/web');
    assert.equal(failure.headers.Tags, 'rewind,capstan');
    assert.equal(failure.headers.Priority, '4');
    assert.equal(failure.headers.Authorization, 'Bearer tk_1');
    assert.match(failure.body, /^web-2 did not become healthy within 30 s\n\(commit 0123456789ab, reason HEALTHCHECK_FAILED, at /);
    const deployed = formatRequest({ kind: 'ntfy', url: 'https://n.example/t' }, { ...event, kind: 'deployed' }, 'd');
    assert.equal(deployed.headers.Priority, '3');
    assert.equal(deployed.headers.Authorization, undefined);
    const pinned = formatRequest({ kind: 'ntfy', url: 'https://n.example/t', priority: 1 }, event, 'd');
    assert.equal(pinned.headers.Priority, '1');
  });

  it('keeps ntfy headers Latin-1 and its body under 4096 bytes', () => {
    const request = formatRequest({ kind: 'ntfy', url: 'https://n.example/t' }, { ...event, node: 'nœud', message: 'é'.repeat(5000) }, 'd');
    assert.equal(request.headers.Title, 'Capstan on n?ud rolled back shop/web');
    assert.ok(Buffer.byteLength(request.body) <= 4096);
    assert.ok(!request.body.includes('\uFFFD'));
  });

  it('writes Slack text and Discord content, Discord within its 2000 characters', () => {
    const slack = JSON.parse(formatRequest({ kind: 'slack', url: 'https://s.example' }, event, 'd').body) as { text: string };
    assert.match(slack.text, /^\*Capstan on node-1 rolled back shop\/web\*\nweb-2 did not/);
    const discord = JSON.parse(formatRequest({ kind: 'discord', url: 'https://d.example' }, { ...event, message: 'x'.repeat(5000) }, 'd').body) as {
      content: string;
    };
    assert.ok(discord.content.startsWith('**Capstan on node-1 rolled back shop/web**\n'));
    assert.equal(discord.content.length, 2000);
  });
});

describe('redact', () => {
  it('replaces every occurrence, longest secret first, and skips values under 4 characters', () => {
    assert.equal(redact('pw=hunter22 again hunter22', ['hunter22']), 'pw=[redacted] again [redacted]');
    assert.equal(redact('token abcd-efgh', ['abcd', 'abcd-efgh']), 'token [redacted]');
    assert.equal(redact('on an app', ['on', 'app']), 'on an app');
  });

  it('scrubs every text field of an event', () => {
    const scrubbed = redactEvent({ ...event, message: 'value s3cret-v4lue leaked', reason: 'X_s3cret-v4lue' }, ['s3cret-v4lue']);
    assert.doesNotMatch(JSON.stringify(scrubbed), /s3cret-v4lue/);
    assert.equal(scrubbed.message, 'value [redacted] leaked');
  });

  it('stamps events with the injected clock', () => {
    const stamped = newEvent({ now: () => Date.UTC(2026, 0, 1), sleep: async () => undefined }, { kind: 'deployed', node: 'n', commit: null, message: 'ok' });
    assert.equal(stamped.at, '2026-01-01T00:00:00.000Z');
  });
});

describe('retries', () => {
  const delays: Array<{ failedAttempts: number; random: number; expected: number }> = [
    { failedAttempts: 1, random: 0.5, expected: 5_000 },
    { failedAttempts: 2, random: 0.5, expected: 10_000 },
    { failedAttempts: 3, random: 0.5, expected: 20_000 },
    { failedAttempts: 7, random: 0.5, expected: 320_000 },
    // 5 s · 2^7 = 640 s, capped at 600 s.
    { failedAttempts: 8, random: 0.5, expected: 600_000 },
    { failedAttempts: 40, random: 0.5, expected: 600_000 },
    // ±20 % jitter: random 0 → 0.8×, random 1 → 1.2×.
    { failedAttempts: 1, random: 0, expected: 4_000 },
    { failedAttempts: 2, random: 1, expected: 12_000 },
    { failedAttempts: 1, random: 7, expected: 6_000 },
  ];
  for (const row of delays) {
    it(`waits ${row.expected} ms after failure ${row.failedAttempts} (random ${row.random})`, () => {
      assert.equal(retryDelayMs(row.failedAttempts, defaultRetryPolicy, row.random), row.expected);
    });
  }

  const statuses: Array<[number, string]> = [
    [200, 'delivered'],
    [204, 'delivered'],
    [301, 'permanent'],
    [400, 'permanent'],
    [401, 'permanent'],
    [404, 'permanent'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
  ];
  for (const [status, outcome] of statuses) {
    it(`treats HTTP ${status} as ${outcome}`, () => assert.equal(classifyStatus(status), outcome));
  }
});
