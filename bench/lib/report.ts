import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { MachineInfo } from './machine.js';
import type { Figure } from './results.js';

const begin = '<!-- bench:results:begin (written by npm run bench; edit outside these markers) -->';
const end = '<!-- bench:results:end -->';

function value(figure: Figure, side: 'capstan' | 'reference'): string {
  const ms = side === 'capstan' ? figure.capstan_ms : figure.reference_ms;
  if (ms !== null) return `${ms} ms`;
  const mb = side === 'capstan' ? figure.capstan_mb : figure.reference_mb;
  if (mb !== undefined && mb !== null && Number.isFinite(mb)) return `${mb} MB`;
  const writes = side === 'capstan' ? figure.capstan_writes : figure.reference_writes;
  if (writes !== undefined && writes !== null) return `${writes} writes`;
  const bytes = side === 'capstan' ? figure.capstan_bytes : undefined;
  if (bytes !== undefined && bytes !== null) return `${bytes} bytes`;
  return '—';
}

export function resultsSection(machine: MachineInfo, figures: readonly Figure[], finishedAt: Date): string {
  const rows = [...figures]
    .sort((a, b) => a.figure - b.figure || a.N - b.N)
    .map((figure) => `| ${figure.figure} | ${figure.name} | ${figure.N} | ${value(figure, 'capstan')} | ${value(figure, 'reference')} | ${figure.ratio ?? '—'} | ${figure.target ?? '—'} | ${figure.met === null ? '—' : figure.met ? 'yes' : '**no**'} | ${figure.measured_at?.slice(0, 16).replace('T', ' ') ?? '—'} |`);
  const references = [...new Map(figures.map((figure) => [`${figure.figure}: ${figure.reference}`, figure])).keys()].sort();
  return [
    begin,
    `Written ${finishedAt.toISOString()}; a partial run replaces only its own rows, so the last column says when each was measured. Medians; every sample is in \`bench/results.json\`.`,
    '',
    '**Machine**',
    '',
    `- CPU: ${machine.cores} × ${machine.cpu}; memory ${machine.memoryGb} GiB`,
    `- OS: ${machine.os}, kernel ${machine.kernel}`,
    `- Docker engine ${machine.dockerEngine} (API ${machine.dockerApi}), storage ${machine.storageDriver}, cgroup ${machine.cgroup}`,
    `- Reference: ${machine.compose}; ${machine.git}; Node ${machine.node}`,
    `- Containers of others on the engine when the latest run started: ${machine.foreignContainers} (other engineers' test suites share this engine and these 2 cores, so expect noise)`,
    '',
    '| fig | figure | N | Capstan | reference | ratio | target | met | measured (UTC) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    'References:',
    '',
    ...references.map((reference) => `- fig ${reference}`),
    end,
  ].join('\n');
}

/** Replaces the generated section of BENCHMARKS.md, keeping everything written around it. */
export async function updateBenchmarksMd(path: string, section: string, template: () => string): Promise<void> {
  const current = existsSync(path) ? await readFile(path, 'utf8') : template();
  const start = current.indexOf(begin);
  const stop = current.indexOf(end);
  const next = start >= 0 && stop > start
    ? `${current.slice(0, start)}${section}${current.slice(stop + end.length)}`
    : `${current.trimEnd()}\n\n${section}\n`;
  await writeFile(path, next);
}
