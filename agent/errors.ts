// Typed errors, as in Flux and isomorphic-git: a stable `code`, a message for a person, and
// structured `data` for logs. The class decides what the agent does next (cycle-retry.ts, from
// the cycle's outcome, reconcile.ts):
//   terminal   – bad manifest, missing variable, undecryptable secret: wait for a new commit,
//                change nothing;
//   transient  – git or Docker unreachable: retry with backoff and jitter, containers untouched;
//   not-ready  – still pending after apply (a health check): check again, backing off too.
// No message or data field may ever contain a secret value.

export type ErrorClass = 'terminal' | 'transient' | 'not-ready';

export class CapstanError extends Error {
  readonly code: string;
  readonly errorClass: ErrorClass;
  readonly data: Record<string, unknown>;

  constructor(
    code: string,
    errorClass: ErrorClass,
    message: string,
    data: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CapstanError';
    this.code = code;
    this.errorClass = errorClass;
    this.data = data;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, class: this.errorClass, message: this.message, data: this.data };
  }
}

/** One problem in the manifests, located as precisely as the loader can. */
export interface ManifestProblem {
  /** Stable code: `YAML_SYNTAX`, `SCHEMA`, `UNKNOWN_KEY`, `UNDEFINED_VARIABLE`, `DUPLICATE_APP`, … */
  code: string;
  /** Path relative to the checkout root. */
  file: string;
  /** 1-based line and column; 0 when unknown. */
  line: number;
  column: number;
  /** Key path in the document, e.g. `services.web.ports[0]`; empty for the whole file. */
  key: string;
  /** What is wrong and, where it helps, what to do. Never contains a secret value. */
  message: string;
  /** A host-policy refusal: the policy-file settings that would lift it (the load ends with their snippet). */
  grant?: Record<string, unknown>;
}

export function formatProblem(problem: ManifestProblem): string {
  const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  const key = problem.key ? ` ${problem.key}:` : '';
  // A message of several lines (a policy snippet) ends with them, so they can be copied as they are.
  const newline = problem.message.indexOf('\n');
  if (newline >= 0) return `${where}:${key} ${problem.message.slice(0, newline)} [${problem.code}]${problem.message.slice(newline)}`;
  return `${where}:${key} ${problem.message} [${problem.code}]`;
}

/** A commit whose manifests do not load. Terminal: nothing of the commit is applied. */
export class ManifestError extends CapstanError {
  readonly problems: ManifestProblem[];

  constructor(problems: ManifestProblem[]) {
    const head = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      'MANIFEST_INVALID',
      'terminal',
      `manifests do not load (${head}):\n` + problems.map((p) => '  ' + formatProblem(p)).join('\n'),
      { problems },
    );
    this.name = 'ManifestError';
    this.problems = problems;
  }
}
