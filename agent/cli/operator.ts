import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { systemClock } from '../clock.js';
import { describeCommand, localUser } from '../control/decide.js';
import { ControlStore, type CommandArgs, type OperatorCommand, type OperatorCommandName } from '../control/store.js';
import { CapstanError } from '../errors.js';
import { createLogger } from '../log.js';
import { newEvent, Notifier, parseNotifyTargets } from '../notify/index.js';
import { processExists } from '../state/cycle-lock.js';
import type { Db } from '../state/db.js';
import { openState } from '../state/open.js';
import type { StateStore } from '../state/store.js';
import { resolveConfig, type AgentConfig } from './config.js';
import { configFlags, withConfigOptions } from './options.js';

// What the operator commands share (sync, suspend, resume, pin, unpin, rollback, retry; one file
// each under commands/): they run on the host, write to the state dir's SQLite, and the running
// agent polls for cycle requests once a second (agent/control/). No port is opened anywhere.

export interface Operator {
  config: AgentConfig;
  db: Db;
  store: StateStore;
  control: ControlStore;
  /** The local user running the command. */
  user: string;
  /** Whether a `capstan run` lives on this state dir (its heartbeat's pid exists, and it did not stop). */
  agentAlive(): boolean;
}

/** The options every operator command takes: the agent's settings, `--reason`, and waiting for the cycle. */
export function operatorCommand(name: string, description: string, waits = true): Command {
  const command = withConfigOptions(new Command(name)).description(description);
  if (waits) {
    command
      .option('--no-wait', 'return once the request is recorded, without waiting for the cycle')
      .option('--timeout <duration>', 'how long to wait for the cycle to finish, e.g. 90s, 30m (default 30m)', '30m');
  }
  return command;
}

/** Opens the state dir (no repository needed), runs `act`, closes it. */
export async function withOperator(options: Record<string, unknown>, act: (operator: Operator) => Promise<void>): Promise<void> {
  const config = resolveConfig(configFlags(options), process.env, process.cwd(), { requireRepo: false });
  const { db, store } = openState(config);
  const operator: Operator = {
    config,
    db,
    store,
    control: new ControlStore(db, config.node),
    user: localUser(userInfo().username, process.env),
    agentAlive: () => {
      const beat = store.heartbeat;
      return beat !== null && beat.stoppedAt === undefined && processExists(beat.pid);
    },
  };
  try {
    await act(operator);
  } finally {
    store.close();
  }
}

/**
 * Records the command in `history` and sends its notification. With an agent running, the
 * command also asks it for a cycle (it picks the request up within a second); without one, the
 * next `capstan run` or `once` honours what the command set. Returns the command's row.
 */
export async function recordCommand(operator: Operator, command: OperatorCommandName, args: CommandArgs, wantsCycle = true): Promise<OperatorCommand> {
  const { config, db, control, user } = operator;
  const alive = operator.agentAlive();
  const id = control.record(command, args, user, wantsCycle && alive);
  const notifier = new Notifier({
    db,
    targets: parseNotifyTargets(config.notify, { env: process.env, readFile: (path) => readFileSync(path, 'utf8') }),
    clock: systemClock,
    logger: createLogger({ destination: 2, level: 'warn' }),
  });
  notifier.notify(newEvent(systemClock, { kind: 'operator', node: config.node, commit: args.commit ?? null, reason: command, message: `${user}: capstan ${describeCommand(command, args)}` }));
  // A running agent sends the queue (it shares the database); otherwise send it now.
  if (!alive) await notifier.pump();
  return control.command(id) as OperatorCommand;
}

/**
 * Waits for the cycle the command asked for and prints its outcome; returns the exit code
 * (0 converged, 1 otherwise). Polls SQLite four times a second; gives up after `timeout` or
 * when the agent stops first.
 */
export async function awaitCycle(operator: Operator, recorded: OperatorCommand, options: Record<string, unknown>): Promise<number> {
  if (!recorded.wantsCycle) {
    process.stdout.write('no agent is running on this state dir: the next `capstan run` or `capstan once` applies it\n');
    return 0;
  }
  if (options.wait === false) {
    process.stdout.write(`cycle requested (command ${recorded.id}); the agent starts it within a second or after the cycle in flight\n`);
    return 0;
  }
  const timeoutMs = parseTimeout(options.timeout);
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    const current = operator.control.command(recorded.id);
    if (current?.result) return printOutcome(current);
    if (current?.takenAt && !announced) {
      process.stderr.write(`capstan: cycle started at ${current.takenAt}, waiting for it to finish\n`);
      announced = true;
    }
    if (!operator.agentAlive()) {
      process.stderr.write('capstan: the agent stopped before the cycle finished; `capstan status` shows what it left\n');
      return 1;
    }
    if (Date.now() > deadline) {
      process.stderr.write(`capstan: no outcome after ${String(options.timeout)}; the request stays queued (\`capstan history --commands\`)\n`);
      return 1;
    }
    await sleep(250);
  }
}

function printOutcome(command: OperatorCommand): number {
  const converged = command.result === 'applied' || command.result === 'in-sync';
  const line = `cycle ${command.cycleId ?? '-'}: ${command.result}${command.message ? `: ${command.message}` : ''}\n`;
  if (converged) process.stdout.write(line);
  else process.stderr.write(`capstan: ${line}`);
  return converged ? 0 : 1;
}

function parseTimeout(value: unknown): number {
  const match = /^([0-9]{1,6})(ms|s|m|h)$/.exec(String(value));
  if (!match) throw new CapstanError('CONFIG_INVALID', 'terminal', `invalid --timeout '${String(value).slice(0, 40)}': a duration such as 90s or 30m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}
