import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { cleanupCheckouts, convertCompose } from './compose-helpers.js';

// Compose fidelity (issue 23): anonymous volumes, external networks, ipam, network_mode:
// service:, extends.file and include, each as a Compose file loads it.

after(cleanupCheckouts);

describe('Compose anonymous volumes', () => {
  it('accepts the short and long syntax, as a volume per replica', async () => {
    const converted = await convertCompose(`
services:
  app:
    image: local/busybox:1
    volumes:
      - ./src:/app
      - /app/node_modules
      - type: volume
        target: /app/cache
`, { 'src/index.js': '' });
    assert.deepEqual(converted.problems, []);
    const mounts = converted.app!.services[0].mounts;
    assert.deepEqual(mounts.filter((mount) => mount.type === 'anonymous'), [
      { type: 'anonymous', target: '/app/node_modules', readOnly: false },
      { type: 'anonymous', target: '/app/cache', readOnly: false },
    ]);
  });

  it('refuses a relative path alone, and a bind without source, naming file, line and key', async () => {
    const converted = await convertCompose(`
services:
  app:
    image: local/busybox:1
    volumes:
      - node_modules
      - type: bind
        target: /x
`);
    assert.equal(converted.problems.length, 2, converted.problems.join('\n'));
    assert.match(converted.problems[0], /^app\/compose\.yaml:6:9: services\.app\.volumes\[0\]: .*absolute container path alone/);
    assert.match(converted.problems[1], /^app\/compose\.yaml:7:9: services\.app\.volumes\[1\]: a bind mount needs a source/);
  });

  it('takes remove_anonymous_volumes from x-capstan', async () => {
    const converted = await convertCompose(`
x-capstan: {remove_anonymous_volumes: true}
services:
  app: {image: local/busybox:1, volumes: [/data]}
`);
    assert.deepEqual(converted.problems, []);
    assert.equal(converted.app!.removeAnonymousVolumes, true);
  });
});
