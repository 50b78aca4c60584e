// Real keys and real signatures made by the tools people sign with: ssh-keygen, gpg and the git
// CLI, each in a throwaway folder with its own HOME and GNUPGHOME, so neither the user's keys
// nor their git configuration can leak in. Needs the Debian packages git, openssh-client, gnupg.
import { execFile } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv; input?: string }): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { cwd: options.cwd, env: options.env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || error.message}`));
        else resolve({ stdout, stderr });
      });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

export interface SshKey {
  kind: 'ssh';
  privateKeyPath: string;
  /** `ssh-ed25519 AAAA… comment`, the public key file's line. */
  publicKeyLine: string;
  /** `SHA256:…` as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

export interface GpgKey {
  kind: 'openpgp';
  userId: string;
  /** Upper-case hex, as `gpg --with-colons` prints it. */
  fingerprint: string;
}

export type SigningKey = SshKey | GpgKey;

export interface SigningWorkspace {
  root: string;
  /** HOME, GNUPGHOME and an isolated git configuration. */
  env: NodeJS.ProcessEnv;
  sshKey(name: string, type?: 'ed25519' | 'rsa' | 'ecdsa'): Promise<SshKey>;
  gpgKey(name: string): Promise<GpgKey>;
  /** `gpg --export --armor`: the public key, with any revocation it carries. */
  exportGpgKey(key: GpgKey): Promise<string>;
  /** The revocation certificate gpg wrote when it made the key, ready to import or paste. */
  gpgRevocationCertificate(key: GpgKey): Promise<string>;
  /** Imports the key's revocation certificate, as an owner revoking a lost key does. */
  revokeGpgKey(key: GpgKey): Promise<void>;
  /** `-c` options making git sign with `key`. */
  gitSigningArgs(key: SigningKey): string[];
  cleanup(): Promise<void>;
}

export async function createSigningWorkspace(): Promise<SigningWorkspace> {
  // Short: gpg-agent's socket path must fit in 108 bytes.
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'capstan-sign-'));
  const gnupgHome = path.join(root, 'gnupg');
  await fsp.mkdir(gnupgHome, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: root,
    GNUPGHOME: gnupgHome,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
  };
  let gpgUsed = false;

  async function gpgRevocationCertificate(key: GpgKey): Promise<string> {
    const stored = await fsp.readFile(path.join(gnupgHome, 'openpgp-revocs.d', `${key.fingerprint}.rev`), 'utf8');
    // gpg stores it after some prose and defused by a leading colon, so that importing it by
    // mistake does nothing; this returns the armored block alone.
    const block = /^:?(-----BEGIN PGP PUBLIC KEY BLOCK-----[\s\S]*?-----END PGP PUBLIC KEY BLOCK-----)/m.exec(stored);
    if (block === null) throw new Error(`no armored block in the revocation certificate of ${key.fingerprint}`);
    return `${block[1]}\n`;
  }

  return {
    root,
    env,
    async sshKey(name, type = 'ed25519') {
      const privateKeyPath = path.join(root, `ssh-${name}`);
      const size = type === 'rsa' ? ['-b', '3072'] : type === 'ecdsa' ? ['-b', '256'] : [];
      await run('ssh-keygen', ['-q', '-t', type, ...size, '-N', '', '-C', `${name}@example.test`, '-f', privateKeyPath], { env });
      const publicKeyLine = (await fsp.readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
      const listing = (await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${privateKeyPath}.pub`], { env })).stdout;
      const fingerprint = /SHA256:[A-Za-z0-9+/]+/.exec(listing)?.[0];
      if (fingerprint === undefined) throw new Error(`no fingerprint in ${listing}`);
      return { kind: 'ssh', privateKeyPath, publicKeyLine, fingerprint };
    },
    async gpgKey(name) {
      gpgUsed = true;
      const userId = `${name} <${name}@example.test>`;
      await run('gpg', ['--batch', '--passphrase', '', '--quick-gen-key', userId, 'ed25519', 'sign', 'never'], { env });
      const listing = (await run('gpg', ['--batch', '--with-colons', '--list-keys', `<${name}@example.test>`], { env })).stdout;
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1];
      if (fingerprint === undefined) throw new Error(`no fingerprint in ${listing}`);
      return { kind: 'openpgp', userId, fingerprint };
    },
    async exportGpgKey(key) {
      return (await run('gpg', ['--batch', '--armor', '--export', key.fingerprint], { env })).stdout;
    },
    gpgRevocationCertificate,
    async revokeGpgKey(key) {
      const certificate = await gpgRevocationCertificate(key);
      await run('gpg', ['--batch', '--import'], { env, input: certificate });
    },
    gitSigningArgs(key) {
      return key.kind === 'ssh'
        ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key.privateKeyPath}`]
        : ['-c', 'gpg.format=openpgp', '-c', `user.signingkey=${key.fingerprint}`];
    },
    async cleanup() {
      if (gpgUsed) await run('gpgconf', ['--kill', 'gpg-agent'], { env }).catch(() => undefined);
      await fsp.rm(root, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

/** An allowed_signers line for `key` (options like `namespaces="git"` go between). */
export function allowedSignersLine(principal: string, key: SshKey, options = ''): string {
  return [principal, options, key.publicKeyLine].filter((part) => part !== '').join(' ');
}

export interface CommitOptions {
  sign?: SigningKey;
  /** Seconds since the epoch, for author and committer; default: now. */
  time?: number;
}

export interface SignedRepo {
  workDir: string;
  gitdir: string;
  git(...args: string[]): Promise<string>;
  /** Writes `files`, commits everything, returns the commit id. */
  commit(message: string, files: Record<string, string>, options?: CommitOptions): Promise<string>;
  /** An annotated tag (signed when `sign` is given) on `target` (default HEAD). */
  tag(name: string, options?: { sign?: SigningKey; target?: string; lightweight?: boolean }): Promise<string>;
  /**
   * A copy of signed commit `source` with its content changed but its `gpgsig` kept, as someone
   * replaying a signature onto other content would make; returns the forged commit's id.
   */
  forgeCommit(source: string, change: (raw: string) => string): Promise<string>;
}

/**
 * A git repository (a working copy, or `dir` when given, e.g. a test git server's working copy)
 * driven by the git CLI with the workspace's keys.
 */
export async function openSignedRepo(workspace: SigningWorkspace, workDir: string, options: { init: boolean }): Promise<SignedRepo> {
  const env = workspace.env;
  const git = async (...args: string[]) => (await run('git', args, { cwd: workDir, env })).stdout;
  if (options.init) {
    await fsp.mkdir(workDir, { recursive: true });
    await git('init', '--quiet', '--initial-branch=main');
  }
  for (const [key, value] of [['user.name', 'Test Signer'], ['user.email', 'signer@example.test'], ['commit.gpgsign', 'false'], ['tag.gpgsign', 'false']]) {
    await git('config', key, value);
  }
  return {
    workDir,
    gitdir: path.join(workDir, '.git'),
    git,
    async commit(message, files, commitOptions = {}) {
      for (const [relativePath, content] of Object.entries(files)) {
        await fsp.mkdir(path.dirname(path.join(workDir, relativePath)), { recursive: true });
        await fsp.writeFile(path.join(workDir, relativePath), content);
      }
      await git('add', '-A');
      const time = commitOptions.time ?? Math.floor(Date.now() / 1000);
      const dateEnv = { ...env, GIT_AUTHOR_DATE: `@${time} +0000`, GIT_COMMITTER_DATE: `@${time} +0000` };
      const signing = commitOptions.sign ? [...workspace.gitSigningArgs(commitOptions.sign)] : [];
      const sign = commitOptions.sign ? ['-S'] : [];
      await run('git', [...signing, 'commit', '--quiet', '--allow-empty', ...sign, '-m', message], { cwd: workDir, env: dateEnv });
      return (await git('rev-parse', 'HEAD')).trim();
    },
    async tag(name, tagOptions = {}) {
      const target = tagOptions.target ?? 'HEAD';
      if (tagOptions.lightweight) await git('tag', name, target);
      else if (tagOptions.sign) await git(...workspace.gitSigningArgs(tagOptions.sign), 'tag', '-s', name, '-m', `release ${name}`, target);
      else await git('tag', '-a', name, '-m', `release ${name}`, target);
      return (await git('rev-parse', `refs/tags/${name}`)).trim();
    },
    async forgeCommit(source, change) {
      const raw = await git('cat-file', 'commit', source);
      const forged = change(raw);
      if (forged === raw) throw new Error('forgeCommit: the change left the commit as it was');
      return (await run('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], { cwd: workDir, env, input: forged })).stdout.trim();
    },
  };
}

export interface TrustedSigners {
  workspace: SigningWorkspace;
  /** The working copy at `workDir`, committing and tagging with the workspace's keys. */
  repo: SignedRepo;
  /** Listed in `trustFile`. */
  trusted: SshKey;
  /** Not listed. */
  stranger: SshKey;
  /** An allowed-signers file naming `trusted` (release@example.test) for `namespaces`. */
  trustFile: string;
}

/** A signing workspace over an existing working copy, with a trusted and a stranger SSH key; clean up `workspace`. */
export async function trustedSigners(workDir: string, namespaces = 'git'): Promise<TrustedSigners> {
  const workspace = await createSigningWorkspace();
  try {
    const repo = await openSignedRepo(workspace, workDir, { init: false });
    const trusted = await workspace.sshKey('release');
    const stranger = await workspace.sshKey('stranger');
    const trustFile = path.join(workspace.root, 'allowed-signers');
    await fsp.writeFile(trustFile, `${allowedSignersLine('release@example.test', trusted, `namespaces="${namespaces}"`)}\n`);
    return { workspace, repo, trusted, stranger, trustFile };
  } catch (error) {
    await workspace.cleanup();
    throw error;
  }
}
