// Capstan's Docker client (agent/docker.ts) against the real engine, with dockerode's gRPC and
// ssh2 deferred. A child process, so that require's cache starts empty as in the agent.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { testLabels, TEST_IMAGE, uniqueName } from '../helpers/docker.js';
import { agentFor } from '../helpers/fixture.js';
import { repoRoot } from '../helpers/paths.js';

const run = promisify(execFile);

describe('Docker client with gRPC and ssh2 deferred', { timeout: 120_000 }, () => {
  it('talks to the engine without loading them, and loads ssh2 when an ssh:// host needs it', async (t) => {
    // No repository: the fixture gives the scratch folder, and its label cleanup removes the
    // probe's container if the probe dies before removing it.
    const agent = await agentFor(t, { noRepo: true });
    const work = await agent.tempDir('capstan-client');
    const name = uniqueName('capstan-client');
    const probe = join(work.path, 'probe.mjs');
    await writeFile(probe, `import { createRequire } from 'node:module';
const { connectDocker, deferUnusedDockerModules } = await import(${JSON.stringify(pathToFileURL(join(repoRoot(), 'dist', 'agent', 'docker.js')).href)});
const cache = createRequire(import.meta.url).cache;
const loaded = (pattern) => Object.keys(cache).some((path) => pattern.test(path));
const docker = connectDocker();
const report = { ping: String(await docker.ping()), apiVersion: (await docker.version()).ApiVersion };
report.image = (await docker.getImage(${JSON.stringify(TEST_IMAGE)}).inspect()).Id;
const created = await docker.createContainer({ name: ${JSON.stringify(name)}, Image: ${JSON.stringify(TEST_IMAGE)}, Cmd: ['sleep', '30'], Labels: ${JSON.stringify(testLabels({ 'capstan.node': agent.node }))} });
await created.start();
report.running = (await created.inspect()).State.Running;
report.listed = (await docker.listContainers({ filters: { name: [${JSON.stringify(name)}] } })).length;
await created.remove({ force: true });
report.grpcBefore = loaded(/node_modules\\/@grpc\\//);
report.ssh2Before = loaded(/node_modules\\/ssh2\\//);
const sshPath = Object.keys(cache).find((path) => /docker-modem\\/lib\\/ssh\\.js$/.test(path));
const agent = cache[sshPath].exports({ host: '127.0.0.1', port: 1 });
report.sshAgent = agent.constructor.name;
report.ssh2After = loaded(/node_modules\\/ssh2\\//);
report.deferredAgain = deferUnusedDockerModules().length;
process.stdout.write(JSON.stringify(report));
`);
    const { stdout } = await run(process.execPath, [probe], { cwd: work.path, timeout: 90_000 });
    const report = JSON.parse(stdout) as Record<string, unknown>;
    assert.equal(report.ping, 'OK');
    assert.match(String(report.apiVersion), /^1\.\d+$/);
    assert.match(String(report.image), /^sha256:/);
    assert.equal(report.running, true);
    assert.equal(report.listed, 1);
    assert.equal(report.grpcBefore, false, 'gRPC stays unloaded');
    assert.equal(report.ssh2Before, false, 'ssh2 stays unloaded until an ssh:// host needs it');
    assert.equal(report.sshAgent, 'Agent', 'the stand-in hands over to docker-modem\'s ssh agent');
    assert.equal(report.ssh2After, true);
    assert.equal(report.deferredAgain, 0, 'nothing deferred twice');
  });
});
