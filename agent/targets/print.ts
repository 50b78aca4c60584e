// The layout every target's plan is printed in (`capstan plan`, golden tests), so a plan reads
// the same for containers and Swarm. Each target's print.ts describes its own operations.

/** One printed operation: what it does, why, and what it waits for (already formatted). */
export interface PrintedOperation {
  id: number;
  text: string;
  cause: string;
  after: string;
}

/** The layout every target's plan shares, so `capstan plan` reads the same for containers and Swarm. */
export function renderPlan(heading: string, problems: { code: string; message: string }[], operations: PrintedOperation[]): string {
  const lines = [`${heading}: ${summary(problems.length, operations.length)}`];
  for (const problem of problems) lines.push(`  ! ${problem.code}: ${problem.message}`);
  for (const operation of operations) {
    const after = operation.after ? `  (after ${operation.after})` : '';
    lines.push(`  ${String(operation.id).padStart(3)}. ${operation.text.padEnd(51)} ${operation.cause}${after}`);
  }
  return lines.join('\n') + '\n';
}

function summary(problems: number, operations: number): string {
  if (problems > 0) return `blocked by ${problems} problem(s), nothing will change`;
  if (operations === 0) return 'in sync, nothing to do';
  return `${operations} operation(s)`;
}

/**
 * A plan as `capstan plan --json` prints it: every operation without its `spec`, the execution
 * payload (a service's environment, a build's arguments, a secret's value) that no printer shows.
 */
export function planJson(plan: { operations: unknown[] }): string {
  const withoutSpec = (operation: unknown) => Object.fromEntries(Object.entries(operation as object).filter(([key]) => key !== 'spec'));
  const printable = { ...plan, operations: plan.operations.map(withoutSpec) };
  return JSON.stringify(printable, null, 2) + '\n';
}
