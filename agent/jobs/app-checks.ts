import type { KeyPath, PathProblem } from '../load/problems.js';
import type { AppDraft } from '../load/normalize/draft.js';

/**
 * A scheduled job has no replica between its runs, so nothing may wait for it or live in its
 * network namespace, and it cannot live in another's (its runs outlive no replacement). Pure.
 */
export function jobProblems(app: AppDraft): PathProblem[] {
  const problems: PathProblem[] = [];
  const jobs = new Set(app.services.filter((service) => service.job !== undefined).map((service) => service.name));
  if (jobs.size === 0) return problems;
  for (const service of app.services) {
    for (const dependency of service.dependsOn ?? []) {
      if (!jobs.has(dependency.service)) continue;
      const path: KeyPath = ['services', service.name, 'depends_on'];
      problems.push({ code: 'JOB_DEPENDENCY', path, message: `'${dependency.service}' is a scheduled job: it runs only at its times, so nothing can wait for it` });
    }
    const mode = service.networkMode;
    if (mode?.kind !== 'service') continue;
    const path: KeyPath = ['services', service.name, 'network_mode'];
    if (jobs.has(mode.service)) problems.push({ code: 'JOB_NETWORK_MODE', path, message: `'${mode.service}' is a scheduled job, with no container to share the network of between its runs` });
    else if (service.job) problems.push({ code: 'JOB_NETWORK_MODE', path, message: 'a scheduled job joins its app\'s networks; it cannot share the network namespace of a service' });
  }
  return problems;
}
