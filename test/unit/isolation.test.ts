import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createIsolationCheck, isolationOf, type BridgeNetwork } from '../../agent/targets/containers/execute-isolation.js';
import { createLogger } from '../../agent/log.js';
import { networkIsolationCheck } from '../../agent/cli/doctor/checks.js';

// The engine's isolation rules as `iptables-save -t filter` prints them on Docker 20.10 (taken
// from this project's test engine), and the ways they go missing.
const RULES = `*filter
:FORWARD DROP [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o br-01317d14ef1a -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o br-01317d14ef1a -j DOCKER
-A FORWARD -i br-01317d14ef1a ! -o br-01317d14ef1a -j ACCEPT
-A FORWARD -i br-01317d14ef1a -o br-01317d14ef1a -j ACCEPT
-A FORWARD -i br-39e6e27312a9 -o br-39e6e27312a9 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i br-01317d14ef1a ! -o br-01317d14ef1a -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 ! -s 192.168.224.0/20 -o br-39e6e27312a9 -j DROP
-A DOCKER-ISOLATION-STAGE-1 ! -d 192.168.224.0/20 -i br-39e6e27312a9 -j DROP
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o br-01317d14ef1a -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
COMMIT
`;
const app: BridgeNetwork = { name: 'shop_default', bridge: 'br-01317d14ef1a', internal: false, subnets: ['172.20.0.0/16'] };
const grant: BridgeNetwork = { name: 'db.postgres.grant', bridge: 'br-39e6e27312a9', internal: true, subnets: ['192.168.224.0/20'] };
const without = (rule: string) => RULES.split('\n').filter((line) => line !== rule).join('\n');

it('reads whether the engine isolates a network, and what is missing when it does not', () => {
  const table: [string, string, BridgeNetwork, string][] = [
    ['an app network with its rules', RULES, app, 'isolated'],
    ['an internal grant network with its rules', RULES, grant, 'isolated'],
    ['no FORWARD jump (the window while the engine re-inserts it, or a flushed table)', without('-A FORWARD -j DOCKER-ISOLATION-STAGE-1'), app, 'exposed'],
    ['no stage-1 rule for the bridge', without('-A DOCKER-ISOLATION-STAGE-1 -i br-01317d14ef1a ! -o br-01317d14ef1a -j DOCKER-ISOLATION-STAGE-2'), app, 'exposed'],
    ['no stage-2 drop for the bridge', without('-A DOCKER-ISOLATION-STAGE-2 -o br-01317d14ef1a -j DROP'), app, 'exposed'],
    ['an internal network missing its inbound drop', without('-A DOCKER-ISOLATION-STAGE-1 ! -s 192.168.224.0/20 -o br-39e6e27312a9 -j DROP'), grant, 'exposed'],
    ['an engine with --iptables=false (no Docker chains at all)', '*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n', app, 'exposed'],
    ['an ACCEPT for the bridge ahead of the isolation jump', RULES.replace('-A FORWARD -j DOCKER-USER\n', '-A FORWARD -i br-01317d14ef1a ! -o br-01317d14ef1a -j ACCEPT\n'), app, 'exposed'],
    ['a network of another bridge name', RULES, { ...app, bridge: 'br-000000000000' }, 'exposed'],
    ['Docker 28 layout, app network isolated', ':DOCKER-FORWARD - [0:0]\n-A DOCKER ! -i br-01317d14ef1a -o br-01317d14ef1a -j DROP\n', app, 'isolated'],
    ['Docker 28 layout, rule missing', ':DOCKER-FORWARD - [0:0]\n', app, 'exposed'],
    ['Docker 28 layout, internal network', ':DOCKER-FORWARD - [0:0]\n', grant, 'unknown'],
  ];
  for (const [what, rules, network, expected] of table) {
    const verdict = isolationOf(rules, network);
    assert.equal(verdict.state, expected, `${what}: ${JSON.stringify(verdict)}`);
    if (verdict.state === 'exposed') assert.ok(verdict.reason.length > 0);
  }
});

it('re-reads a network found exposed before refusing it (and before doctor fails it), and refuses one that stays exposed', async () => {
  const jumpless = without('-A FORWARD -j DOCKER-ISOLATION-STAGE-1');
  const docker = {
    info: async () => ({}),
    getNetwork: () => ({ inspect: async () => ({ Id: '01317d14ef1a0000', Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.20.0.0/16' }] } }) }),
  };
  const check = (reads: string[]) => {
    const slept: number[] = [];
    let read = 0;
    const isolation = createIsolationCheck({
      docker: docker as never,
      readRules: async () => reads[Math.min(read++, reads.length - 1)]!,
      clock: { now: () => 0, sleep: async (ms) => { slept.push(ms); } },
    });
    return { isolation, slept, reads: () => read };
  };
  const logger = createLogger({ level: 'silent' });

  // The engine's window reopened on three reads in a row (networks created back to back): no refusal.
  const busy = check([jumpless, jumpless, jumpless, RULES]);
  await busy.isolation.assertIsolated('shop_default', logger);
  assert.equal(busy.reads(), 4);

  // Rules a firewall reload flushed stay missing: refused after a bounded number of reads.
  const flushed = check([jumpless]);
  await assert.rejects(flushed.isolation.assertIsolated('shop_default', logger), (error: Error & { code?: string }) =>
    error.code === 'NETWORK_NOT_ISOLATED' && /does not jump to DOCKER-ISOLATION-STAGE-1/.test(error.message));
  assert.ok(flushed.reads() >= 3 && flushed.reads() <= 6, `read ${flushed.reads()} times`);
  assert.ok(flushed.slept.reduce((a, b) => a + b, 0) <= 2000);

  // doctor reads the same verdict: the window does not fail it, flushed rules do.
  const doctorBusy = check([jumpless, jumpless, RULES]);
  const listed = { ...docker, listNetworks: async () => [{ Name: 'shop_default' }] };
  const busyResult = await networkIsolationCheck(listed as never, 'n1', doctorBusy.isolation);
  assert.equal(busyResult.status, 'ok', busyResult.detail);
  assert.equal(doctorBusy.reads(), 3);
  const flushedResult = await networkIsolationCheck(listed as never, 'n1', check([jumpless]).isolation);
  assert.equal(flushedResult.status, 'fail');
  assert.match(flushedResult.detail, /shop_default .*does not jump to DOCKER-ISOLATION-STAGE-1/);
});
