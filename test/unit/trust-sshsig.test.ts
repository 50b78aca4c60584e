// SSHSIG verification against signatures made by ssh-keygen itself (`ssh-keygen -Y sign`), the
// same code path git uses with gpg.format=ssh.
import { strict as assert } from 'node:assert';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseSshPublicKey, sshFingerprint, UnsupportedKeyError } from '../../agent/trust/ssh-keys.js';
import { SshWireError } from '../../agent/trust/ssh-wire.js';
import { parseSshSignature, verifySshEnvelope } from '../../agent/trust/sshsig.js';
import { createSigningWorkspace, run, type SigningWorkspace, type SshKey } from '../helpers/signing.js';

describe('SSHSIG verification', () => {
  let workspace: SigningWorkspace;
  let counter = 0;

  before(async () => {
    workspace = await createSigningWorkspace();
  });
  after(async () => {
    await workspace?.cleanup();
  });

  async function sign(key: SshKey, message: string, namespace = 'git', hash?: 'sha256' | 'sha512'): Promise<string> {
    const file = path.join(workspace.root, `message-${++counter}`);
    await writeFile(file, message);
    const hashOption = hash === undefined ? [] : ['-O', `hashalg=${hash}`];
    await run('ssh-keygen', ['-q', '-Y', 'sign', '-n', namespace, ...hashOption, '-f', key.privateKeyPath, file], { env: workspace.env });
    return readFile(`${file}.sig`, 'utf8');
  }

  function publicBlob(key: SshKey): Buffer {
    return Buffer.from(key.publicKeyLine.split(' ')[1], 'base64');
  }

  const keyTypes: Array<'ed25519' | 'rsa' | 'ecdsa'> = ['ed25519', 'rsa', 'ecdsa'];
  for (const type of keyTypes) {
    it(`verifies ${type} signatures and refuses altered messages`, async () => {
      const key = await workspace.sshKey(`unit-${type}`, type);
      const message = 'tree 0123\n\ndeploy\n';
      const armored = await sign(key, message);
      const envelope = parseSshSignature(armored);
      assert.equal(envelope.namespace, 'git');
      assert.equal(sshFingerprint(envelope.publicKey), key.fingerprint);
      const publicKey = parseSshPublicKey(publicBlob(key));
      assert.deepEqual(verifySshEnvelope(envelope, publicKey, Buffer.from(message), 'git'), { valid: true });
      const altered = verifySshEnvelope(envelope, publicKey, Buffer.from(message.replace('deploy', 'deplay')), 'git');
      assert.deepEqual(altered, { valid: false, reason: 'the signature does not match the signed content' });
    });
  }

  it('verifies both hash algorithms ssh-keygen offers', async () => {
    const key = await workspace.sshKey('unit-hash');
    for (const hash of ['sha256', 'sha512'] as const) {
      const envelope = parseSshSignature(await sign(key, 'payload', 'git', hash));
      assert.equal(envelope.hashAlgorithm, hash);
      assert.equal(verifySshEnvelope(envelope, parseSshPublicKey(publicBlob(key)), Buffer.from('payload'), 'git').valid, true);
    }
  });

  it('refuses a signature made for another namespace, even over the same bytes', async () => {
    const key = await workspace.sshKey('unit-namespace');
    const envelope = parseSshSignature(await sign(key, 'payload', 'file'));
    const check = verifySshEnvelope(envelope, parseSshPublicKey(publicBlob(key)), Buffer.from('payload'), 'git');
    assert.deepEqual(check, { valid: false, reason: 'signed for namespace "file", not "git"' });
    // Rewriting the namespace field does not help: it is inside the signed data.
    const rewritten = { ...envelope, namespace: 'git' };
    assert.equal(verifySshEnvelope(rewritten, parseSshPublicKey(publicBlob(key)), Buffer.from('payload'), 'git').valid, false);
  });

  it('refuses an envelope checked against another key', async () => {
    const signer = await workspace.sshKey('unit-signer');
    const other = await workspace.sshKey('unit-other');
    const envelope = parseSshSignature(await sign(signer, 'payload'));
    const check = verifySshEnvelope(envelope, parseSshPublicKey(publicBlob(other)), Buffer.from('payload'), 'git');
    assert.deepEqual(check, { valid: false, reason: 'the envelope names another key' });
  });

  it('refuses malformed armor and envelopes', async () => {
    const key = await workspace.sshKey('unit-malformed');
    const armored = await sign(key, 'payload');
    assert.throws(() => parseSshSignature('-----BEGIN PGP SIGNATURE-----\n-----END PGP SIGNATURE-----'), SshWireError);
    assert.throws(() => parseSshSignature(armored.replace(/\n[A-Za-z0-9+/]{10}/, '\n**********')), /non-base64/);
    const body = armored.split('\n').filter((line) => !line.startsWith('-----')).join('');
    const truncated = Buffer.from(body, 'base64').subarray(0, 60).toString('base64');
    assert.throws(() => parseSshSignature(`-----BEGIN SSH SIGNATURE-----\n${truncated}\n-----END SSH SIGNATURE-----`), /runs past the end|truncated/);
    const trailing = Buffer.concat([Buffer.from(body, 'base64'), Buffer.from([0])]).toString('base64');
    assert.throws(() => parseSshSignature(`-----BEGIN SSH SIGNATURE-----\n${trailing}\n-----END SSH SIGNATURE-----`), /trailing bytes/);
    const badMagic = Buffer.from(body, 'base64');
    badMagic.write('SSHSIH', 0, 'latin1');
    assert.throws(() => parseSshSignature(`-----BEGIN SSH SIGNATURE-----\n${badMagic.toString('base64')}\n-----END SSH SIGNATURE-----`), /preamble/);
  });

  it('refuses RSA keys under 2048 bits and key types it cannot check', async () => {
    const small = path.join(workspace.root, 'rsa-1024');
    await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', small], { env: workspace.env });
    const blob = Buffer.from((await readFile(`${small}.pub`, 'utf8')).split(' ')[1], 'base64');
    assert.throws(() => parseSshPublicKey(blob), (error: unknown) => error instanceof UnsupportedKeyError && /at least 2048/.test(error.message));
    const dssLike = Buffer.concat([Buffer.from([0, 0, 0, 7]), Buffer.from('ssh-dss')]);
    assert.throws(() => parseSshPublicKey(dssLike), /"ssh-dss" is not supported/);
  });
});
