// The test helpers that need no Docker: paths, names, bounded waiting and child processes.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CliTimeoutError, runNode, spawnNode, stopProcess, waitForLine } from '../helpers/cli.js';
import { testNodeName, uniqueName, waitFor, WaitTimeoutError } from '../helpers/docker.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

describe('paths', () => {
  it('finds the repository root from the compiled test', () => {
    const root = repoRoot();
    assert.ok(existsSync(join(root, 'package.json')), `${root} holds no package.json`);
    assert.ok(existsSync(join(root, 'tsconfig.json')), `${root} is not the repository root`);
  });

  it('creates a temp dir and removes it with its contents', async () => {
    const dir = await tempDir('capstan-smoke');
    await writeFile(join(dir.path, 'file.txt'), 'x');
    assert.ok(existsSync(join(dir.path, 'file.txt')));
    await dir.cleanup();
    assert.equal(existsSync(dir.path), false);
    await dir.cleanup();
  });
});

describe('names', () => {
  it('are valid app names and distinct', () => {
    const names = new Set<string>();
    for (const prefix of ['web', 'Web App!', '--x', '', 'a_b']) {
      const name = uniqueName(prefix);
      assert.match(name, /^[a-z0-9][a-z0-9_-]*$/);
      names.add(name);
    }
    assert.equal(names.size, 5);
    assert.match(uniqueName('Web App!'), /^web-app-[a-z0-9]{6}$/);
    assert.match(testNodeName(), /^capstan-test-[a-z0-9]+-[a-z0-9]{6}$/);
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { timeoutMs: 2_000, intervalMs: 10 });
    assert.deepEqual(value, { calls: 3 });
  });

  it('times out boundedly, keeping the last error as cause', async () => {
    const started = Date.now();
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('not yet');
        },
        { timeoutMs: 300, intervalMs: 50, what: 'the impossible' },
      ),
      (error: unknown) => {
        assert.ok(error instanceof WaitTimeoutError);
        assert.match(error.message, /the impossible/);
        assert.equal((error.cause as Error).message, 'not yet');
        return true;
      },
    );
    assert.ok(Date.now() - started < 2_000, 'waitFor overran its timeout');
  });

  it('times out even when one probe never settles', async () => {
    const started = Date.now();
    await assert.rejects(
      waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 200 }),
      WaitTimeoutError,
    );
    assert.ok(Date.now() - started < 2_000, 'a hanging probe kept waitFor past its timeout');
  });
});

describe('child processes', () => {
  it('captures exit code, stdout and stderr, without CAPSTAN_* from the parent', async () => {
    process.env.CAPSTAN_SMOKE_LEAK = 'leaked';
    try {
      const result = await runNode(
        ['-e', 'console.log(process.env.CAPSTAN_SMOKE_LEAK ?? "clean", process.env.EXTRA); console.error("oops"); process.exit(3)'],
        { env: { EXTRA: 'given' }, timeoutMs: 20_000 },
      );
      assert.deepEqual(result, { code: 3, signal: null, stdout: 'clean given\n', stderr: 'oops\n' });
    } finally {
      delete process.env.CAPSTAN_SMOKE_LEAK;
    }
  });

  it('runs in an empty folder unless told otherwise', async () => {
    const listing = await runNode(['-e', 'console.log(require("fs").readdirSync(".").length)'], { timeoutMs: 20_000 });
    assert.equal(listing.stdout, '0\n');
    const inRoot = await runNode(['-e', 'console.log(process.cwd())'], { cwd: repoRoot(), timeoutMs: 20_000 });
    assert.equal(inRoot.stdout, `${repoRoot()}\n`);
  });

  it('passes stdin', async () => {
    const result = await runNode(['-e', 'process.stdin.pipe(process.stdout)'], { stdin: 'piped', timeoutMs: 20_000 });
    assert.equal(result.stdout, 'piped');
  });

  it('kills a child that outlives its timeout and says so', async () => {
    const started = Date.now();
    await assert.rejects(
      runNode(['-e', 'console.log("started"); setInterval(() => {}, 1000)'], { timeoutMs: 500 }),
      (error: unknown) => {
        assert.ok(error instanceof CliTimeoutError);
        assert.match(error.message, /SIGKILL/);
        assert.match(error.stdout, /started/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 10_000);
  });

  it('waits for successive JSON lines, then stops the child', async () => {
    const script = [
      'let n = 0;',
      'const timer = setInterval(() => console.log(JSON.stringify({ msg: "tick", n: ++n })), 20);',
      'process.on("SIGTERM", () => { clearInterval(timer); console.log(JSON.stringify({ msg: "bye" })); process.exit(0); });',
    ].join('\n');
    const child = spawnNode(['-e', script]);
    try {
      const first = await waitForLine(child, /"tick"/, 10_000);
      const second = await waitForLine(child, /"tick"/, 10_000);
      assert.equal(first.json?.n, 1);
      assert.equal(second.json?.n, 2);
      const third = await waitForLine(child, (_line, json) => json?.n === 3, 10_000);
      assert.equal(third.json?.msg, 'tick');
      const stopped = await stopProcess(child, { timeoutMs: 10_000 });
      assert.deepEqual(stopped, { code: 0, signal: null, killed: false });
      await waitForLine(child, /"bye"/, 1_000);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('rejects waitForLine promptly when the child exits without the line', async () => {
    const child = spawnNode(['-e', 'console.log("only line")']);
    await assert.rejects(waitForLine(child, /never/, 10_000), /process exited \(code 0/);
  });
});
