// How git and network failures become CapstanErrors, and what a repo setting means.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CapstanError } from '../../agent/errors.js';
import { classifyRemoteError } from '../../agent/source/errors.js';
import { parseRepoLocation, shortBranchName } from '../../agent/source/location.js';
import { withoutSecret } from '../../agent/source/redact.js';

function httpError(statusCode: number) {
  return Object.assign(new Error(`HTTP Error: ${statusCode}`), { code: 'HttpError', data: { statusCode, statusMessage: '', response: '' } });
}
function systemError(code: string) {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });
}

describe('classifyRemoteError', () => {
  const context = { repo: 'https://git.example.test/ops/manifests.git', operation: 'fetch' };
  const table: Array<{ name: string; error: unknown; code: string | undefined; retryable?: boolean }> = [
    { name: 'HTTP 401', error: httpError(401), code: 'GIT_AUTH', retryable: false },
    { name: 'HTTP 403', error: httpError(403), code: 'GIT_AUTH', retryable: false },
    { name: 'HTTP 404', error: httpError(404), code: 'GIT_UNREACHABLE', retryable: false },
    { name: 'HTTP 408', error: httpError(408), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'HTTP 429', error: httpError(429), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'HTTP 500', error: httpError(500), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'HTTP 503', error: httpError(503), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'HTTP 400', error: httpError(400), code: 'GIT_UNREACHABLE', retryable: false },
    { name: 'connection refused', error: systemError('ECONNREFUSED'), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'DNS failure', error: systemError('ENOTFOUND'), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'DNS temporary failure', error: systemError('EAI_AGAIN'), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'connection reset', error: systemError('ECONNRESET'), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'socket timeout', error: new Error('Request timed out'), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'abort', error: Object.assign(new Error('aborted'), { name: 'AbortError' }), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'bad certificate', error: systemError('CERT_HAS_EXPIRED'), code: 'GIT_UNREACHABLE', retryable: false },
    { name: 'not a git server', error: Object.assign(new Error('html'), { code: 'SmartHttpError' }), code: 'GIT_UNREACHABLE', retryable: false },
    { name: 'empty response', error: Object.assign(new Error('empty'), { code: 'EmptyServerResponseError' }), code: 'GIT_UNREACHABLE', retryable: true },
    { name: 'a missing object (cache problem)', error: Object.assign(new Error('Could not find x.'), { code: 'NotFoundError' }), code: undefined },
    { name: 'a file system error (cache problem)', error: systemError('ENOENT'), code: undefined },
    { name: 'a thrown string', error: 'incorrect header check', code: undefined },
    { name: 'an already classified error', error: new CapstanError('GIT_BRANCH_NOT_FOUND', 'terminal', 'x'), code: undefined },
  ];
  for (const row of table) {
    it(`${row.name} → ${row.code ?? 'not a remote failure'}`, () => {
      const failure = classifyRemoteError(row.error, context);
      assert.equal(failure?.error.code, row.code);
      if (failure === undefined) return;
      assert.equal(failure.retryable, row.retryable);
      assert.equal(failure.error.errorClass, 'transient');
      assert.equal(failure.error.data.repo, context.repo);
      assert.equal(failure.error.cause, row.error);
    });
  }

  it('builds its message from the status only, never from the response body', () => {
    const error = Object.assign(new Error('HTTP Error: 401'), {
      code: 'HttpError', data: { statusCode: 401, statusMessage: 'Unauthorized', response: 'echo: Authorization: Basic c2VjcmV0' },
    });
    const failure = classifyRemoteError(error, context);
    assert.ok(failure);
    assert.doesNotMatch(failure.error.message, /c2VjcmV0|echo/);
    assert.doesNotMatch(JSON.stringify(failure.error.data), /c2VjcmV0|echo/);
  });
});

describe('withoutSecret', () => {
  it('rebuilds an error mentioning the secret anywhere, cause included', () => {
    const cause = Object.assign(new Error('server said hunter22-token'), { data: { response: 'x' } });
    const error = new CapstanError('GIT_AUTH', 'transient', 'refused for hunter22-token', { detail: 'hunter22-token' }, { cause });
    const scrubbed = withoutSecret(error, 'hunter22-token');
    assert.ok(scrubbed instanceof CapstanError);
    assert.equal(scrubbed.code, 'GIT_AUTH');
    assert.equal(scrubbed.errorClass, 'transient');
    assert.doesNotMatch(JSON.stringify({ message: scrubbed.message, data: scrubbed.data }), /hunter22/);
    assert.equal(scrubbed.cause, undefined);
  });

  it('leaves an error that does not mention the secret untouched', () => {
    const error = new CapstanError('GIT_UNREACHABLE', 'transient', 'down', {}, { cause: new Error('ECONNREFUSED') });
    assert.equal(withoutSecret(error, 'hunter22-token'), error);
  });
});

describe('parseRepoLocation', () => {
  it('keeps http(s) URLs, minus trailing slashes', () => {
    assert.deepEqual(parseRepoLocation('https://git.example.test/ops/manifests.git/'), { kind: 'http', url: 'https://git.example.test/ops/manifests.git' });
    assert.deepEqual(parseRepoLocation('http://127.0.0.1:8080/m.git'), { kind: 'http', url: 'http://127.0.0.1:8080/m.git' });
  });

  it('reads paths and file URLs as local repositories', () => {
    assert.deepEqual(parseRepoLocation('/srv/manifests'), { kind: 'local', path: '/srv/manifests' });
    assert.deepEqual(parseRepoLocation('file:///srv/manifests.git'), { kind: 'local', path: '/srv/manifests.git' });
    assert.equal(parseRepoLocation('relative/repo').kind, 'local');
  });

  it('refuses credentials in the URL without echoing them', () => {
    assert.throws(() => parseRepoLocation('https://bot:s3cr3t-value@git.example.test/m.git'), (error: unknown) => {
      assert.ok(error instanceof CapstanError);
      assert.equal(error.code, 'GIT_CONFIG_INVALID');
      assert.doesNotMatch(error.message + JSON.stringify(error.data), /s3cr3t-value/);
      return true;
    });
  });

  it('refuses transports isomorphic-git lacks', () => {
    for (const repo of ['ssh://git@host/m.git', 'git@github.com:ops/m.git', 'git://host/m.git', '']) {
      assert.throws(() => parseRepoLocation(repo), { code: 'GIT_CONFIG_INVALID' }, repo);
    }
  });

  it('accepts both branch spellings', () => {
    assert.equal(shortBranchName('refs/heads/main'), 'main');
    assert.equal(shortBranchName('release/2024'), 'release/2024');
  });
});
