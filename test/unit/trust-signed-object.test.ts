import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { globMatches } from '../../agent/trust/glob.js';
import { splitSignedCommit, splitSignedTag } from '../../agent/trust/signed-object.js';
import { signatureFormat } from '../../agent/trust/verify-signature.js';

const tree = 'tree 3683f870be446c7cc05ffaef9fa06415276e1828\n';
const parent = 'parent 4e8bd65eb89c9d2c746e8b94ff83334c6d1d156a\n';
const people = 'author T <t@example.test> 1750000000 +0200\ncommitter T <t@example.test> 1750000100 -0500\n';
const pgpSignature = '-----BEGIN PGP SIGNATURE-----\n\niHUEABYIAB0WIQQ0zG63\n=GDRT\n-----END PGP SIGNATURE-----';
const indented = (text: string) => text.split('\n').map((line) => ` ${line}`).join('\n').slice(1);

describe('splitting signed commits as git does', () => {
  it('removes the gpgsig header and its continuation lines, keeping every other byte', () => {
    const raw = `${tree}${parent}${people}gpgsig ${indented(pgpSignature)}\n\nmessage\n\nbody with gpgsig in it\n`;
    const commit = splitSignedCommit('c'.repeat(40), Buffer.from(raw));
    assert.equal(commit.signature, `${pgpSignature}\n`);
    assert.equal(commit.payload.toString(), `${tree}${parent}${people}\nmessage\n\nbody with gpgsig in it\n`);
    assert.equal(commit.committerTime, 1750000100);
    assert.deepEqual(commit.parents, ['4e8bd65eb89c9d2c746e8b94ff83334c6d1d156a']);
    assert.equal(commit.malformed, undefined);
  });

  it('keeps other multi-line headers (mergetag) in the payload and drops gpgsig-sha256', () => {
    const mergetag = 'mergetag object abc\n type commit\n tag v1\n';
    const raw = `${tree}${people}${mergetag}gpgsig-sha256 -----BEGIN PGP SIGNATURE-----\n -----END PGP SIGNATURE-----\n\nmerge\n`;
    const commit = splitSignedCommit('c'.repeat(40), Buffer.from(raw));
    assert.equal(commit.signature, undefined);
    assert.equal(commit.payload.toString(), `${tree}${people}${mergetag}\nmerge\n`);
  });

  it('leaves a "gpgsig" line in the message alone and keeps non-UTF-8 bytes exact', () => {
    const raw = Buffer.concat([Buffer.from(`${tree}${people}\n`), Buffer.from([0xe9, 0x0a]), Buffer.from('gpgsig not a header\n')]);
    const commit = splitSignedCommit('c'.repeat(40), raw);
    assert.equal(commit.signature, undefined);
    assert.ok(commit.payload.equals(raw));
  });

  it('marks a commit with two signatures as malformed', () => {
    const raw = `${tree}${people}gpgsig ${indented(pgpSignature)}\ngpgsig ${indented(pgpSignature)}\n\nm\n`;
    assert.match(splitSignedCommit('c'.repeat(40), Buffer.from(raw)).malformed ?? '', /more than one gpgsig/);
  });
});

describe('splitting signed tags as git does', () => {
  const header = 'object 7f5d3dca69cc2a0a66896a1082d5e8cd8373c679\ntype commit\ntag v1.0.0\ntagger T <t@example.test> 1750000000 +0000\n';

  it('takes the signature from the last line that opens one', () => {
    const message = `\nrelease notes quoting an old signature:\n${pgpSignature}\n`;
    const tag = splitSignedTag('t'.repeat(40), Buffer.from(`${header}${message}${pgpSignature}\n`));
    assert.equal(tag.payload.toString(), `${header}${message}`);
    assert.equal(tag.signature, `${pgpSignature}\n`);
    assert.equal(tag.tagName, 'v1.0.0');
    assert.equal(tag.object, '7f5d3dca69cc2a0a66896a1082d5e8cd8373c679');
    assert.equal(tag.objectType, 'commit');
  });

  it('finds SSH signatures, and none in an unsigned tag', () => {
    const ssh = '-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n';
    assert.equal(splitSignedTag('t'.repeat(40), Buffer.from(`${header}\nnotes\n${ssh}`)).signature, ssh);
    const unsigned = splitSignedTag('t'.repeat(40), Buffer.from(`${header}\nnotes\n`));
    assert.equal(unsigned.signature, undefined);
    assert.equal(unsigned.payload.toString(), `${header}\nnotes\n`);
  });
});

describe('signature formats and tag patterns', () => {
  it('tells formats from the armor', () => {
    assert.equal(signatureFormat(pgpSignature), 'openpgp');
    assert.equal(signatureFormat('-----BEGIN SSH SIGNATURE-----\nx'), 'ssh');
    assert.equal(signatureFormat('-----BEGIN SIGNED MESSAGE-----\nx'), 'x509');
    assert.equal(signatureFormat('garbage'), 'unknown');
  });

  it('matches tag globs on the whole name', () => {
    const table: Array<[string, string, boolean]> = [
      ['v*', 'v1.2.0', true], ['v*', 'v2/rc1', true], ['v*', 'release-v1', false],
      ['v1.?.0', 'v1.2.0', true], ['v1.?.0', 'v1.22.0', false], ['v1.*', 'v1x2', false],
      ['*', 'anything', true], ['release-[1]', 'release-[1]', true], ['release-[1]', 'release-1', false],
    ];
    for (const [pattern, name, expected] of table) assert.equal(globMatches(pattern, name), expected, `${pattern} ${name}`);
  });
});
