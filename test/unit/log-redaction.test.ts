import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createLogger } from '../../agent/log.js';
import { SecretRegistry } from '../../agent/secret-registry.js';

// Every log line passes the process's secret registry on its way out (once/run/plan wire it).
describe('log lines and the secret registry', () => {
  const logTo = (write: (logger: ReturnType<typeof createLogger>) => void, redact?: (line: string) => string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'capstan-log-'));
    try {
      const fd = openSync(join(dir, 'log'), 'w');
      write(createLogger({ destination: fd, pretty: false, ...(redact ? { redact } : {}) }));
      closeSync(fd);
      return readFileSync(join(dir, 'log'), 'utf8');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('scrubs a value registered after the logger was made, in every field, escaped or not', () => {
    const secrets = new SecretRegistry();
    const text = logTo((logger) => {
      secrets.register('s3cr3t "quoted"');
      logger.info({ target: 'pull image local/s3cr3t "quoted":1' }, 'operation started');
    }, (line) => secrets.redact(line));
    assert.doesNotMatch(text, /s3cr3t/);
    assert.match(text, /pull image local\/\[redacted\]:1/);
    assert.doesNotThrow(() => JSON.parse(text));
  });

  it('logs as before without a redactor', () => {
    const text = logTo((logger) => logger.info({ value: 'plain' }, 'hello'));
    assert.equal(JSON.parse(text).value, 'plain');
  });
});
