import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CapstanError, formatProblem } from '../../agent/errors.js';
import { validateDir } from '../../agent/load/index.js';
import type { MountSpec } from '../../agent/model.js';
import { DEFAULT_POLICY, parsePolicy, policyRefusals, type HostPolicy } from '../../agent/policy/index.js';

// The host policy: parsing the file, and each refusal with the setting that lifts it.

type Request = Parameters<typeof policyRefusals>[0];
const none: Request = { mounts: [] };
const bind = (source: string): MountSpec => ({ type: 'bind', source, target: '/x', readOnly: false });
const settingsOf = async (request: Request, policy: HostPolicy = DEFAULT_POLICY) =>
  (await policyRefusals(request, policy, request.mounts.map((_, index) => index))).map((refusal) => [refusal.key.join('.'), /; set (.+?) in the policy file/.exec(refusal.message)?.[1]]);

describe('host policy: parsing the file', () => {
  it('reads every setting, normalizing capabilities and roots', () => {
    const policy = parsePolicy(
      'allow_privileged: true\nallow_host_network: true\nallow_host_pid: true\nallow_docker_socket: true\nallow_devices: true\nallowed_capabilities: [cap_net_admin, SYS_TIME]\nbind_roots: [/srv/, /data//apps]\nallowed_runtimes: [runc, nvidia]\nallowed_volume_names: [shared]\nallowed_tmpfs_options: [exec]\nmax_tmpfs_size: 2g\nallowed_cgroup_parents: [/capstan/, apps.slice]\n',
      'policy.yaml',
    );
    assert.deepEqual(policy, {
      allowPrivileged: true,
      allowHostNetwork: true,
      allowHostPid: true,
      allowHostIpc: false,
      allowHostUts: false,
      allowHostUserns: false,
      allowHostCgroup: false,
      allowDockerSocket: true,
      allowDevices: true,
      allowUnsetVariables: false,
      allowedCapabilities: ['NET_ADMIN', 'SYS_TIME'],
      bindRoots: ['/srv', '/data/apps'],
      allowedRuntimes: ['runc', 'nvidia'],
      allowedVolumeNames: ['shared'],
      allowedTmpfsOptions: ['exec'],
      maxTmpfsBytes: 2 * 1024 ** 3,
      allowedSysctls: [],
      allowedSecurityOpts: [],
      allowedCgroupParents: ['/capstan', 'apps.slice'],
      mirrors: {},
      mirrorsFailClosed: false,
      updateLockMaxWaitMs: 3_600_000,
    });
    assert.deepEqual(parsePolicy('', 'empty.yaml'), DEFAULT_POLICY, 'an empty file is the default policy');
  });

  it('refuses a broken file with what is wrong, never falling back to the defaults', () => {
    const table: [string, RegExp][] = [
      ['allow_privileged: please\n', /policy file p\.yaml is invalid: allow_privileged: must be boolean/],
      ['bind_root: [/srv]\n', /policy file p\.yaml is invalid: the file: must NOT have additional properties 'bind_root'/],
      ['bind_roots: [srv]\n', /bind_roots\.0: must match pattern/],
      ['allow_devices: [\n', /policy file p\.yaml is invalid/],
    ];
    for (const [text, message] of table) {
      assert.throws(() => parsePolicy(text, 'p.yaml'), (error: unknown) => error instanceof CapstanError && error.code === 'POLICY_INVALID' && message.test(error.message), text);
    }
  });
});

describe('host policy: what a service may ask for', () => {
  it('by default refuses each request, naming the setting that allows it', async () => {
    const table: [Request, string, string][] = [
      [{ ...none, privileged: true }, 'privileged', 'allow_privileged: true'],
      [{ ...none, networkMode: { kind: 'host' } }, 'network_mode', 'allow_host_network: true'],
      [{ ...none, pid: 'host' }, 'pid', 'allow_host_pid: true'],
      [{ ...none, devices: [{ host: '/dev/fuse', container: '/dev/fuse', permissions: 'rwm' }] }, 'devices', 'allow_devices: true'],
      [{ ...none, capAdd: ['NET_ADMIN', 'SYS_ADMIN'] }, 'cap_add', 'allowed_capabilities: [NET_ADMIN, SYS_ADMIN]'],
      [{ ...none, capAdd: ['ALL'] }, 'cap_add', 'allowed_capabilities: [ALL]'],
      [{ ...none, runtime: 'nvidia' }, 'runtime', 'allowed_runtimes: [nvidia] (the list replaces the default one)'],
      [{ mounts: [bind('/var/run/docker.sock')] }, 'volumes.0', 'allow_docker_socket: true'],
      [{ mounts: [bind('/run/docker.sock')] }, 'volumes.0', 'allow_docker_socket: true'],
      [{ mounts: [bind('/var/run')] }, 'volumes.0', 'allow_docker_socket: true'],
      [{ mounts: [bind('/')] }, 'volumes.0', 'allow_docker_socket: true'],
      [{ mounts: [bind('/srv/app/data')] }, 'volumes.0', 'bind_roots: [/srv/app] (folders under which host paths may be mounted)'],
      [{ mounts: [bind('/etc')] }, 'volumes.0', 'bind_roots: [/etc] (folders under which host paths may be mounted)'],
      [{ ...none, cgroupParent: '/capstan/' }, 'cgroup_parent', 'allowed_cgroup_parents: [/capstan]'],
      [{ ...none, postStart: [{ command: ['true'] }, { command: ['chown', '1000', '/data'], privileged: true }] }, 'post_start.1.privileged', 'allow_privileged: true'],
      [{ ...none, preStop: [{ command: ['true'], privileged: true }] }, 'pre_stop.0.privileged', 'allow_privileged: true'],
    ];
    for (const [request, key, setting] of table) assert.deepEqual(await settingsOf(request), [[key, setting]], JSON.stringify(request));
  });

  it('allows what needs no permission: default capabilities, isolating runtimes, repository files', async () => {
    assert.deepEqual(await settingsOf({ ...none, capAdd: ['CHOWN', 'NET_BIND_SERVICE'], runtime: 'runsc' }), []);
    assert.deepEqual(await settingsOf({ ...none, runtime: 'kata' }), []);
    assert.deepEqual(await settingsOf({ mounts: [{ type: 'bind', source: '/state/checkouts/abc/conf', target: '/conf', readOnly: true, repo: { path: 'conf', digest: 'sha256:0' } }] }), []);
    assert.deepEqual(await settingsOf({ mounts: [{ type: 'volume', volume: 'data', target: '/data', readOnly: false }] }), []);
  });

  it('allows what the policy lists, and only that', async () => {
    const policy: HostPolicy = {
      ...DEFAULT_POLICY,
      allowPrivileged: true,
      allowDockerSocket: true,
      allowedCapabilities: ['NET_ADMIN'],
      bindRoots: ['/srv'],
      allowedRuntimes: ['runc'],
    };
    assert.deepEqual(await settingsOf({ ...none, privileged: true, capAdd: ['NET_ADMIN'] }, policy), []);
    assert.deepEqual(await settingsOf({ mounts: [bind('/var/run/docker.sock'), bind('/srv/a'), bind('/srv')] }, policy), []);
    assert.deepEqual(await settingsOf({ mounts: [bind('/srvx/a')] }, policy), [['volumes.0', 'bind_roots: [/srvx] (folders under which host paths may be mounted)']], 'a root is a folder, not a prefix');
    assert.deepEqual(await settingsOf({ mounts: [bind('/var/run')] }, policy), [['volumes.0', 'bind_roots: [/var] (folders under which host paths may be mounted)']], 'the socket setting allows the socket, not its folder');
    assert.deepEqual(await settingsOf({ ...none, runtime: 'runsc' }, policy), [['runtime', 'allowed_runtimes: [runsc] (the list replaces the default one)']]);
    assert.deepEqual(await settingsOf({ ...none, postStart: [{ command: ['true'], privileged: true }], preStop: [{ command: ['true'], privileged: true }] }, policy), []);
    const parents = { ...DEFAULT_POLICY, allowedCgroupParents: ['/capstan', 'apps.slice'] };
    assert.deepEqual(await settingsOf({ ...none, cgroupParent: 'apps.slice' }, parents), []);
    assert.deepEqual(await settingsOf({ ...none, cgroupParent: '/capstan/' }, parents), [], 'a trailing slash names the same cgroup');
    assert.deepEqual(await settingsOf({ ...none, cgroupParent: '/capstan/app' }, parents), [['cgroup_parent', 'allowed_cgroup_parents: [/capstan/app]']], 'each parent exactly, not a prefix');
  });

  it('a Compose file: the refusals of cgroup_parent and a privileged hook end with the policy snippet that admits them', async () => {
    const root = await mkdtemp(join(tmpdir(), 'capstan-policy-'));
    try {
      await writeFile(join(root, 'compose.yaml'), 'services:\n  web:\n    image: x\n    cgroup_parent: /capstan\n    post_start:\n      - command: chown -R 1000 /data\n        privileged: true\n');
      const refused = await validateDir({ root, commit: '', hashKey: new Uint8Array(), policy: { ...DEFAULT_POLICY, allowedCgroupParents: ['other.slice'] } });
      assert.deepEqual(refused.problems.map(formatProblem).map((line) => line.replace(/^[^:]*compose\.yaml/, 'compose.yaml')), [
        'compose.yaml:4:20: services.web.cgroup_parent: cgroup parent /capstan (the container is placed in a host cgroup of its choosing, outside the limits Docker gives it) is refused by host policy; set allowed_cgroup_parents: [/capstan] in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
        'compose.yaml:7:21: services.web.post_start[0].privileged: a privileged post_start hook is refused by host policy; set allow_privileged: true in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
        'compose.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n    allow_privileged: true\n    allowed_cgroup_parents: [other.slice, /capstan]',
      ]);
      const allowed = await validateDir({ root, commit: '', hashKey: new Uint8Array(), policy: { ...DEFAULT_POLICY, allowPrivileged: true, allowedCgroupParents: ['/capstan'] } });
      assert.deepEqual(allowed.problems, []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('the loader reports refusals at the key that asks, with the mount index as written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'capstan-policy-'));
    try {
      await writeFile(join(root, 'a.yaml'), 'app: a\nservices:\n  web:\n    image: x\n    privileged: true\n    volumes: ["data:/data", "/srv/x:/x"]\nvolumes: { data: {} }\n');
      const refused = await validateDir({ root, commit: '', hashKey: new Uint8Array() });
      assert.deepEqual(refused.problems.map(formatProblem), [
        'a.yaml:5:17: services.web.privileged: privileged mode is refused by host policy; set allow_privileged: true in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
        'a.yaml:6:29: services.web.volumes[1]: mounting host path /srv/x is refused by host policy; set bind_roots: [/srv] (folders under which host paths may be mounted) in the policy file (--policy-file, CAPSTAN_POLICY_FILE) to allow it [POLICY_REFUSED]',
        'a.yaml: to admit what the host policy refused, set these lines in the policy file (--policy-file, CAPSTAN_POLICY_FILE), if you trust the repository with them: [POLICY_SNIPPET]\n    allow_privileged: true\n    bind_roots: [/srv]',
      ]);
      const allowed = await validateDir({ root, commit: '', hashKey: new Uint8Array(), policy: { ...DEFAULT_POLICY, allowPrivileged: true, bindRoots: ['/srv'] } });
      assert.deepEqual(allowed.problems, []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
