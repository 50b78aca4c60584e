// What `capstan status` says, decided from plain facts (SQLite rows, Docker's containers, the
// clock, which processes exist), so every rule is unit-tested without an engine. The command
// (commands/status.ts) gathers the facts and prints the report; `--json` prints it as it is.
import { isReadyReplica, type StatusReplica } from '../targets/status.js';
import type { Pin, Suspension } from '../control/store.js';
import type { AgentHeartbeat, CycleRecord, DeploymentRecord, FailureOutput, LastError, QuarantineRecord, RolloutProgress } from '../state/store.js';

/** A quarantine younger than this is shown by `status`; older ones only by `history --quarantined`. */
export const RECENT_QUARANTINE_MS = 24 * 60 * 60 * 1000;

export type ObservedReplica = StatusReplica;

export interface StatusFacts {
  node: string;
  target: string;
  now: number;
  heartbeat: AgentHeartbeat | null;
  /** The pid holding the cycle lock, if its file names one. */
  lockHolderPid: number | null;
  isAlive: (pid: number) => boolean;
  appliedCommit: string | null;
  attemptedCommit: string | null;
  lastError: LastError | null;
  lastCycle: CycleRecord | null;
  /** The latest cycles of the applied and the attempted commit, latest first. */
  commitCycles: CycleRecord[];
  nextCycleAt: string | null;
  quarantined: QuarantineRecord[];
  rollout: RolloutProgress[];
  /** What the failed replicas of the last error's commit printed last. */
  failureOutputs: FailureOutput[];
  deployments: DeploymentRecord[];
  containers: ObservedReplica[];
  /** `capstan pin`/`rollback`: the commit the host is held on, and what the last cycle found of it. */
  pin?: Pin | null;
  /** `capstan suspend`: what is left alone, by whom, since when, why. */
  suspensions?: Suspension[];
}

export type AgentState = 'running' | 'stopped' | 'not running' | 'never started';

export interface CommitFacts {
  commit: string;
  author: string | null;
  subject: string | null;
  /** The result and reason of this commit's last finished cycle: a reason always names its own commit. */
  result: string | null;
  reason: string | null;
  at: string | null;
}

export interface ServiceStatus {
  app: string;
  service: string;
  desiredReplicas: number;
  runningReplicas: number;
  upToDateReplicas: number;
  /** Running the current config, and healthy when Docker runs a health check. */
  readyReplicas: number;
  /** `healthy`, `2 starting`, `1 unhealthy`…, or `no check`. */
  health: string;
  /** Runs to completion (`restart: no` / `on-failure`): judged by its exit codes, not by running. */
  oneShot: boolean;
  /** For a one-shot: `completed`, `failed`, `running` or `pending`, with the exit codes seen. */
  completion?: { state: 'completed' | 'failed' | 'running' | 'pending'; exitCodes: number[] };
  image: string;
  configHash: string;
  commit: string;
  lastChange: string;
}

export interface StatusReport {
  node: string;
  target: string;
  agent: { state: AgentState; alive: boolean; pid: number | null; startedAt: string | null; heartbeatAt: string | null; stoppedAt: string | null };
  appliedCommit: string | null;
  attemptedCommit: string | null;
  applied: CommitFacts | null;
  attempted: CommitFacts | null;
  lastError: LastError | null;
  lastCycle: (CycleRecord & { note?: string }) | null;
  /** Null when no agent will run one (it is not running). */
  nextCycleAt: string | null;
  /** The rollout in flight; `interrupted` when its cycle's process is gone. */
  rollout: { inFlight: boolean; interrupted: boolean; services: RolloutProgress[] } | null;
  /** Active (the head) or younger than a day; `olderQuarantines` counts the rest. */
  quarantined: QuarantineRecord[];
  olderQuarantines: number;
  failureOutputs: FailureOutput[];
  services: ServiceStatus[];
  pin: Pin | null;
  suspended: Suspension[];
}

export function statusReport(facts: StatusFacts): StatusReport {
  const agent = agentState(facts);
  const cycleAlive = facts.lockHolderPid !== null && facts.isAlive(facts.lockHolderPid);
  const last = facts.lastCycle;
  let lastCycle: StatusReport['lastCycle'] = last;
  // A cycle still marked running whose process is gone was killed: say so, not "running".
  if (last && last.result === 'running' && !cycleAlive) lastCycle = { ...last, result: 'interrupted', note: 'its process is gone; the next cycle converges from what Docker shows' };
  const inFlight = lastCycle?.result === 'running';
  const recent = facts.quarantined.filter((entry) => entry.commit === facts.attemptedCommit || facts.now - Date.parse(entry.at) < RECENT_QUARANTINE_MS);
  return {
    node: facts.node,
    target: facts.target,
    agent,
    appliedCommit: facts.appliedCommit,
    attemptedCommit: facts.attemptedCommit,
    applied: facts.appliedCommit ? commitFacts(facts.appliedCommit, facts.commitCycles) : null,
    attempted: facts.attemptedCommit ? commitFacts(facts.attemptedCommit, facts.commitCycles) : null,
    lastError: facts.lastError,
    lastCycle,
    nextCycleAt: agent.alive ? facts.nextCycleAt : null,
    rollout: facts.rollout.length > 0 ? { inFlight, interrupted: !inFlight, services: facts.rollout } : null,
    quarantined: recent,
    olderQuarantines: facts.quarantined.length - recent.length,
    failureOutputs: facts.failureOutputs,
    services: facts.deployments.map((deployment) => serviceStatus(deployment, facts.containers)),
    pin: facts.pin ?? null,
    suspended: facts.suspensions ?? [],
  };
}

function agentState(facts: StatusFacts): StatusReport['agent'] {
  const beat = facts.heartbeat;
  if (!beat) return { state: 'never started', alive: false, pid: null, startedAt: null, heartbeatAt: null, stoppedAt: null };
  const alive = beat.stoppedAt === undefined && facts.isAlive(beat.pid);
  const state: AgentState = alive ? 'running' : beat.stoppedAt !== undefined ? 'stopped' : 'not running';
  return { state, alive, pid: beat.pid, startedAt: beat.startedAt, heartbeatAt: beat.heartbeatAt, stoppedAt: beat.stoppedAt ?? null };
}

function commitFacts(commit: string, cycles: CycleRecord[]): CommitFacts {
  const own = cycles.filter((cycle) => cycle.commit === commit);
  const finished = own.find((cycle) => cycle.result !== 'running');
  const described = own.find((cycle) => cycle.commitAuthor);
  return {
    commit,
    author: described?.commitAuthor ?? null,
    subject: described?.commitMessage ?? null,
    result: finished?.result ?? null,
    reason: finished?.reason ?? null,
    at: finished?.finishedAt ?? null,
  };
}

export function serviceStatus(deployment: DeploymentRecord, observed: ObservedReplica[]): ServiceStatus {
  const containers = observed.filter((container) => container.app === deployment.app && container.service === deployment.service);
  const running = containers.filter((container) => container.state === 'running');
  const status: ServiceStatus = {
    app: deployment.app,
    service: deployment.service,
    desiredReplicas: deployment.replicas,
    runningReplicas: running.length,
    upToDateReplicas: running.filter((container) => container.configHash === deployment.configHash).length,
    readyReplicas: containers.filter((container) => isReadyReplica(container, deployment.configHash)).length,
    health: healthSummary(running.map((container) => container.health)),
    oneShot: deployment.oneShot,
    image: deployment.image,
    configHash: deployment.configHash.slice(0, 12),
    commit: deployment.commit,
    lastChange: deployment.updatedAt,
  };
  if (deployment.oneShot) status.completion = completion(containers.filter((container) => container.configHash === deployment.configHash), deployment.replicas);
  return status;
}

/** A one-shot is done when every replica exited 0; one non-zero exit is a failure. */
function completion(current: ObservedReplica[], replicas: number): NonNullable<ServiceStatus['completion']> {
  const exitCodes = current.flatMap((container) => (container.state === 'exited' && typeof container.exitCode === 'number' ? [container.exitCode] : []));
  if (exitCodes.some((code) => code !== 0)) return { state: 'failed', exitCodes };
  if (current.some((container) => container.state === 'running' || container.state === 'restarting')) return { state: 'running', exitCodes };
  if (exitCodes.length >= replicas) return { state: 'completed', exitCodes };
  return { state: 'pending', exitCodes };
}

/** The READY column: `2/3`, or for a one-shot `completed (exit 0)`, `failed (exit 3)`, `running`. */
export function readyCell(service: ServiceStatus): string {
  const done = service.completion;
  if (!done) return `${service.readyReplicas}/${service.desiredReplicas}`;
  const codes = [...new Set(done.exitCodes)].join(', ');
  if (done.state === 'completed' || done.state === 'failed') return `${done.state} (exit ${codes})`;
  return done.state;
}

export function healthSummary(states: (string | null)[]): string {
  if (states.length === 0) return '-';
  if (states.every((state) => state === null)) return 'no check';
  const counts = new Map<string, number>();
  for (const state of states) counts.set(state ?? 'no check', (counts.get(state ?? 'no check') ?? 0) + 1);
  if (counts.size === 1 && counts.has('healthy')) return 'healthy';
  return [...counts].map(([state, count]) => `${count} ${state}`).join(', ');
}

/** The report as `capstan status` prints it for a person. */
export function renderStatus(report: StatusReport, now: number): string[] {
  const lines = [`node:       ${report.node}`, `agent:      ${agentLine(report.agent)}`];
  lines.push(`applied:    ${commitLine(report.applied)}`);
  if (report.attempted && report.attempted.commit !== report.appliedCommit) {
    lines.push(`attempted:  ${commitLine(report.attempted)}${report.attempted.reason ? ` → ${report.attempted.result} [${report.attempted.reason}]` : ''}`);
  }
  const last = report.lastCycle;
  if (last) {
    lines.push(`last cycle: ${last.result}${last.reason ? ` [${last.reason}]` : ''} at ${last.finishedAt ?? last.startedAt} (commit ${last.commit?.slice(0, 12) ?? '-'})`);
    if (last.note) lines.push(`            ${last.note}`);
  }
  if (report.nextCycleAt) {
    const due = Date.parse(report.nextCycleAt);
    lines.push(`next cycle: ${due < now ? `after the cycle in flight (was due ${report.nextCycleAt})` : report.nextCycleAt}`);
  } else if (!report.agent.alive) {
    lines.push('next cycle: none: no agent is running (`capstan run`)');
  }
  lines.push(...controlLines(report));
  if (report.rollout) {
    const { inFlight, services } = report.rollout;
    for (const progress of services) {
      lines.push(
        `${inFlight ? 'rollout:   ' : 'rollout interrupted:'} ${progress.app}/${progress.service} ${progress.done}/${progress.total} replicas ready, ${progress.phase} (commit ${progress.commit.slice(0, 12)}, since ${progress.startedAt})`,
      );
    }
  }
  for (const entry of report.quarantined) lines.push(`quarantined: ${entry.commit.slice(0, 12)} since ${entry.at}: ${entry.reason}: ${entry.message}`);
  if (report.olderQuarantines > 0) lines.push(`            (${report.olderQuarantines} older quarantined commit(s): capstan history --quarantined)`);
  if (report.lastError) {
    lines.push(`last error: [${report.lastError.code}] for commit ${report.lastError.commit?.slice(0, 12) ?? '-'} at ${report.lastError.at}:`, indent(report.lastError.message));
  }
  for (const kept of report.failureOutputs) lines.push(...outputLines(kept));
  return lines;
}

/** What operators set: the pin (and how far the branch moved on), each suspension. */
export function controlLines(report: Pick<StatusReport, 'pin' | 'suspended'>): string[] {
  const lines: string[] = [];
  const { pin } = report;
  if (pin) {
    lines.push(`pinned:     ${pin.commit.slice(0, 12)} by ${pin.user} at ${pin.at}${pin.reason ? `: ${pin.reason}` : ''} (\`capstan unpin\` follows the branch again)`);
    if (pin.problem) lines.push(`            not deployable: ${pin.problem}`);
    else if (pin.head !== null && pin.ahead !== null) {
      lines.push(`            branch head ${pin.head.slice(0, 12)} is ${pin.ahead} commit(s) ahead (checked ${pin.checkedAt})`);
    } else lines.push('            not checked by a cycle yet');
  }
  for (const row of report.suspended) {
    lines.push(`suspended:  ${row.app === '*' ? 'everything' : row.app} by ${row.user} since ${row.at}${row.reason ? `: ${row.reason}` : ''}`);
  }
  return lines;
}

/** A kept output as `status` and `history COMMIT` print it. */
export function outputLines(kept: Pick<FailureOutput, 'kind' | 'subject' | 'exitCode' | 'output'>): string[] {
  const what = kept.kind === 'build' ? `build of ${kept.subject}` : kept.kind === 'hook' ? `hook job ${kept.subject}` : kept.subject;
  return [`last output of ${what}${kept.exitCode === null ? '' : ` (exit code ${kept.exitCode})`}:`, indent(kept.output || '(nothing printed)', '  | ')];
}

function agentLine(agent: StatusReport['agent']): string {
  if (agent.state === 'never started') return 'never started on this state dir (`capstan run`)';
  if (agent.state === 'running') return `running (pid ${agent.pid}, last heartbeat ${agent.heartbeatAt})`;
  if (agent.state === 'stopped') return `stopped at ${agent.stoppedAt} (pid ${agent.pid})`;
  return `NOT RUNNING: pid ${agent.pid} is gone without stopping (killed?); last heartbeat ${agent.heartbeatAt}`;
}

function commitLine(facts: CommitFacts | null): string {
  if (!facts) return '(none yet)';
  const by = facts.author ? ` by ${facts.author.replace(/\s*<[^>]*>$/, '')}` : '';
  return `${facts.commit.slice(0, 12)}${facts.subject ? ` "${facts.subject}"` : ''}${by}`;
}

function indent(text: string, prefix = '  '): string {
  return text
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}
