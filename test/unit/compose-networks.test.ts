import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { formatProblem } from '../../agent/errors.js';
import { containerCreateOptions } from '../../agent/targets/containers/execute-spec.js';
import { validateDir } from '../../agent/load/index.js';
import type { DesiredState } from '../../agent/model.js';
import { networkLayout } from '../../agent/targets/networks.js';
import { cleanupCheckouts, hashKey, writeCheckout } from './compose-helpers.js';

// The native fields Compose files need and the native format gained for them: app networks with
// aliases (Compose's networks keep their meaning within an app) and working_dir.

async function loadNative(files: Record<string, string>): Promise<{ problems: string[]; state?: DesiredState }> {
  const root = await writeCheckout(files);
  const validation = await validateDir({ root, path: 'native', commit: 'b'.repeat(40), hashKey });
  return { problems: validation.problems.map(formatProblem), state: validation.state };
}

const shop = `app: shop
networks:
  front: {}
  back: {internal: true}
services:
  proxy:
    image: local/busybox:1
    networks: [front]
    ports: ["8080:80"]
  api:
    image: local/busybox:1
    working_dir: /srv
    networks:
      front:
      back: {aliases: [api.internal]}
      default:
  db:
    image: local/busybox:1
    networks: [back]
  other:
    image: local/busybox:1
`;

describe('native networks of an app, and working_dir', () => {
  after(cleanupCheckouts);

  it('loads declared networks and the ones each service joins, default first', async () => {
    const { problems, state } = await loadNative({ 'native/shop.yaml': shop });
    assert.deepEqual(problems, []);
    const app = state!.apps[0];
    assert.deepEqual(app.networks, [
      { name: 'back', internal: true },
      { name: 'front', internal: false },
    ]);
    const api = app.services.find((service) => service.name === 'api')!;
    assert.deepEqual(api.networks, [
      { network: 'default', aliases: [] },
      { network: 'back', aliases: ['api.internal'] },
      { network: 'front', aliases: [] },
    ]);
    assert.equal(app.services.find((service) => service.name === 'other')!.networks, undefined, 'left out: default only, as before');
    assert.equal(api.workingDir, '/srv');
  });

  it('plans <app>_<network> networks, and endpoints with the aliases', async () => {
    const { state } = await loadNative({ 'native/shop.yaml': shop });
    const layout = networkLayout(state!);
    assert.deepEqual(
      layout.networks.map((network) => [network.name, network.internal]),
      [
        ['shop_back', true],
        ['shop_default', false],
        ['shop_front', false],
      ],
    );
    assert.deepEqual(layout.endpoints('shop', 'api'), [
      { network: 'shop_default', aliases: ['api', 'api.shop'] },
      { network: 'shop_back', aliases: ['api', 'api.shop', 'api.internal'] },
      { network: 'shop_front', aliases: ['api', 'api.shop'] },
    ]);
    assert.deepEqual(layout.endpoints('shop', 'db'), [{ network: 'shop_back', aliases: ['db', 'db.shop'] }]);
    assert.deepEqual(layout.endpoints('shop', 'other'), [{ network: 'shop_default', aliases: ['other', 'other.shop'] }]);
    const app = state!.apps[0];
    const api = app.services.find((service) => service.name === 'api')!;
    const options = containerCreateOptions(app, api, 1, { name: 'shop-api-1', node: 'n', commit: 'c', endpoints: layout.endpoints('shop', 'api') });
    assert.equal(options.WorkingDir, '/srv');
    assert.deepEqual(options.NetworkingConfig, { EndpointsConfig: { shop_default: { Aliases: ['api', 'api.shop'] } } });
  });

  it('refuses undeclared and reserved networks, networks with network_mode or egress, and ports on internal networks only', async () => {
    const { problems } = await loadNative({
      'native/bad.yaml': `app: bad
networks:
  default: {}
  internal: {}
  quiet: {internal: true}
services:
  a:
    image: x
    networks: [nowhere]
  b:
    image: x
    network_mode: none
    networks: [quiet]
  c:
    image: x
    egress: false
    networks: [quiet]
  d:
    image: x
    networks: [quiet]
    ports: ["80"]
`,
    });
    assert.deepEqual(problems, [
      "native/bad.yaml:3:3: networks.default: 'default' cannot be declared: the app always has it (`<app>_default`); list it under a service's networks without declaring it [NETWORK_RESERVED]",
      "native/bad.yaml:4:3: networks.internal: 'internal' cannot be declared: it is the network of services with egress: false [NETWORK_RESERVED]",
      "native/bad.yaml:9:16: services.a.networks[0]: network 'nowhere' is not declared; add it under the top-level networks (networks: {nowhere: {}}) [NETWORK_UNDECLARED]",
      'native/bad.yaml:13:15: services.b.networks: a service with network_mode joins no network of the app; remove networks or network_mode [NETWORKS_WITH_NETWORK_MODE]',
      'native/bad.yaml:17:15: services.c.networks: egress: false chooses the networks itself; put the service on internal networks instead [NETWORKS_WITH_EGRESS]',
      'native/bad.yaml:21:12: services.d.ports: the service is on internal networks only, which Docker cannot publish ports from; remove ports or join a network that is not internal [PORTS_ON_INTERNAL_NETWORKS]',
    ]);
  });

  it('refuses a declared network whose Docker name is another app\'s network', async () => {
    const { problems } = await loadNative({
      'native/a.yaml': 'app: a\nnetworks:\n  b_default: {}\nservices:\n  web:\n    image: x\n    networks: [b_default]\n',
      'native/a_b.yaml': 'app: a_b\nservices:\n  web:\n    image: x\n',
    });
    assert.deepEqual(problems, ["native/a.yaml: networks.b_default: the Docker network 'a_b_default' would also be a network of app 'a_b'; rename the network [NETWORK_NAME_CLASH]"]);
  });

  it('a change of networks or aliases changes the config hash; leaving them out keeps it', async () => {
    const hashes = async (text: string) => (await loadNative({ 'native/shop.yaml': text })).state!.apps[0].services.map((service) => service.configHash);
    const base = await hashes(shop);
    const aliased = await hashes(shop.replace('api.internal', 'api.private'));
    assert.notEqual(aliased[0], base[0], 'api (first by name) has another alias');
    assert.equal(aliased[2], base[2], 'other is untouched');
  });
});
