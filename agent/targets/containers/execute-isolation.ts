// Isolation between apps is a security guarantee, and it is the engine's: Docker's bridge driver
// keeps it in the host's iptables filter table, in the DOCKER-ISOLATION-STAGE-1/2 chains that
// FORWARD jumps to. Those rules can be missing: an engine started with --iptables=false, a
// firewall tool that flushed the table (firewalld or ufw reloading, `iptables -F`, another
// program rewriting the ruleset), until dockerd restarts. So before a replica is started on a
// network, its rules are read back (one `iptables-save -t filter`, ~10 ms), and a network whose
// isolation is not in place gets no replica started on it.
//
// What the engine writes, per bridge BR (Docker 20.10 to 27):
//   FORWARD                   -j DOCKER-ISOLATION-STAGE-1          (before BR's ACCEPT rules)
//   DOCKER-ISOLATION-STAGE-1  -i BR ! -o BR -j DOCKER-ISOLATION-STAGE-2
//   DOCKER-ISOLATION-STAGE-2  -o BR -j DROP
// and for an internal network with subnet S:
//   DOCKER-ISOLATION-STAGE-1  ! -s S -o BR -j DROP
//   DOCKER-ISOLATION-STAGE-1  ! -d S -i BR -j DROP
//
// Why the network test once saw a connection across apps: Docker 20.10 re-inserts the FORWARD
// jump to DOCKER-ISOLATION-STAGE-1 every time any network is created on the engine (it deletes
// the rule, then inserts it on top), and in between, traffic from one bridge to another meets
// the bridge's own `-i BR ! -o BR -j ACCEPT`. A connection whose first packet passes in that
// window stays open (conntrack's ESTABLISHED rule). Sampling `iptables -S FORWARD` while
// networks are created finds the jump missing (1 of 107 samples here). Capstan cannot close an
// engine's window; it refuses where the rules are missing for longer, and doctor says so.
import { execFile } from 'node:child_process';
import type Docker from 'dockerode';
import { CapstanError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Clock } from '../../clock.js';

export interface BridgeNetwork {
  name: string;
  /** The host's bridge interface: `br-<first 12 of the id>` unless the network names one. */
  bridge: string;
  internal: boolean;
  /** IPv4 subnets, which an internal network's rules name. */
  subnets: string[];
}

/** Whether `rules` (`iptables-save -t filter`) isolate `network` from the engine's other networks. */
export function isolationOf(rules: string, network: BridgeNetwork): IsolationVerdict {
  const lines = rules.split('\n').map((line) => line.trim().replace(/\s+/g, ' '));
  const has = (rule: string) => lines.includes(rule);
  const exposed = (reason: string): IsolationVerdict => ({ state: 'exposed', reason });
  const missing = (rules: string[]): IsolationVerdict => {
    const absent = rules.filter((rule) => !has(rule));
    return absent.length === 0 ? { state: 'isolated' } : exposed(`missing ${absent.join('; ')}`);
  };
  const bridge = network.bridge;
  // Docker 28 moved isolation into per-bridge rules of its DOCKER chain, behind DOCKER-FORWARD.
  if (lines.some((line) => line.startsWith(':DOCKER-FORWARD '))) {
    if (network.internal) return { state: 'unknown', reason: 'the engine\'s rules for internal networks (Docker 28 or later) are not read here' };
    return missing([`-A DOCKER ! -i ${bridge} -o ${bridge} -j DROP`]);
  }
  const forward = lines.filter((line) => line.startsWith('-A FORWARD '));
  const jump = forward.indexOf('-A FORWARD -j DOCKER-ISOLATION-STAGE-1');
  if (jump < 0) return exposed('the FORWARD chain does not jump to DOCKER-ISOLATION-STAGE-1');
  const firstAccept = forward.findIndex((line) => line.includes(` ${bridge} `) && line.endsWith('-j ACCEPT'));
  if (firstAccept >= 0 && firstAccept < jump) return exposed(`FORWARD accepts traffic of ${bridge} before the isolation rules see it`);
  if (network.internal) {
    if (network.subnets.length === 0) return exposed(`internal network ${network.name} has no IPv4 subnet`);
    return missing(network.subnets.flatMap((subnet) => [
      `-A DOCKER-ISOLATION-STAGE-1 ! -s ${subnet} -o ${bridge} -j DROP`,
      `-A DOCKER-ISOLATION-STAGE-1 ! -d ${subnet} -i ${bridge} -j DROP`,
    ]));
  }
  return missing([
    `-A DOCKER-ISOLATION-STAGE-1 -i ${bridge} ! -o ${bridge} -j DOCKER-ISOLATION-STAGE-2`,
    `-A DOCKER-ISOLATION-STAGE-2 -o ${bridge} -j DROP`,
  ]);
}

export type IsolationVerdict = { state: 'isolated' } | { state: 'exposed'; reason: string } | { state: 'unknown'; reason: string };

export interface IsolationCheck {
  /**
   * Reads the engine's rules for `network`; one found exposed is read again (the engine's own
   * window, below) before the verdict says so.
   */
  verdict(network: string): Promise<IsolationVerdict>;
  /** Throws NETWORK_NOT_ISOLATED unless `network`'s isolation is in place (or cannot be read here, which is logged once). */
  assertIsolated(network: string, logger: Logger): Promise<void>;
}

export interface IsolationDeps {
  docker: Docker;
  /** The host's filter table as `iptables-save -t filter` prints it; throws when it cannot be read. */
  readRules: () => Promise<string>;
  clock: Clock;
}

/**
 * The gap Docker leaves while it re-inserts its FORWARD jump lasts milliseconds, but an engine
 * creating networks back to back (another app's rollout, a CI runner) reopens it again and again:
 * one re-read 300 ms later still found it open once in a full test run. A network found exposed
 * is read again up to RECHECKS times, RECHECK_MS apart (under 2 s in all), and refused only when
 * every read finds it exposed; rules a firewall reload flushed stay missing for far longer.
 */
const RECHECK_MS = 400;
const RECHECKS = 4;

/** Why this engine's rules are not in the host's iptables, or undefined when they should be. */
async function readEngineFacts(docker: Docker): Promise<string | undefined> {
  const info = await docker.info() as { SecurityOptions?: string[]; FirewallBackend?: { Driver?: string } };
  if ((info.SecurityOptions ?? []).some((option) => option.includes('name=rootless'))) return 'a rootless engine keeps its rules in its own network namespace';
  const backend = info.FirewallBackend?.Driver;
  if (backend !== undefined && !backend.startsWith('iptables')) return `the engine's firewall backend is ${backend}, not read here`;
  return undefined;
}

export function createIsolationCheck(deps: IsolationDeps): IsolationCheck {
  let warnedUnknown = false;
  let engineFacts: Promise<string | undefined> | undefined;
  const readVerdict = async (name: string): Promise<IsolationVerdict> => {
    const info = await deps.docker.getNetwork(name).inspect() as {
      Id: string; Driver?: string; Internal?: boolean; Options?: Record<string, string>; IPAM?: { Config?: Array<{ Subnet?: string }> };
    };
    if (info.Driver !== undefined && info.Driver !== 'bridge') return { state: 'unknown', reason: `network ${name} uses the ${info.Driver} driver, whose isolation is not read here` };
    const network: BridgeNetwork = {
      name,
      bridge: info.Options?.['com.docker.network.bridge.name'] ?? `br-${info.Id.slice(0, 12)}`,
      internal: info.Internal === true,
      subnets: (info.IPAM?.Config ?? []).flatMap((config) => (config.Subnet && !config.Subnet.includes(':') ? [config.Subnet] : [])),
    };
    const engine = await (engineFacts ??= readEngineFacts(deps.docker));
    if (engine !== undefined) return { state: 'unknown', reason: engine };
    let rules: string;
    try {
      rules = await deps.readRules();
    } catch (error) {
      return { state: 'unknown', reason: `the host's iptables rules cannot be read (${(error as Error).message.split('\n')[0]})` };
    }
    return isolationOf(rules, network);
  };
  const verdict = async (name: string): Promise<IsolationVerdict> => {
    let found = await readVerdict(name);
    for (let recheck = 0; found.state === 'exposed' && recheck < RECHECKS; recheck++) {
      await deps.clock.sleep(RECHECK_MS);
      found = await readVerdict(name);
    }
    return found;
  };
  return {
    verdict,
    async assertIsolated(name, logger) {
      const found = await verdict(name);
      if (found.state === 'unknown') {
        if (!warnedUnknown) logger.warn({ network: name, reason: found.reason }, 'network isolation not verified');
        warnedUnknown = true;
        return;
      }
      if (found.state === 'exposed') {
        throw new CapstanError('NETWORK_NOT_ISOLATED', 'transient',
          `network ${name} is not isolated from other networks by the engine (${found.reason}); no replica is started on it. ` +
          'Restart dockerd to restore its rules (a firewall reload may have flushed them), and check that it runs with iptables enabled; `capstan doctor` checks every network',
          { network: name, reason: found.reason });
      }
    },
  };
}

/** The real `readRules`, for the composition root: the filter table of this host. */
export function readHostRules(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('iptables-save', ['-t', 'filter'], { timeout: 10_000, maxBuffer: 32 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(stderr.trim() || error.message));
      else resolve(stdout);
    });
  });
}

/** The engine's rules are this host's only when the engine is: no DOCKER_HOST, or a unix socket. */
export function engineIsLocal(env: NodeJS.ProcessEnv): boolean {
  const host = env.DOCKER_HOST;
  return host === undefined || host === '' || host.startsWith('unix://');
}
