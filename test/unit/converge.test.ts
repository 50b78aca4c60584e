// The order every target's `converge` shares (agent/targets/converge.ts), against fake stages:
// what each way of stopping returns, with its typed reason and error class.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { CapstanError } from '../../agent/errors.js';
import type { DesiredState, Service } from '../../agent/model.js';
import { convergeWith, emptyStateProblem, type Executed, type TargetStages } from '../../agent/targets/converge.js';
import type { TargetPlan } from '../../agent/targets/target.js';

const web = { name: 'web', replicas: 2, configHash: 'h1' } as Service;
const desired: DesiredState = { commit: 'c1', apps: [{ name: 'shop', source: { file: 'shop.yaml', line: 1 }, services: [web], volumes: [] }] };
const context = { logger: pino({ level: 'silent' }), cycleId: 1 };

/** Observed state is the number of ready replicas; plans are given in order, one per observation. */
function stages(plans: (TargetPlan | Error)[], executed: Executed = { changes: ['did it'], rolloutFailures: [] }): TargetStages<number, TargetPlan> & { executions: number } {
  let observations = 0;
  const fake = {
    executions: 0,
    observeAndPlan: async () => {
      const next = plans[observations++];
      if (next instanceof Error) throw next;
      return { observed: observations === 1 ? 1 : 2, plan: next };
    },
    execute: async () => {
      fake.executions++;
      return executed;
    },
    pending: (plan: TargetPlan) => plan.operations.map(String),
    readyReplicas: (observed: number) => observed,
    inUseCommits: () => ['c0'],
  };
  return fake;
}
const planOf = (operations: unknown[], problems: { code: string; message: string }[] = []): TargetPlan => ({ commit: 'c1', node: 'n1', operations, problems });

describe('convergeWith', () => {
  it('is in sync without executing when the plan is empty', async () => {
    const fake = stages([planOf([])]);
    const result = await convergeWith(fake, desired, context);
    assert.deepEqual([result.result, fake.executions, result.services?.[0].readyReplicas], ['in-sync', 0, 1]);
    assert.deepEqual(result.inUseCommits, ['c0']);
  });

  it('executes, observes again, and says applied with what it sees then', async () => {
    const fake = stages([planOf(['op']), planOf([])]);
    const result = await convergeWith(fake, desired, context);
    assert.deepEqual([result.result, result.changes, result.services?.[0].readyReplicas], ['applied', ['did it'], 2]);
  });

  it('names each way of stopping with its reason and error class', async () => {
    const table: [string, TargetStages<number, TargetPlan>, string, string | undefined, string][] = [
      ['observe throws', stages([new Error('socket hang up')]), 'OBSERVE_FAILED', undefined, 'transient'],
      ['observe throws a typed error', stages([new CapstanError('DOCKER_DENIED', 'terminal', 'permission denied')]), 'OBSERVE_FAILED', 'DOCKER_DENIED', 'terminal'],
      ['the plan is blocked', stages([planOf([], [{ code: 'NAME_CONFLICT', message: 'taken' }])]), 'PLAN_BLOCKED', 'NAME_CONFLICT', 'terminal'],
      ['an operation fails', stages([planOf(['op'])], { changes: [], failure: { message: 'pull: unreachable', errorClass: 'transient' }, rolloutFailures: [] }), 'APPLY_FAILED', undefined, 'transient'],
      [
        'the new config fails',
        stages([planOf(['op'])], { changes: [], failure: { message: 'not ready', errorClass: 'transient' }, rolloutFailures: [{ app: 'shop', service: 'web', message: 'exited 3' }] }),
        'APPLY_FAILED',
        undefined,
        'terminal',
      ],
      ['work is still pending after', stages([planOf(['op']), planOf(['op'])]), 'NOT_CONVERGED', undefined, 'not-ready'],
    ];
    for (const [name, fake, reason, code, errorClass] of table) {
      const result = await convergeWith(fake, desired, context);
      assert.deepEqual([result.result, result.reason, result.code, result.errorClass], ['failed', reason, code, errorClass], name);
    }
  });
});

describe('emptyStateProblem', () => {
  const empty: DesiredState = { commit: 'c1', apps: [] };
  const running = { count: 3, what: 'managed container(s)', verb: 'prune' };
  it('refuses a commit that renders nothing while something runs, unless allowed or placed elsewhere', () => {
    assert.equal(emptyStateProblem(empty, running, false)?.code, 'EMPTY_DESIRED_STATE');
    assert.match(emptyStateProblem(empty, running, false)?.message ?? '', /runs 3 managed container\(s\); refusing to prune them all/);
    assert.equal(emptyStateProblem(empty, running, true), undefined);
    assert.equal(emptyStateProblem(empty, { ...running, count: 0 }, false), undefined);
    assert.equal(emptyStateProblem({ ...empty, placedElsewhere: 2 }, running, false), undefined);
    assert.equal(emptyStateProblem(desired, running, false), undefined);
  });
});
