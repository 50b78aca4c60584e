import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { runCapstan } from '../helpers/cli.js';
import { listManaged, uniqueName, waitFor } from '../helpers/docker.js';
import { sharedAgent } from '../helpers/fixture.js';

// Operating Capstan without a port: what a real cycle sends out (notifications to a local
// receiver) and writes (the Prometheus textfile), and that `status --json` matches Docker.

interface ParsedFamily {
  name: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const HOOK_SECRET = 'hook-secret-for-tests';
const MAX_REQUESTS = 60;

describe('operating: notifications, metrics file, status', () => {
  const agent = sharedAgent({ repoName: 'ops' });
  const { node } = agent;
  const app = uniqueName('ops');
  let receiver: Server;
  const received: Received[] = [];
  let receiverUrl = '';
  let deployed = '';
  const capstan = (...args: string[]) =>
    runCapstan(args, {
      timeoutMs: 120_000,
      env: {
        CAPSTAN_REPO: agent.repo.url,
        CAPSTAN_STATE_DIR: agent.state.path,
        CAPSTAN_NODE: node,
        HOOK_SECRET,
        CAPSTAN_NOTIFY: ['webhook', 'ntfy', 'slack', 'discord']
          .map((kind) => `${kind}+${receiverUrl}/${kind}${kind === 'webhook' ? '?secret_env=HOOK_SECRET' : ''}`)
          .join(' '),
      },
    });
  const manifest = (healthy: boolean, version: string) =>
    `app: ${app}\nservices:\n  web:\n    image: local/busybox:1\n    command: ["sh", "-c", "echo web $$VERSION starting; trap 'exit 0' TERM; sleep 3600 & wait"]\n    environment: { VERSION: "${version}" }\n    replicas: 2\n    healthcheck: { test: ["CMD", "${healthy ? 'true' : 'false'}"], interval: 1s, retries: 2 }\n    update: { progress_deadline: 30s }\n`;
  const metrics = () => parsePrometheus(readFileSync(join(agent.state.path, 'metrics.prom'), 'utf8'));
  const sample = (families: ParsedFamily[], name: string, labels: Record<string, string> = {}) =>
    families
      .find((family) => family.name === name)
      ?.metrics.find((metric) => Object.entries(labels).every(([key, value]) => metric.labels?.[key] === value))?.value;

  before(async () => {
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (received.length < MAX_REQUESTS) received.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(received.length < MAX_REQUESTS ? 200 : 503).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    // Deployed once for every test; only the last one changes it.
    deployed = await agent.push({ [`${app}.yaml`]: manifest(true, 'v1') }, 'deploy');
    const result = await capstan('once');
    assert.equal(result.code, 0, result.stderr);
    await waitFor(() => received.length >= 4, { timeoutMs: 15_000, what: 'four notifications' });
  });

  // After the label cleanup, whatever it meets.
  agent.defer(async () => {
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('notifies every target of a deploy, with a verifiable webhook signature', async () => {
    assert.deepEqual(received.map((request) => request.path.split('?')[0]).sort(), ['/discord', '/ntfy', '/slack', '/webhook']);
    const webhook = received.find((request) => request.path.startsWith('/webhook'))!;
    const expected = `sha256=${createHmac('sha256', HOOK_SECRET).update(webhook.body).digest('hex')}`;
    assert.equal(webhook.headers['x-capstan-signature'], expected);
    assert.equal(webhook.headers['x-capstan-event'], 'deployed');
    const event = JSON.parse(webhook.body);
    assert.equal(event.commit, deployed);
    assert.equal(event.node, node);
    assert.match(event.message, new RegExp(`${app}/web`));
    assert.match(received.find((request) => request.path === '/slack')!.body, /"text":/);
    assert.match(received.find((request) => request.path === '/discord')!.body, /"content":/);
    assert.ok(received.find((request) => request.path === '/ntfy')!.headers.title);
  });

  it('writes a Prometheus textfile after each cycle', () => {
    const families = metrics();
    assert.equal(sample(families, 'capstan_service_desired_replicas', { app, service: 'web' }), '2');
    assert.equal(sample(families, 'capstan_service_ready_replicas', { app, service: 'web' }), '2');
    assert.equal(sample(families, 'capstan_cycles_total', { result: 'applied' }), '1');
    assert.equal(sample(families, 'capstan_rollouts_total', { app, service: 'web' }), '1');
    assert.ok(Number(sample(families, 'capstan_last_success_timestamp_seconds')) > 0);
  });

  it('says nothing on an in-sync cycle, and status --json matches Docker', async () => {
    const before = received.length;
    assert.equal((await capstan('once')).code, 0);
    const status = JSON.parse((await capstan('status', '--json')).stdout);
    const containers = await listManaged(node);
    assert.equal(status.services.length, 1);
    assert.equal(status.services[0].runningReplicas, containers.filter((container) => container.state === 'running').length);
    assert.equal(status.services[0].upToDateReplicas, 2);
    assert.equal(received.length, before, 'no notification for a cycle that changed nothing');
    assert.equal(sample(metrics(), 'capstan_cycles_total', { result: 'in-sync' }), '1');
  });

  it('doctor passes on a working install and fails on an unsafe key file', async () => {
    const healthy = await capstan('doctor', '--json');
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    const checks = JSON.parse(healthy.stdout) as { name: string; status: string }[];
    assert.deepEqual(
      checks.filter((check) => check.status === 'fail'),
      [],
    );
    assert.ok(['docker', 'repository', 'manifests', 'clock', 'disk'].every((name) => checks.some((check) => check.name === name)));
    const keyFile = join(agent.state.path, 'loose.key');
    writeFileSync(keyFile, 'not a key\n', { mode: 0o644 });
    const unsafe = await capstan('doctor', '--key-file', keyFile);
    assert.equal(unsafe.code, 1);
    assert.match(unsafe.stdout, /✗ key file .*chmod 600/);
  });

  it('notifies a rollback and the quarantine, and counts it', async () => {
    const before = received.length;
    await agent.push({ [`${app}.yaml`]: manifest(false, 'v2') }, 'broken');
    assert.equal((await capstan('once')).code, 1);
    await waitFor(() => received.length >= before + 8, { timeoutMs: 15_000, what: 'rollback and quarantine notifications' });
    const events = received.slice(before).filter((request) => request.path.startsWith('/webhook')).map((request) => request.headers['x-capstan-event']);
    assert.deepEqual(events.sort(), ['quarantined', 'rollback']);
    // Issue 14: the failure notification quotes what the failed replica printed last.
    const rollback = JSON.parse(received.slice(before).find((request) => request.headers['x-capstan-event'] === 'rollback')!.body);
    assert.match(rollback.message, new RegExp(`last output of ${app}-web-1--next:\\nweb v2 starting`));
    assert.equal(sample(metrics(), 'capstan_rollbacks_total', { app, service: 'web' }), '1');
    assert.equal(sample(metrics(), 'capstan_failures_total', { reason: 'ROLLED_BACK' }), '1');
  });
});
