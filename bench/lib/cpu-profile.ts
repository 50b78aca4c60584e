export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  /** Microseconds since the previous sample. */
  timeDeltas: number[];
}

/** `node_modules/isomorphic-git/…` → `isomorphic-git`; `dist/agent/source/x.js` → `agent/source`. */
function packageOf(url: string): string {
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1];
  const own = /\/dist\/((?:agent|bench|secrets)(?:\/[^/]+)?)\//.exec(url);
  if (own) return own[1];
  if (url.startsWith('node:')) return 'node (built-in)';
  return url === '' ? '(V8: gc, idle, program)' : url;
}

/** `skipMs` leaves out the first milliseconds (start-up), to look at the steady state only. */
export function summariseProfile(profile: CpuProfile, count: number, skipMs = 0): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByFunction = new Map<string, number>();
  const selfByPackage = new Map<string, number>();
  let total = 0;
  let elapsedMicros = 0;
  profile.samples.forEach((nodeId, index) => {
    const node = byId.get(nodeId);
    const micros = profile.timeDeltas[index] ?? 0;
    elapsedMicros += micros;
    if (!node || elapsedMicros < skipMs * 1000) return;
    total += micros;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    selfByFunction.set(key, (selfByFunction.get(key) ?? 0) + micros);
    const pkg = packageOf(url);
    selfByPackage.set(pkg, (selfByPackage.get(pkg) ?? 0) + micros);
  });
  const line = ([name, micros]: [string, number]) =>
    `${(micros / 1000).toFixed(1).padStart(9)} ms ${((micros / total) * 100).toFixed(1).padStart(5)}%  ${name}`;
  const top = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).slice(0, count).map(line);
  return [
    `profile: ${(total / 1000).toFixed(1)} ms sampled`,
    'self time by function:',
    ...top(selfByFunction),
    'self time by package:',
    ...top(selfByPackage),
  ].join('\n');
}
