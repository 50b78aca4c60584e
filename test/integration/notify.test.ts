// Notifications received by a real HTTP listener on 127.0.0.1, sent with Node's real fetch from
// a real SQLite queue. Only the clock is injected, so backoff is checked without waiting.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Clock } from '../../agent/clock.js';
import { readCounter } from '../../agent/metrics/index.js';
import { NotificationQueue, Notifier, targetKey, type NotificationEvent, type NotifierDeps, type NotifyTarget } from '../../agent/notify/index.js';
import { openDb, type Db } from '../../agent/state/db.js';
import { sharedAgent } from '../helpers/fixture.js';

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

// A receiver answers at most this many requests; past it, it answers 503 and the test fails.
const MAX_REQUESTS = 60;

/** A listener on 127.0.0.1 that records each request and answers as `respond` says. */
class Receiver {
  readonly requests: Received[] = [];
  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(respond: (request: Received, index: number) => number | 'hang'): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const received = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
        const requests = receiver!.requests;
        requests.push(received);
        if (requests.length > MAX_REQUESTS) return void response.writeHead(503).end();
        const answer = respond(received, requests.length - 1);
        if (answer === 'hang') return;
        if (answer >= 300 && answer < 400) response.setHeader('Location', 'http://127.0.0.1:9/elsewhere');
        response.writeHead(answer).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receiver = new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return receiver;
  }

  on(path: string): Received[] {
    return this.requests.filter((request) => request.path === path);
  }

  /** Waits, at most `timeoutMs`, for `count` requests in all. */
  async waitFor(count: number, timeoutMs = 5_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.requests.length < count) {
      if (performance.now() > deadline) assert.fail(`expected ${count} requests within ${timeoutMs} ms, got ${this.requests.length}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function manualClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void; set(ms: number): void } {
  let current = start;
  return {
    now: () => current,
    sleep: async () => undefined,
    advance: (ms) => void (current += ms),
    set: (ms) => void (current = ms),
  };
}

function capturingLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void raw.push(line) });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>), text: () => raw.join('') };
}

const event: NotificationEvent = {
  kind: 'rollback',
  node: 'node-1',
  commit: '0123456789abcdef0123456789abcdef01234567',
  app: 'shop',
  service: 'web',
  reason: 'HEALTHCHECK_FAILED',
  message: 'web-2 did not become healthy within 30 s',
  at: '2026-01-01T00:00:00.000Z',
};

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('notifications over HTTP', () => {
  const fixture = sharedAgent({ noRepo: true }); // no git server or agent: the SQLite files' folder
  let scratch: string;
  let fileIndex = 0;
  const open: Array<{ close(): unknown }> = [];
  const notifiers: Notifier[] = [];

  before(async () => {
    scratch = (await fixture.tempDir('capstan-notify')).path;
  });
  afterEach(async () => {
    for (const notifier of notifiers.splice(0)) await notifier.stop();
    for (const resource of open.splice(0).reverse()) await resource.close();
  });

  function database(file = `${scratch}/state-${++fileIndex}.db`): Db {
    const db = openDb(file);
    open.push(db);
    return db;
  }

  async function receiver(respond: (request: Received, index: number) => number | 'hang'): Promise<Receiver> {
    const started = await Receiver.start(respond);
    open.push(started);
    return started;
  }

  function notifier(deps: Partial<NotifierDeps> & Pick<NotifierDeps, 'db' | 'targets' | 'clock' | 'logger'>): Notifier {
    const created = new Notifier({ random: () => 0.5, ...deps });
    notifiers.push(created);
    return created;
  }

  it('delivers each kind of target its own format, signed where it has a secret', async () => {
    const listener = await receiver(() => 200);
    const db = database();
    const log = capturingLogger();
    const targets: NotifyTarget[] = [
      { kind: 'webhook', url: `${listener.base}/hook`, secret: 'hmac-key-value' },
      { kind: 'ntfy', url: `${listener.base}/ntfy/capstan`, token: 'tk_ntfy_token' },
      { kind: 'slack', url: `${listener.base}/slack/T0/B0/XXXX` },
      { kind: 'discord', url: `${listener.base}/discord/1/abc` },
      { kind: 'webhook', url: `${listener.base}/deploys-only`, events: ['deployed'] },
    ];
    const sender = notifier({ db, targets, clock: manualClock(), logger: log.logger, secrets: () => ['db-password-value'] });

    sender.notify({ ...event, message: `${event.message}; env had db-password-value` });
    assert.deepEqual(await sender.pump(), { delivered: 4, retried: 0, failed: 0 });
    assert.equal(listener.requests.length, 4);
    assert.ok(listener.requests.every((request) => request.method === 'POST'));

    const [hook] = listener.on('/hook');
    const signature = `sha256=${createHmac('sha256', 'hmac-key-value').update(hook.body).digest('hex')}`;
    assert.equal(hook.headers['x-capstan-signature'], signature);
    assert.equal(hook.headers['x-capstan-event'], 'rollback');
    assert.match(String(hook.headers['x-capstan-delivery']), /^[0-9a-f-]{36}$/);
    assert.equal(hook.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(hook.body), {
      event: 'rollback',
      node: 'node-1',
      commit: event.commit,
      app: 'shop',
      service: 'web',
      reason: 'HEALTHCHECK_FAILED',
      message: 'web-2 did not become healthy within 30 s; env had [redacted]',
      at: event.at,
    });

    const [ntfy] = listener.on('/ntfy/capstan');
    assert.equal(ntfy.headers.title, 'Capstan on node-1 rolled back shop/web');
    assert.equal(ntfy.headers.tags, 'rewind,capstan');
    assert.equal(ntfy.headers.priority, '4');
    assert.equal(ntfy.headers.authorization, 'Bearer tk_ntfy_token');
    assert.match(ntfy.body, /^web-2 did not become healthy within 30 s; env had \[redacted\]\n\(commit 0123456789ab, reason HEALTHCHECK_FAILED/);

    const [slack] = listener.on('/slack/T0/B0/XXXX');
    assert.match((JSON.parse(slack.body) as { text: string }).text, /^\*Capstan on node-1 rolled back shop\/web\*\nweb-2 did not become healthy/);
    const [discord] = listener.on('/discord/1/abc');
    assert.match((JSON.parse(discord.body) as { content: string }).content, /^\*\*Capstan on node-1 rolled back shop\/web\*\*\n/);
    assert.equal(listener.on('/deploys-only').length, 0, 'a target that wants only deployments got a rollback');

    // The secret value reached no receiver, no row and no log line; no row names a webhook path.
    const stored = JSON.stringify(db.prepare('SELECT * FROM notifications').all());
    for (const text of [...listener.requests.map((request) => request.body), stored, log.text()]) {
      assert.doesNotMatch(text, /db-password-value/);
    }
    assert.doesNotMatch(stored + log.text(), /T0\/B0\/XXXX|discord\/1\/abc|hmac-key-value|tk_ntfy_token/);
    assert.deepEqual(
      new NotificationQueue(db).list().map((row) => [row.state, row.attempts]),
      [['delivered', 1], ['delivered', 1], ['delivered', 1], ['delivered', 1]],
    );
  });

  it('retries a 500 after the backoff and delivers once, with the same delivery id', async () => {
    const listener = await receiver((_request, index) => (index === 0 ? 500 : 200));
    const db = database();
    const clock = manualClock();
    const target: NotifyTarget = { kind: 'webhook', url: `${listener.base}/flaky` };
    const sender = notifier({ db, targets: [target], clock, logger: capturingLogger().logger });
    sender.notify(event);

    assert.deepEqual(await sender.pump(), { delivered: 0, retried: 1, failed: 0 });
    const [waiting] = new NotificationQueue(db).list();
    assert.equal(waiting.nextAttemptAt - clock.now(), 5_000);
    assert.equal(waiting.lastError, 'HTTP 500');

    clock.advance(4_999);
    assert.deepEqual(await sender.pump(), { delivered: 0, retried: 0, failed: 0 }, 'sent before its retry time');
    clock.advance(1);
    assert.deepEqual(await sender.pump(), { delivered: 1, retried: 0, failed: 0 });
    clock.advance(3_600_000);
    await sender.pump();

    assert.equal(listener.requests.length, 2);
    assert.equal(listener.requests[0].headers['x-capstan-delivery'], listener.requests[1].headers['x-capstan-delivery']);
    const [done] = new NotificationQueue(db).list();
    assert.deepEqual([done.state, done.attempts, done.lastError], ['delivered', 2, null]);
    assert.deepEqual(readCounter(db, 'notifications'), [{ labels: { result: 'delivered', target: targetKey(target) }, value: 1 }]);
  });

  it('gives up at once on a 404 or a redirect, and logs why', async () => {
    const listener = await receiver((request) => (request.path === '/gone' ? 404 : 302));
    const db = database();
    const clock = manualClock();
    const log = capturingLogger();
    const targets: NotifyTarget[] = [
      { kind: 'slack', url: `${listener.base}/gone` },
      { kind: 'discord', url: `${listener.base}/moved` },
    ];
    const sender = notifier({ db, targets, clock, logger: log.logger });
    sender.notify(event);
    assert.deepEqual(await sender.pump(), { delivered: 0, retried: 0, failed: 2 });
    for (let pumps = 0; pumps < 3; pumps++) {
      clock.advance(3_600_000);
      await sender.pump();
    }
    assert.equal(listener.on('/gone').length, 1);
    assert.equal(listener.on('/moved').length, 1);
    const errors = new NotificationQueue(db)
      .list()
      .map((row) => [row.state, row.attempts, row.lastError])
      .sort();
    assert.deepEqual(errors, [
      ['failed', 1, 'HTTP 302 (redirect refused: configure the final URL)'],
      ['failed', 1, 'HTTP 404'],
    ]);
    const refusals = log.lines().filter((line) => line.msg === 'notification refused by the receiver, not retried');
    assert.equal(refusals.length, 2);
  });

  it('backs off exponentially from a closed port and gives up after 10 attempts', async () => {
    const db = database();
    const clock = manualClock();
    const log = capturingLogger();
    const target: NotifyTarget = { kind: 'ntfy', url: `http://127.0.0.1:${await closedPort()}/capstan` };
    const sender = notifier({ db, targets: [target], clock, logger: log.logger });
    const queue = new NotificationQueue(db);
    sender.notify(event);

    const waits: number[] = [];
    for (let pumps = 0; pumps < 12; pumps++) {
      await sender.pump();
      const [row] = queue.list();
      if (row.state !== 'pending') break;
      waits.push(row.nextAttemptAt - clock.now());
      clock.set(row.nextAttemptAt);
    }
    assert.deepEqual(waits, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000]);
    const [row] = queue.list();
    assert.equal(row.state, 'failed');
    assert.equal(row.attempts, 10);
    assert.match(row.lastError ?? '', /ECONNREFUSED/);
    assert.equal(log.lines().filter((line) => line.msg === 'notification not delivered, will retry').length, 9);
    const [givenUp] = log.lines().filter((line) => line.msg === 'notification given up after the last attempt');
    assert.equal(givenUp.attempts, 10);
    assert.equal(givenUp.target, targetKey(target));
    assert.deepEqual(readCounter(db, 'notifications'), [{ labels: { result: 'failed', target: targetKey(target) }, value: 1 }]);
  });

  it('keeps the queue across a restart and sends it from the new process', async () => {
    const listener = await receiver(() => 200);
    const file = `${scratch}/restart.db`;
    const clock = manualClock();
    const target: NotifyTarget = { kind: 'webhook', url: `${listener.base}/after-restart`, secret: 'k3y-value' };
    const first = openDb(file);
    new Notifier({ db: first, targets: [target], clock, logger: capturingLogger().logger }).notify(event);
    new Notifier({ db: first, targets: [target], clock, logger: capturingLogger().logger }).notify({ ...event, kind: 'quarantined' });
    first.close();
    assert.equal(listener.requests.length, 0);

    const second = database(file);
    const sender = notifier({ db: second, targets: [target], clock, logger: capturingLogger().logger });
    assert.equal(sender.pendingCount(), 2);
    assert.deepEqual(await sender.pump(), { delivered: 2, retried: 0, failed: 0 });
    assert.deepEqual(
      listener.requests.map((request) => request.headers['x-capstan-event']),
      ['rollback', 'quarantined'],
      'sent in the order they were queued',
    );
  });

  it('returns from notify at once while a receiver hangs, and bounds the send by the timeout', async () => {
    const listener = await receiver(() => 'hang');
    const db = database();
    const clock = manualClock();
    const sender = notifier({ db, targets: [{ kind: 'discord', url: `${listener.base}/hang` }], clock, logger: capturingLogger().logger, timeoutMs: 300 });

    sender.notify(event);
    const pumpStarted = performance.now();
    const pumping = sender.pump();
    await listener.waitFor(1);

    // notify is synchronous: it returns nothing to await, and quickly, while the send hangs.
    const notifyStarted = performance.now();
    const returned: unknown = sender.notify({ ...event, kind: 'repeated-failure' });
    const notifyMs = performance.now() - notifyStarted;
    assert.equal(returned, undefined);
    assert.ok(notifyMs < 200, `notify took ${notifyMs} ms`);

    const summary = await pumping;
    const pumpMs = performance.now() - pumpStarted;
    assert.deepEqual(summary, { delivered: 0, retried: 1, failed: 0 });
    assert.ok(pumpMs >= 250 && pumpMs < 5_000, `the pump took ${pumpMs} ms with a 300 ms timeout`);
    const rows = new NotificationQueue(db).list();
    assert.equal(rows.find((row) => row.event.kind === 'rollback')?.lastError, 'no answer within 300 ms');
    assert.equal(rows.find((row) => row.event.kind === 'repeated-failure')?.state, 'pending');
  });

  it('sends on its own timer once started, and stops', async () => {
    const listener = await receiver(() => 204);
    const db = database();
    const sender = notifier({ db, targets: [{ kind: 'slack', url: `${listener.base}/timer` }], clock: manualClock(), logger: capturingLogger().logger });
    sender.start(50);
    sender.notify(event);
    await listener.waitFor(1);
    await sender.stop();
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(listener.requests.length, 1);
    assert.equal(sender.pendingCount(), 0);
  });
});
