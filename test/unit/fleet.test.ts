import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNodeLabels, selects, shareOf } from '../../agent/fleet/placement.js';
import { service as baseService, type App, type DesiredState, type Service } from '../helpers/model.js';

const service = (name: string, extra: Partial<Service> = {}) => baseService(name, { image: 'img', configHash: name, source: { file: 'shop.yaml', line: 1 }, ...extra });
const app = (services: Service[], extra: Partial<App> = {}): App => ({
  name: 'shop',
  source: { file: 'shop.yaml', line: 1 },
  services,
  volumes: [{ name: 'data', dockerName: 'shop_data', labels: {} }],
  ...extra,
});
const names = (state: DesiredState) => state.apps.flatMap((entry) => entry.services.map((item) => item.name));

describe('fleet placement', () => {
  const edge = { name: 'pi-1', labels: { role: 'edge', zone: 'home' } };

  it('selects by node name, by labels, and by both', () => {
    const table: [Parameters<typeof selects>[0], boolean][] = [
      [{ nodes: ['pi-1', 'pi-2'] }, true],
      [{ nodes: ['vps'] }, false],
      [{ labels: { role: 'edge' } }, true],
      [{ labels: { role: 'edge', zone: 'office' } }, false],
      [{ nodes: ['pi-1'], labels: { role: 'core' } }, false],
      [{ nodes: ['pi-1'], labels: { zone: 'home' } }, true],
    ];
    for (const [placement, expected] of table) assert.equal(selects(placement, edge), expected, JSON.stringify(placement));
  });

  it("takes a service's placement over its app's, and the repository default for neither", () => {
    const state: DesiredState = {
      commit: 'c',
      apps: [
        app(
          [
            service('web'),
            service('db', { placement: { nodes: ['vps'] }, mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: false }] }),
            service('agent', { placement: { labels: { role: 'edge' } } }),
          ],
          { placement: { labels: { zone: 'home' } } },
        ),
        { ...app([service('free')]), name: 'free' },
      ],
    };
    const share = shareOf(state, edge);
    assert.deepEqual(names(share), ['web', 'agent', 'free']);
    assert.equal(share.placedElsewhere, 1);
    assert.deepEqual(share.apps[0].volumes, [], 'a volume only its off-node service mounts is not created here');
    assert.deepEqual(names(shareOf({ ...state, placementDefault: 'nowhere' }, edge)), ['web', 'agent'], 'unplaced apps run nowhere');
    assert.deepEqual(names(shareOf(state, { name: 'vps', labels: {} })), ['db', 'free']);
  });

  it('parses node labels', () => {
    assert.deepEqual(parseNodeLabels('role=edge, zone=home'), { role: 'edge', zone: 'home' });
    assert.deepEqual(parseNodeLabels(undefined), {});
    assert.throws(() => parseNodeLabels('role'), /KEY=VALUE/);
  });
});
