// `npm run bench:storage`: volume snapshots (agent/storage) on a realistic volume, through the
// same code the agent runs (repository.ts over restic.ts), against `tar czf` of the same folder.
// The volume: 300 MB in about 500 files, the shape of a small app's data (a Postgres-like folder of
// 1 GB-segment-style binary files, mostly incompressible, plus text logs and uploads). Then a
// day of change: 5% of files rewritten, 20 MB added, 1% removed. Measured: the first snapshot,
// the next one, a restore into an empty folder, and the repository's size after each.
// Knobs: BENCH_STORAGE_MB (default 300). Prints a Markdown table for BENCHMARKS.md.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRetention, backupFolder, restoreInto, volumeHistory } from '../agent/storage/repository.js';
import { ensureRepository, resticRunner } from '../agent/storage/restic.js';

const totalMb = Number(process.env.BENCH_STORAGE_MB ?? 300);
const work = mkdtempSync(join(tmpdir(), 'capstan-bench-storage-'));
const volume = join(work, 'volume');
const repository = join(work, 'restic');
const password = join(work, 'password');
writeFileSync(password, randomBytes(16).toString('hex'));
const restic = resticRunner({
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: password, RESTIC_CACHE_DIR: join(work, 'cache') },
  redact: (text) => text,
});
const key = { app: 'bench', volume: 'data' };
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
const du = (path: string) => Number(execFileSync('du', ['-sb', path]).toString().split('\t')[0]);
const timed = async (action: () => Promise<unknown>) => {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e6;
};
const text = (bytes: number) => Buffer.from(Array.from({ length: Math.ceil(bytes / 64) }, (_, line) => `${new Date(1_700_000_000_000 + line * 1000).toISOString()} GET /api/items/${line % 977} 200 ${line % 431}ms\n`).join('').slice(0, bytes));

/** About 500 files (for 300 MB): 60% of the bytes in 8 MB binary segments, 25% in 50–500 kB uploads, 15% in text logs. */
function makeVolume(): void {
  const budget = totalMb * 1e6;
  mkdirSync(join(volume, 'base'), { recursive: true });
  mkdirSync(join(volume, 'uploads'), { recursive: true });
  mkdirSync(join(volume, 'log'), { recursive: true });
  for (let index = 0, used = 0; used < budget * 0.6; index++, used += 8e6) writeFileSync(join(volume, 'base', `segment-${index}`), randomBytes(8e6));
  for (let index = 0, used = 0; used < budget * 0.25; index++) {
    const size = 50e3 + ((index * 7919) % 450e3);
    writeFileSync(join(volume, 'uploads', `upload-${index}.jpg`), randomBytes(size));
    used += size;
  }
  for (let index = 0, used = 0; used < budget * 0.15; index++, used += 200e3) writeFileSync(join(volume, 'log', `app-${index}.log`), text(200e3));
}

/** A day of change: 5% of files rewritten, 20 MB of new uploads, 1% removed. */
function change(): void {
  const files = ['base', 'uploads', 'log'].flatMap((folder) => readdirSync(join(volume, folder)).map((name) => join(volume, folder, name)));
  files.forEach((file, index) => {
    if (index % 20 === 0) writeFileSync(file, randomBytes(statSync(file).size));
    else if (index % 100 === 7) unlinkSync(file);
  });
  for (let index = 0; index < 40; index++) writeFileSync(join(volume, 'uploads', `new-${index}.jpg`), randomBytes(500e3));
}

async function main(): Promise<void> {
  makeVolume();
  const files = execFileSync('find', [volume, '-type', 'f']).toString().trim().split('\n').length;
  const size = du(volume);
  await ensureRepository(restic);
  const rows: string[][] = [];
  const first = await timed(() => backupFolder(restic, key, volume, 'bench'));
  rows.push(['first snapshot', `${mb(size)} MB, ${files} files`, `${(first / 1000).toFixed(1)} s`, `${mb(du(repository))} MB`]);
  const again = await timed(() => backupFolder(restic, key, volume, 'bench'));
  rows.push(['next snapshot, nothing changed', '', `${(again / 1000).toFixed(1)} s`, `${mb(du(repository))} MB`]);
  change();
  const changed = await timed(() => backupFolder(restic, key, volume, 'bench'));
  rows.push(['next snapshot after a day of change', `${mb(du(volume))} MB (5% rewritten, +20 MB, −1%)`, `${(changed / 1000).toFixed(1)} s`, `${mb(du(repository))} MB`]);
  const retention = await timed(() => applyRetention(restic, key, { last: 2 }));
  rows.push(['retention: forget --keep-last 2 --prune', '', `${(retention / 1000).toFixed(1)} s`, `${mb(du(repository))} MB`]);
  const latest = (await volumeHistory(restic, key)).data.at(-1)!;
  const target = join(work, 'restored');
  mkdirSync(target);
  const restore = await timed(() => restoreInto(restic, latest.id, target));
  rows.push(['restore into an empty volume', `${mb(du(target))} MB`, `${(restore / 1000).toFixed(1)} s`, '']);
  const tarFile = join(work, 'volume.tar.gz');
  const tarTime = await timed(async () => execFileSync('tar', ['czf', tarFile, '-C', volume, '.']));
  rows.push(['reference: tar czf of the volume', '', `${(tarTime / 1000).toFixed(1)} s`, `${mb(statSync(tarFile).size)} MB per copy`]);
  process.stdout.write(`restic ${execFileSync('restic', ['version']).toString().split(' ')[1]}, ${new Date().toISOString()}\n\n`);
  process.stdout.write('| step | volume | time | repository size |\n|---|---|---|---|\n');
  for (const row of rows) process.stdout.write(`| ${row.join(' | ')} |\n`);
}

main()
  .finally(() => rmSync(work, { recursive: true, force: true }))
  .catch((error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  });
