// `npm run bench:bundle`: offline bundles against doing it by hand, in the same run on the same
// machine. An app of 4 services, each image the test busybox plus a shared 24 MB "runtime" layer
// and 6 MB of its own; then a one-service change (1 MB). Made on this engine, imported into a
// second engine (test/helpers/second-engine.ts) with no registry, against `docker save` +
// `docker load` of the same images and `git bundle create` of the same commits.
// Knob: BENCH_REPS (default 3). Prints a Markdown table for BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { docker, TEST_IMAGE } from '../test/helpers/docker.js';
import { startSecondEngine } from '../test/helpers/second-engine.js';

const reps = Number(process.env.BENCH_REPS ?? 3);
const work = mkdtempSync(join(tmpdir(), 'capstan-bench-bundle-'));
const run = `${process.pid}`;
const prefix = `local/bench-bundle-${run}`;
const capstan = join(process.cwd(), 'dist', 'agent', 'main.js');
const sh = (command: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(command, args, { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 }).toString();
const timed = (action: () => void) => { const start = process.hrtime.bigint(); action(); return Number(process.hrtime.bigint() - start) / 1e6; };
const median = (values: number[]) => [...values].sort((left, right) => left - right)[Math.floor(values.length / 2)];
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

async function build(tag: string, files: Record<string, Buffer>, from: string): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, `FROM ${from}\n${Object.keys(files).map((name) => `COPY ${name} /${name}`).join('\n')}\n`);
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  const stream = await docker.buildImage(pack as unknown as NodeJS.ReadableStream, { t: tag, labels: { 'capstan.bench': run }, rm: true });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())));
}

async function main(): Promise<void> {
  const services = ['api', 'web', 'worker', 'cron'];
  await build(`${prefix}-runtime:1`, { 'runtime.bin': randomBytes(24e6) }, TEST_IMAGE);
  for (const service of services) await build(`${prefix}-${service}:1`, { [`${service}.bin`]: randomBytes(6e6) }, `${prefix}-runtime:1`);
  await build(`${prefix}-api:2`, { 'api-patch.bin': randomBytes(1e6) }, `${prefix}-api:1`);
  const images = (version: Record<string, number>) => services.map((service) => `${prefix}-${service}:${version[service] ?? 1}`);
  const manifest = (version: Record<string, number>) => `app: benchbundle\nservices:\n${services.map((service, index) =>
    `  ${service}:\n    image: ${images(version)[index]}\n    command: ["sleep", "3600"]\n`).join('')}`;
  const repo = join(work, 'repo');
  sh('git', ['init', '-q', '-b', 'main', repo]);
  const commit = (text: string, message: string) => {
    writeFileSync(join(repo, 'benchbundle.yaml'), text);
    sh('git', ['-C', repo, '-c', 'user.name=bench', '-c', 'user.email=bench@example', 'commit', '-q', '-a', '--allow-empty', '-m', message], {});
    return sh('git', ['-C', repo, 'rev-parse', 'HEAD']).trim();
  };
  writeFileSync(join(repo, 'benchbundle.yaml'), '');
  sh('git', ['-C', repo, 'add', '-A']);
  const v1 = commit(manifest({}), 'v1');
  sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work, 'key')]);
  const publicKey = sh('cat', [join(work, 'key.pub')]).split(' ').slice(0, 2).join(' ');
  writeFileSync(join(work, 'trust'), `bench@example ${publicKey}\n`);

  const engine2 = await startSecondEngine();
  const rows: string[] = [];
  try {
    const siteEnv = (state: string) => ({ DOCKER_HOST: engine2.host, CAPSTAN_REPO: join(work, `${state}.git`), CAPSTAN_STATE_DIR: join(work, state), CAPSTAN_TRUST_FILE: join(work, 'trust'), CAPSTAN_NODE: 'bench' });
    const wipeSite = () => {
      for (const image of [...images({}), `${prefix}-api:2`]) { try { sh('docker', ['-H', engine2.host, 'rmi', '-f', image]); } catch { /* absent */ } }
      try { sh('docker', ['-H', engine2.host, 'image', 'prune', '-f']); } catch { /* nothing */ }
    };
    const measure = (label: string, full: boolean) => {
      const out = join(work, full ? 'full.bundle' : 'delta.bundle');
      const refs = full ? images({}) : [`${prefix}-api:2`];
      const since = full ? [] : ['--since', join(work, 'full.bundle')];
      const creates: number[] = []; const imports: number[] = []; const saves: number[] = []; const loads: number[] = []; const gitCreates: number[] = [];
      let gitSize = 0;
      for (let rep = 0; rep < reps; rep++) {
        creates.push(timed(() => sh('node', [capstan, 'bundle', 'create', '--repo', repo, '--branch', 'main', '--out', out, '--sign-key', join(work, 'key'), ...since])));
        saves.push(timed(() => sh('docker', ['save', '-o', join(work, 'save.tar'), ...refs])));
        gitCreates.push(timed(() => sh('git', ['-C', repo, 'bundle', 'create', join(work, 'git.bundle'), 'main', ...(full ? [] : [`^${v1}`])])));
        gitSize = statSync(join(work, 'git.bundle')).size;
        // Import: a fresh site for the full bundle; for the delta, a site that imported the full one.
        wipeSite();
        const state = `site-${label}-${rep}`;
        if (!full) sh('node', [capstan, 'bundle', 'import', join(work, 'full.bundle')], siteEnv(state));
        imports.push(timed(() => sh('node', [capstan, 'bundle', 'import', out], siteEnv(state))));
        if (full) wipeSite();
        loads.push(timed(() => sh('docker', ['-H', engine2.host, 'load', '-q', '-i', join(work, 'save.tar')])));
      }
      rows.push(`| ${label} | ${mb(statSync(out).size)} MB | ${median(creates).toFixed(0)} ms | ${median(imports).toFixed(0)} ms | ` +
        `${mb(statSync(join(work, 'save.tar')).size)} MB + ${(gitSize / 1e3).toFixed(1)} kB | ${median(saves).toFixed(0)} + ${median(gitCreates).toFixed(0)} ms | ${median(loads).toFixed(0)} ms |`);
    };
    measure('full: 4 services, 4 images', true);
    commit(manifest({ api: 2 }), 'v2: api changed');
    measure('delta: api changed (1 MB layer)', false);
  } finally {
    await engine2.stop();
    for (const image of [`${prefix}-api:2`, ...services.map((service) => `${prefix}-${service}:1`), `${prefix}-runtime:1`]) await docker.getImage(image).remove({ force: true }).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write([
    `| bundle (${reps} runs, medians) | capstan bundle size | create | import (verify + load + fetch) | docker save + git bundle size | save + git bundle | docker load |`,
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
