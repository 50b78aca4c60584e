import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredState } from '../../agent/model.js';
import { loadFiles, loadProblems } from '../helpers/model.js';
import { convertCompose } from './compose-helpers.js';

// Issue 22: the app's `hooks:` and depends_on `restart: true`, as loaded (native and Compose).

const COMMIT = 'c0ffee0000000000000000000000000000000000';
const hashKey = new Uint8Array(32).fill(7);

const load = (files: Record<string, string>) => loadFiles(files, { commit: COMMIT, hashKey });
const problems = (files: Record<string, string>) => loadProblems(files, { commit: COMMIT, hashKey });

const SERVICES = 'services:\n  db:\n    image: local/busybox:1\n  web:\n    image: local/busybox:1\n    depends_on:\n      db: { condition: service_started, restart: true }\n';

describe('load: hooks and restart: true', () => {
  it('loads jobs with their defaults, and restart: true outside the config hash', async () => {
    const hooks = 'hooks:\n  pre_deploy:\n    - service: web\n      command: ./migrate --all\n      environment: { STEP: "1" }\n  post_deploy:\n    - name: smoke\n      service: web\n      command: ["true"]\n      timeout: 30s\n';
    const state = await load({ 'shop.yaml': `app: shop\n${hooks}${SERVICES}` });
    const app = state.apps[0];
    assert.deepEqual(app.hooks, {
      preDeploy: [{ phase: 'pre_deploy', name: 'pre_deploy-1', service: 'web', command: ['./migrate', '--all'], timeoutMs: 600_000, environment: { STEP: '1' } }],
      postDeploy: [{ phase: 'post_deploy', name: 'smoke', service: 'web', command: ['true'], timeoutMs: 30_000, environment: {} }],
    });
    const web = app.services.find((service) => service.name === 'web')!;
    assert.deepEqual(web.dependsOn, [{ service: 'db', condition: 'service_started', restart: true }]);
    const plain = await load({ 'shop.yaml': `app: shop\n${SERVICES.replace(', restart: true', '')}` });
    assert.equal(plain.apps[0].services.find((service) => service.name === 'web')!.configHash, web.configHash, 'restart: true replaces nothing');
  });

  it('refuses an unknown or missing service, duplicate names, an empty command and an absurd timeout, naming file, line and key', async () => {
    const hooks =
      'hooks:\n  pre_deploy:\n    - command: ["true"]\n    - name: a\n      service: nope\n      command: ["true"]\n  post_deploy:\n    - name: a\n      service: web\n      command: ["true"]\n    - name: c\n      service: web\n      command: []\n    - name: b\n      service: web\n      command: ["true"]\n      timeout: 48h\n';
    const found = await problems({ 'shop.yaml': `app: shop\n${hooks}${SERVICES}` });
    assert.deepEqual(found.map((line) => line.replace(/ \[[A-Z_]+\]$/, '')).length, 5, found.join('\n'));
    assert.ok(found.some((line) => /shop\.yaml:4:.*hooks\.pre_deploy\[0\].*the app has 2 services; set service:/.test(line)), found.join('\n'));
    assert.ok(found.some((line) => /shop\.yaml:6:.*hooks\.pre_deploy\[1\]\.service.*there is no service 'nope'/.test(line)), found.join('\n'));
    assert.ok(found.some((line) => /hooks\.post_deploy\[0\]\.name.*another hook job of the app is named 'a'/.test(line)), found.join('\n'));
    assert.ok(found.some((line) => /hooks\.post_deploy\[1\]\.command.*the command is empty/.test(line)), found.join('\n'));
    assert.ok(found.some((line) => /hooks\.post_deploy\[2\]\.timeout.*48h is not between 1ms and 24h/.test(line)), found.join('\n'));
  });

  it('a depends_on cycle is still an error naming the file and the services', async () => {
    const found = await problems({ 'shop.yaml': 'app: shop\nservices:\n  a:\n    image: local/busybox:1\n    depends_on: { b: { restart: true } }\n  b:\n    image: local/busybox:1\n    depends_on: [a]\n' });
    assert.ok(found.some((line) => /shop\.yaml:\d+.*depends_on forms a cycle: a → b → a/.test(line)), found.join('\n'));
  });

  it('Compose: hooks under the top-level x-capstan, restart: true on depends_on', async () => {
    const converted = await convertCompose(
      'x-capstan:\n  hooks:\n    pre_deploy:\n      - service: web\n        command: ["./migrate"]\nservices:\n  db:\n    image: local/busybox:1\n  web:\n    image: local/busybox:1\n    depends_on:\n      db: { condition: service_started, restart: true }\n',
    );
    assert.deepEqual(converted.problems, []);
    assert.deepEqual(converted.app!.hooks?.preDeploy.map((job) => [job.name, job.service, job.command]), [['pre_deploy-1', 'web', ['./migrate']]]);
    // A Compose service name that is not a Capstan name gets another key; the job follows it.
    const renamed = await convertCompose('x-capstan:\n  hooks:\n    post_deploy:\n      - service: Web\n        command: ["true"]\nservices:\n  Web:\n    image: local/busybox:1\n  db:\n    image: local/busybox:1\n');
    assert.deepEqual(renamed.problems, []);
    assert.deepEqual(renamed.app!.hooks?.postDeploy.map((job) => job.service), ['web']);
  });
});
