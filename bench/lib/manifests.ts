// The same app for both tools: one Capstan app with N services ↔ one Compose project with N
// services, busybox sleeping until SIGTERM, no health checks, no ports, the default network.

export const IMAGE = 'local/busybox:1';
export const COMMAND_ARGS = ['sh', '-c', "trap 'exit 0' TERM; sleep 86400 & wait"];
const COMMAND = JSON.stringify(COMMAND_ARGS);

export function serviceName(index: number): string {
  return `svc${String(index).padStart(3, '0')}`;
}

/**
 * `revisions` gives some services an environment variable, so a later commit can change exactly
 * one service (figure 3) in both tools' files; `unmonitored` gives some `update: { monitor: 0s }`.
 */
export function capstanManifest(
  app: string, count: number, revisions: ReadonlyMap<number, string> = new Map(), unmonitored: ReadonlySet<number> = new Set(),
): string {
  const lines = [`app: ${app}`, 'services:'];
  for (let index = 0; index < count; index++) {
    lines.push(`  ${serviceName(index)}:`, `    image: ${IMAGE}`, `    command: ${COMMAND}`);
    const revision = revisions.get(index);
    if (revision !== undefined) lines.push('    environment:', `      BENCH_REVISION: "${revision}"`);
    if (unmonitored.has(index)) lines.push('    update: { monitor: 0s }');
  }
  return `${lines.join('\n')}\n`;
}

export function composeFile(count: number): string {
  const lines = ['version: "2.4"', 'services:'];
  for (let index = 0; index < count; index++) {
    lines.push(`  ${serviceName(index)}:`, `    image: ${IMAGE}`, `    command: ${COMMAND}`);
  }
  return `${lines.join('\n')}\n`;
}
