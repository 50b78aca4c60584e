import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { BUNDLE_FORMAT, type BundleIndex } from '../../agent/bundle/format.js';
import { readBundle } from '../../agent/bundle/read.js';
import type { SignatureVerdict } from '../../agent/trust/types.js';
import { tempDir, type TempDir } from '../helpers/paths.js';

// The bundle reader against hostile archives: everything is refused before anything is staged,
// and parts are staged only under the signed index's names. Signatures are the trust module's
// (tested there and in test/integration/bundle.test.ts); here a verifier stands in.

const accept = async (): Promise<SignatureVerdict> => ({ ok: true, signer: { format: 'ssh', fingerprint: 'SHA256:test', identities: [] } });
const repoBytes = Buffer.from('# v2 git bundle\n');
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

function index(overrides: Partial<BundleIndex> = {}): Buffer {
  const value: BundleIndex = {
    format: BUNDLE_FORMAT, repo: '/srv/repo', branch: 'main', commit: 'a'.repeat(40), createdAt: '2026-01-01T00:00:00Z',
    commits: [], apps: [], images: [], parts: [{ name: 'repo.bundle', size: repoBytes.length, sha256: sha(repoBytes) }], ...overrides,
  };
  return Buffer.from(JSON.stringify(value));
}

type Entry = { name: string; body?: Buffer; type?: 'file' | 'symlink' | 'directory'; linkname?: string };

async function archive(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const entry of entries) {
    if (entry.type === 'symlink') pack.entry({ name: entry.name, type: 'symlink', linkname: entry.linkname ?? '/etc/passwd' });
    else if (entry.type === 'directory') pack.entry({ name: entry.name, type: 'directory' });
    else pack.entry({ name: entry.name }, entry.body ?? Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('bundle reader: hostile archives', () => {
  let work: TempDir;
  let count = 0;
  before(async () => { work = await tempDir('capstan-bundle-read'); });
  after(() => work?.cleanup());

  async function read(bytes: Buffer, verify: () => Promise<SignatureVerdict> = accept) {
    const file = join(work.path, `b${++count}.bundle`);
    writeFileSync(file, bytes);
    const staging = join(work.path, `staging${count}`);
    (await import('node:fs')).mkdirSync(staging);
    let stagedAtVerify: string[] | undefined;
    const outcome = await readBundle(file, {
      stagingDir: staging,
      verify: async () => { stagedAtVerify = readdirSync(staging); return verify(); },
    }).then((result) => ({ result }), (error: Error & { code?: string }) => ({ error }));
    return { ...outcome, staged: readdirSync(staging), stagedAtVerify };
  }

  it('stages a well-formed bundle\'s parts under their index names, after the signature', async () => {
    const outcome = await read(await archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('sig') }, { name: 'repo.bundle', body: repoBytes }]));
    assert.ok('result' in outcome, String('error' in outcome && outcome.error));
    assert.deepEqual(outcome.staged, ['repo.bundle']);
    assert.deepEqual(outcome.stagedAtVerify, []);
  });

  const refusals: Array<[string, () => Promise<Buffer>, RegExp]> = [
    ['a symbolic link', () => archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: 'repo.bundle', type: 'symlink' }]), /BUNDLE_MALFORMED.*tar type "2"/],
    ['a folder', () => archive([{ name: 'index.json', body: index() }, { name: 'repo.bundle', type: 'directory' }]), /BUNDLE_MALFORMED.*tar type "5"/],
    ['a path outside the bundle', () => archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: '../../etc/cron.d/x', body: repoBytes }]), /BUNDLE_MALFORMED.*named "..\/..\/etc/],
    ['a long name (pax header)', () => archive([{ name: 'index.json', body: index() }, { name: `${'x/'.repeat(80)}repo.bundle`, body: repoBytes }]), /BUNDLE_MALFORMED/],
    ['the index not first', () => archive([{ name: 'repo.bundle', body: repoBytes }, { name: 'index.json', body: index() }]), /BUNDLE_MALFORMED.*first entry/],
    ['an index over 4 MiB', () => archive([{ name: 'index.json', body: Buffer.alloc(5 * 1024 * 1024, 0x20) }]), /BUNDLE_MALFORMED.*more than/],
    ['a non-UTF-8 index', () => archive([{ name: 'index.json', body: Buffer.from([0xff, 0xfe, 0x7b]) }, { name: 'index.sig', body: Buffer.from('s') }]), /BUNDLE_MALFORMED.*not UTF-8/],
    ['an index with an absurd part size', () => archive([{ name: 'index.json', body: index({ parts: [{ name: 'repo.bundle', size: 1e15, sha256: sha(repoBytes) }] }) }, { name: 'index.sig', body: Buffer.from('s') }]), /BUNDLE_MALFORMED.*parts/],
    ['a part the index does not list', () => archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: 'repo.bundle', body: repoBytes }, { name: 'images.tar', body: repoBytes }]), /BUNDLE_TAMPERED.*not listed/],
    ['a part whose bytes differ', () => archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: 'repo.bundle', body: Buffer.from('# v2 git bundlE\n') }]), /BUNDLE_TAMPERED.*sha256/],
    ['a missing part', () => archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }]), /BUNDLE_TRUNCATED.*repo\.bundle/],
    ['a cut archive', async () => (await archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: 'repo.bundle', body: repoBytes }])).subarray(0, 2100), /BUNDLE_TRUNCATED/],
    ['random bytes', async () => Buffer.from('not a tar archive at all'), /BUNDLE_TRUNCATED/],
  ];
  for (const [what, make, expected] of refusals) {
    it(`refuses ${what}, staging nothing`, async () => {
      const outcome = await read(await make());
      assert.ok('error' in outcome, 'must be refused');
      assert.match(`${outcome.error.code}: ${outcome.error.message}`, expected);
      // A verified part before the bad entry may sit in staging (import removes the folder); no other file ever does.
      assert.deepEqual(outcome.staged.filter((name) => name !== 'repo.bundle'), []);
    });
  }

  it('stops at a refused signature before reading any part', async () => {
    const outcome = await read(await archive([{ name: 'index.json', body: index() }, { name: 'index.sig', body: Buffer.from('s') }, { name: 'repo.bundle', body: repoBytes }]),
      async () => ({ ok: false, code: 'UNTRUSTED_SIGNER', reason: 'the key is not in the trust file', fingerprint: 'SHA256:x' }));
    assert.ok('error' in outcome);
    assert.equal(outcome.error.code, 'BUNDLE_UNTRUSTED');
    assert.deepEqual(outcome.staged, []);
  });

  it('calls an unsigned bundle unsigned', async () => {
    const outcome = await read(await archive([{ name: 'index.json', body: index() }, { name: 'repo.bundle', body: repoBytes }]),
      async () => ({ ok: false, code: 'UNSIGNED_COMMIT', reason: 'no signature' }));
    assert.ok('error' in outcome);
    assert.equal(outcome.error.code, 'BUNDLE_UNSIGNED');
    assert.deepEqual(outcome.staged, []);
  });
});
