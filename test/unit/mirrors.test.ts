import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mirrorReference, splitReference } from '../../agent/targets/containers/plan-mirrors.js';
import { parsePolicy } from '../../agent/policy/index.js';

describe('registry mirrors', () => {
  const mirrors = { 'docker.io': 'registry.local:5000', 'ghcr.io': 'mirror.example/ghcr' };
  const cases: Array<[string, string | undefined]> = [
    ['nginx:1.27', 'registry.local:5000/library/nginx:1.27'],
    ['nginx', 'registry.local:5000/library/nginx'],
    ['grafana/grafana:11', 'registry.local:5000/grafana/grafana:11'],
    ['docker.io/library/redis:7', 'registry.local:5000/library/redis:7'],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), 'mirror.example/ghcr/org/app@sha256:' + 'a'.repeat(64)],
    ['quay.io/org/app:1', undefined],
    ['localhost/app:1', undefined],
  ];
  for (const [image, expected] of cases) {
    it(`${image} → ${expected ?? 'not mirrored'}`, () => assert.equal(mirrorReference(image, mirrors), expected));
  }

  it('splits tags, digests and bare names', () => {
    assert.deepEqual(splitReference('host:5000/a/b:1'), { repo: 'host:5000/a/b', tag: '1' });
    assert.deepEqual(splitReference('host:5000/a/b'), { repo: 'host:5000/a/b', tag: 'latest' });
    assert.deepEqual(splitReference('a@sha256:x'), { repo: 'a', digest: 'sha256:x' });
  });

  it('reads mirrors from the policy file and refuses a malformed one, naming the key', () => {
    const policy = parsePolicy('mirrors:\n  docker.io: registry.local:5000/\nmirrors_fail_closed: true\n', 'policy.yaml');
    assert.deepEqual(policy.mirrors, { 'docker.io': 'registry.local:5000' });
    assert.equal(policy.mirrorsFailClosed, true);
    assert.throws(() => parsePolicy('mirrors:\n  docker.io: "http://x y"\n', 'policy.yaml'), /policy\.yaml is invalid: mirrors\.docker\.io/);
  });
});
