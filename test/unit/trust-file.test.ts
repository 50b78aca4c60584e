import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { describe, it } from 'node:test';
import * as openpgp from 'openpgp';
import { CapstanError } from '../../agent/errors.js';
import { parseAllowedSignersLine, parseSshTime } from '../../agent/trust/allowed-signers.js';
import { loadTrustFile, parseTrustFile } from '../../agent/trust/index.js';

// Public keys made once with ssh-keygen; only their encoding matters here.
const ed25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO0O8jZDJo+BgvLG6AptGVNo78Z4Aqvr4GpzeWNX8rYL';
const ed25519Fingerprint = 'SHA256:' + createHash('sha256').update(Buffer.from(ed25519.split(' ')[1], 'base64')).digest('base64').replace(/=+$/, '');

async function invalid(text: string, line: number, message: RegExp): Promise<void> {
  await assert.rejects(parseTrustFile(text, '/etc/capstan/trust'), (error: unknown) => {
    assert.ok(error instanceof CapstanError);
    assert.equal(error.code, 'TRUST_FILE_INVALID');
    assert.equal(error.errorClass, 'terminal');
    assert.equal(error.data.line, line);
    assert.match(error.message, message);
    return true;
  });
}

describe('allowed_signers lines', () => {
  it('reads principals, key and comment, with the fingerprint ssh-keygen prints', () => {
    const signer = parseAllowedSignersLine(`alice@example.com,"ops team" ${ed25519} alice laptop`, 3);
    assert.deepEqual(signer.principals, ['alice@example.com', 'ops team']);
    assert.equal(signer.keyType, 'ssh-ed25519');
    assert.equal(signer.fingerprint, ed25519Fingerprint);
    assert.equal(signer.line, 3);
    assert.equal(signer.namespaces, undefined);
  });

  it('reads namespaces and validity options, quoted values holding commas', () => {
    const signer = parseAllowedSignersLine(`ci@example.com namespaces="git,file",valid-after="20250101Z",VALID-BEFORE="202701011230Z" ${ed25519}`, 1);
    assert.deepEqual(signer.namespaces, ['git', 'file']);
    assert.equal(signer.validAfter?.toISOString(), '2025-01-01T00:00:00.000Z');
    assert.equal(signer.validBefore?.toISOString(), '2027-01-01T12:30:00.000Z');
  });

  it('parses ssh-keygen times, local unless they end in Z', () => {
    const table: Array<[string, string]> = [
      ['20250131Z', '2025-01-31T00:00:00.000Z'],
      ['202501311200Z', '2025-01-31T12:00:00.000Z'],
      ['20250131120005Z', '2025-01-31T12:00:05.000Z'],
    ];
    for (const [text, iso] of table) assert.equal(parseSshTime(text).toISOString(), iso, text);
    assert.equal(parseSshTime('20250131').getTime(), new Date(2025, 0, 31).getTime());
    for (const bad of ['2025013', '20251331Z', '20250230Z', 'tomorrow', '202501311260Z']) {
      assert.throws(() => parseSshTime(bad), /time/, bad);
    }
  });
});

describe('trust file', () => {
  it('mixes allowed_signers lines, OpenPGP blocks, comments and @revoked lines', async () => {
    const { publicKey } = await openpgp.generateKey({ userIDs: [{ name: 'Dave', email: 'dave@example.test' }], format: 'armored' });
    const key = await openpgp.readKey({ armoredKey: publicKey });
    const text = [
      '# who may deploy to this host',
      '',
      `alice@example.com ${ed25519}`,
      // Indented, as pasted into a config management template.
      ...publicKey.trim().split('\n').map((line) => `  ${line}`),
      '@revoked SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
      '@revoked 0123456789abcdef0123456789abcdef01234567',
      `@revoked ${ed25519} old laptop`,
    ].join('\r\n');
    const signers = await parseTrustFile(text, 'trust');
    assert.deepEqual(signers.map((signer) => [signer.kind, signer.line]), [
      ['ssh', 3], ['revoked', 4 + publicKey.trim().split('\n').length], ['revoked', 5 + publicKey.trim().split('\n').length],
      ['revoked', 6 + publicKey.trim().split('\n').length], ['openpgp', 4],
    ]);
    const pgp = signers.find((signer) => signer.kind === 'openpgp');
    assert.equal(pgp?.fingerprint, key.getFingerprint().toUpperCase());
    assert.deepEqual(pgp?.kind === 'openpgp' && pgp.userIds, ['Dave <dave@example.test>']);
    assert.deepEqual(signers.filter((signer) => signer.kind === 'revoked').map((signer) => signer.fingerprint), [
      'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU', '0123456789ABCDEF0123456789ABCDEF01234567', ed25519Fingerprint,
    ]);
  });

  it('applies a pasted revocation certificate to its key', async () => {
    const { publicKey, revocationCertificate } = await openpgp.generateKey({ userIDs: [{ email: 'gone@example.test' }], format: 'armored' });
    const signers = await parseTrustFile(`${revocationCertificate}\n${publicKey}`, 'trust');
    const pgp = signers.find((signer) => signer.kind === 'openpgp');
    assert.ok(pgp?.kind === 'openpgp');
    assert.equal(await pgp.key.isRevoked(), true);
    const other = await openpgp.generateKey({ userIDs: [{ email: 'other@example.test' }], format: 'armored' });
    await invalid(`${other.revocationCertificate}\n${publicKey}`, 1, /neither a public key nor a valid revocation certificate/);
  });

  it('refuses private keys without echoing them', async () => {
    const { privateKey } = await openpgp.generateKey({ userIDs: [{ email: 'secret@example.test' }], format: 'armored' });
    const secretLine = privateKey.split('\n').find((line) => line.length > 40) ?? '';
    await assert.rejects(parseTrustFile(`alice ${ed25519}\n${privateKey}`, 'trust'), (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.match(error.message, /trust:2: holds a private key/);
      assert.ok(!JSON.stringify(error.toJSON()).includes(secretLine));
      return true;
    });
    await invalid(`alice ${ed25519}\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----`, 2, /private key/);
  });

  it('fails the whole file on any line that does not parse, naming the line', async () => {
    const good = `alice ${ed25519}`;
    await invalid(`${good}\nbob`, 2, /expected `principals/);
    await invalid(`${good}\nbob cert-authority ${ed25519}`, 2, /cert-authority is not supported/);
    await invalid(`${good}\nbob no-touch-required ${ed25519}`, 2, /unknown option no-touch-required/);
    await invalid(`${good}\nbob ssh-rsa ${ed25519.split(' ')[1]}`, 2, /is a ssh-ed25519 key, not ssh-rsa/);
    await invalid(`${good}\nbob ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO0O8jZD`, 2, /does not parse/);
    await invalid(`${good}\nbob ssh-ed25519 not*base64`, 2, /not base64/);
    await invalid(`${good}\nbob valid-after="20270101Z",valid-before="20260101Z" ${ed25519}`, 2, /valid-after is not before valid-before/);
    await invalid(`${good}\nbob sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIO0O8jZDJo+BgvLG6AptGVNo78Z4Aqvr4GpzeWNX8rYLAAAABHNzaDo=`, 2, /FIDO security key/);
    await invalid(`${good}\n"unterminated ${ed25519}`, 2, /unterminated quote/);
    await invalid(`${good}\n@revoked nonsense`, 2, /expected `@revoked/);
    await invalid(`${good}\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA`, 2, /has no -----END PGP PUBLIC KEY BLOCK-----/);
    await invalid(`${good}\n-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----`, 2, /does not parse/);
  });

  it('refuses a file listing no signer, and a missing file', async () => {
    await invalid('# nobody\n\n', 0, /lists no signer/);
    await invalid(`@revoked ${ed25519}`, 0, /lists no signer/);
    await assert.rejects(loadTrustFile(fs, '/nonexistent/capstan-trust'), (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.equal(error.code, 'TRUST_FILE_INVALID');
      assert.match(error.message, /cannot be read \(ENOENT\)/);
      return true;
    });
  });
});
