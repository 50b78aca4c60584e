import { execFile, spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';

const httpBackend = '/usr/lib/git-core/git-http-backend';

/** What a request asked for, so tests can tell a ref check from a pack download. */
export type RequestKind = 'advertise' | 'ls-refs' | 'fetch' | 'push' | 'other';

export interface RequestRecord {
  method: string;
  path: string;
  kind: RequestKind;
  status: number;
  /** Whether the request carried an Authorization header (the header itself is not kept). */
  authorization: boolean;
}

export interface RemoteRepo {
  /** http://127.0.0.1:PORT/name.git */
  url: string;
  bareDir: string;
  /** A working copy made with the git CLI, its `origin` being `url`. */
  workDir: string;
  /** Writes files in the working copy; `null` deletes. */
  write(files: Record<string, string | null>): Promise<void>;
  /** `git add -A` and commit; returns the new commit id. */
  commit(message: string): Promise<string>;
  push(options?: { force?: boolean }): Promise<void>;
  /** Runs git in the working copy; returns stdout. */
  git(...args: string[]): Promise<string>;
}

export interface GitServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Temp folder holding everything the server created; removed by close(). */
  root: string;
  createRepo(name: string): Promise<RemoteRepo>;
  /** Requests served so far. */
  readonly requests: number;
  readonly log: readonly RequestRecord[];
  /** Answers the next `count` requests with 401 whatever their credentials, as after a token rotation. */
  refuseNext(count: number): void;
  close(): Promise<void>;
}

/** Isolated from the user's and the system's git configuration. */
export function gitEnvironment(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
  };
}

export function runGit(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, env, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`git ${args[0]} failed in ${cwd}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * A smart-HTTP git server on 127.0.0.1 running git-http-backend as CGI, as Apache or nginx
 * would. With `token`, every request needs HTTP basic auth whose password is the token.
 */
export async function startGitServer(options: { token?: string } = {}): Promise<GitServer> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'capstan-git-server-'));
  const repositories = path.join(root, 'repositories');
  const workspaces = path.join(root, 'workspaces');
  await fsp.mkdir(repositories);
  await fsp.mkdir(workspaces);
  const env = gitEnvironment(root);
  const log: RequestRecord[] = [];
  const refusals = { remaining: 0 };

  const server = http.createServer((request, response) => {
    void serve(request, response, { repositories, token: options.token, env, log, refusals }).catch((error: unknown) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain' });
      response.end(`test git server: ${(error as Error).message}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  async function createRepo(name: string): Promise<RemoteRepo> {
    const bareDir = path.join(repositories, `${name}.git`);
    const workDir = path.join(workspaces, name);
    const repoUrl = `${url}/${name}.git`;
    await runGit(root, ['init', '--quiet', '--bare', '--initial-branch=main', bareDir], env);
    await runGit(bareDir, ['config', 'http.receivepack', 'true'], env);
    await runGit(root, ['init', '--quiet', '--initial-branch=main', workDir], env);
    for (const [key, value] of [['user.name', 'Test Author'], ['user.email', 'author@example.test'], ['commit.gpgsign', 'false']]) {
      await runGit(workDir, ['config', key, value], env);
    }
    await runGit(workDir, ['remote', 'add', 'origin', repoUrl], env);
    const git = (...args: string[]) => runGit(workDir, args, env);
    return {
      url: repoUrl,
      bareDir,
      workDir,
      git,
      async write(files) {
        for (const [relativePath, content] of Object.entries(files)) {
          const file = path.join(workDir, relativePath);
          if (content === null) {
            await fsp.rm(file, { force: true });
          } else {
            await fsp.mkdir(path.dirname(file), { recursive: true });
            await fsp.writeFile(file, content);
          }
        }
      },
      async commit(message) {
        await git('add', '-A');
        await git('commit', '--quiet', '--allow-empty', '-m', message);
        return (await git('rev-parse', 'HEAD')).trim();
      },
      async push(pushOptions = {}) {
        // The token goes on the command line for this one process, never into a config file.
        const auth = options.token === undefined ? [] :
          ['-c', `http.extraHeader=Authorization: Basic ${Buffer.from(`tester:${options.token}`).toString('base64')}`];
        await runGit(workDir, [...auth, 'push', '--quiet', ...(pushOptions.force ? ['--force'] : []), 'origin', 'HEAD:refs/heads/main'], env);
      },
    };
  }

  return {
    url,
    root,
    createRepo,
    get requests() {
      return log.length;
    },
    log,
    refuseNext(count) {
      refusals.remaining = count;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fsp.rm(root, { recursive: true, force: true });
    },
  };
}

interface ServeContext {
  repositories: string;
  token?: string;
  env: NodeJS.ProcessEnv;
  log: RequestRecord[];
  refusals: { remaining: number };
}

async function serve(request: http.IncomingMessage, response: http.ServerResponse, context: ServeContext): Promise<void> {
  const requestUrl = new URL(request.url ?? '/', 'http://127.0.0.1');
  const method = request.method ?? 'GET';
  const body = await readBody(request);
  const record: RequestRecord = {
    method, path: requestUrl.pathname, kind: requestKind(method, requestUrl, request.headers, body), status: 0,
    authorization: request.headers.authorization !== undefined,
  };
  context.log.push(record);

  const refused = context.refusals.remaining > 0;
  if (refused) context.refusals.remaining--;
  const remoteUser = refused ? undefined : authorizedUser(request.headers.authorization, context.token);
  if (remoteUser === undefined) {
    record.status = 401;
    response.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' });
    response.end('authentication required\n');
    return;
  }

  const cgiEnv: NodeJS.ProcessEnv = {
    ...context.env,
    GIT_PROJECT_ROOT: context.repositories,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: decodeURIComponent(requestUrl.pathname),
    QUERY_STRING: requestUrl.search.replace(/^\?/, ''),
    REQUEST_METHOD: method,
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    REMOTE_USER: remoteUser,
    REMOTE_ADDR: request.socket.remoteAddress ?? '127.0.0.1',
    // Protocol v2 is negotiated through this header, as Apache's SetEnvIf does it.
    GIT_PROTOCOL: String(request.headers['git-protocol'] ?? ''),
  };
  if (body.length > 0 || request.headers['content-length'] !== undefined) cgiEnv.CONTENT_LENGTH = String(body.length);
  if (request.headers['content-encoding'] !== undefined) cgiEnv.HTTP_CONTENT_ENCODING = request.headers['content-encoding'];

  const child = spawn(httpBackend, [], { env: cgiEnv, stdio: ['pipe', 'pipe', 'pipe'] });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.on('error', () => undefined);
  child.stdin.end(body);

  await new Promise<void>((resolve, reject) => {
    let pending = Buffer.alloc(0);
    let headersDone = false;
    child.on('error', reject);
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        response.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      const split = headerEnd(pending);
      if (split === undefined) return;
      headersDone = true;
      const { status, headers } = parseCgiHeaders(pending.subarray(0, split.index).toString('latin1'));
      record.status = status;
      response.writeHead(status, headers);
      response.write(pending.subarray(split.index + split.length));
    });
    child.on('close', (exitCode) => {
      if (!headersDone) {
        record.status = 500;
        response.writeHead(500, { 'content-type': 'text/plain' });
        response.end(`git-http-backend exited ${exitCode}: ${Buffer.concat(stderr).toString()}\n`);
      } else {
        response.end();
      }
      resolve();
    });
  });
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function requestKind(method: string, requestUrl: URL, headers: http.IncomingHttpHeaders, body: Buffer): RequestKind {
  if (method === 'GET' && requestUrl.pathname.endsWith('/info/refs')) return 'advertise';
  if (method === 'POST' && requestUrl.pathname.endsWith('/git-receive-pack')) return 'push';
  if (method === 'POST' && requestUrl.pathname.endsWith('/git-upload-pack')) {
    let text = '';
    try {
      text = (headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('latin1');
    } catch {
      text = '';
    }
    return text.includes('command=ls-refs') ? 'ls-refs' : 'fetch';
  }
  return 'other';
}

/** The user name when the request may proceed; undefined when it must be refused. */
function authorizedUser(authorization: string | undefined, token: string | undefined): string | undefined {
  const credentials = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  const decoded = credentials ? Buffer.from(credentials[1], 'base64').toString('utf8') : '';
  const separator = decoded.indexOf(':');
  const user = separator >= 0 ? decoded.slice(0, separator) : '';
  if (token === undefined) return user || 'anonymous';
  return separator >= 0 && decoded.slice(separator + 1) === token ? user || 'token' : undefined;
}

function headerEnd(buffer: Buffer): { index: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { index: crlf, length: 4 };
  if (lf >= 0) return { index: lf, length: 2 };
  return undefined;
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
    else headers[name] = value;
  }
  return { status, headers };
}
