// Every key of the Compose Specification Capstan knows, and what it does with each: `supported`
// (mapped onto the native format), `noted` (accepted with a note in `plan`, because it has no
// effect on one Docker host run by Capstan) or `refused` (an error naming file, line and key:
// dropping it silently would run something else than the file says). The README's table is
// generated from these tables, and the converter checks every key against them.

export type KeyStatus = 'supported' | 'noted' | 'refused';

export interface KeyRule {
  status: KeyStatus;
  /** What Capstan does with it (supported, noted) or why not and what to do instead (refused). */
  capstan: string;
}

export interface KeyScope {
  /** How the README names the place of these keys. */
  title: string;
  rules: Record<string, KeyRule>;
}

const supported = (capstan: string): KeyRule => ({ status: 'supported', capstan });
const noted = (capstan: string): KeyRule => ({ status: 'noted', capstan });
const refused = (capstan: string): KeyRule => ({ status: 'refused', capstan });

const EXTERNAL_HINT = 'Capstan only uses Docker objects it created itself';
const SECURITY_HINT = 'it changes what the container may do, so it is not dropped silently; remove it, or run this service by hand beside Capstan';

export const TOP_LEVEL: KeyScope = {
  title: 'top level',
  rules: {
    name: supported('the app name (else `COMPOSE_PROJECT_NAME` from `.env`, else the folder name, lower-cased)'),
    services: supported('`services`'),
    volumes: supported('`volumes` (see below)'),
    networks: supported('`networks`: networks of the app, Docker name `<app>_<network>` (see below)'),
    secrets: supported('files mounted into the services that list them (see below)'),
    configs: supported('files mounted into the services that list them (see below)'),
    version: noted('obsolete in the Compose Specification; ignored'),
    include: refused('other Compose files are not read; put the services in this file, or make each project its own folder'),
    models: refused('AI models are not run by Capstan'),
  },
};

export const SERVICE: KeyScope = {
  title: 'service',
  rules: {
    image: supported('`image`; with `build`, the built image is tagged `capstan/<app>-<service>:<digest>` instead (noted)'),
    build: supported('`build` (context, dockerfile, args, target)'),
    command: supported('`command`'),
    entrypoint: supported('`entrypoint`'),
    environment: supported('`environment`; a name without a value (`- TZ`) takes `${TZ}` from `.env`, and is an error when `.env` lacks it'),
    env_file: supported('`env_files` (plaintext or encrypted; `required: false` entries that are missing are left out)'),
    ports: supported('`ports` (short and long syntax; no ranges)'),
    volumes: supported('`volumes` (short and long syntax); `type: tmpfs` → `tmpfs`'),
    networks: supported('`networks`, with `aliases`'),
    depends_on: supported('`depends_on`, with conditions'),
    healthcheck: supported('`healthcheck`'),
    restart: supported('`restart`; left out it is `no`, as in Compose (Capstan\'s own default is `unless-stopped`); `on-failure:N` → `on-failure` (noted)'),
    deploy: supported('see `deploy` below'),
    labels: supported('`labels`'),
    user: supported('`user`'),
    working_dir: supported('`working_dir`'),
    cap_add: supported('`cap_add` (beyond Docker\'s defaults, the host policy must allow each)'),
    cap_drop: supported('`cap_drop`'),
    read_only: supported('`read_only`'),
    tmpfs: supported('`tmpfs`'),
    ulimits: supported('`ulimits`'),
    secrets: supported('files from the repository bind-mounted read-only at `/run/secrets/<name>`; `environment:` sources and SOPS-encrypted files become secret files'),
    configs: supported('as `secrets`, at `/<name>` unless `target` says otherwise'),
    profiles: supported('services whose profiles are not in `COMPOSE_PROFILES` (from `.env`) are left out (noted)'),
    extends: supported('within the same file; `file:` is refused'),
    init: supported('`init`'),
    stop_signal: supported('`stop_signal`'),
    stop_grace_period: supported('`stop_grace_period`'),
    runtime: supported('`runtime` (the host policy lists the allowed ones)'),
    privileged: supported('`privileged` (refused unless the host policy allows it)'),
    pid: supported('`pid: host` (refused unless the host policy allows it)'),
    devices: supported('`devices` (refused unless the host policy allows them)'),
    network_mode: supported('`host`, `none` and `service:<name>`; `bridge` and `container:` are refused'),
    scale: supported('`replicas`'),
    container_name: supported('a network alias on each of the service\'s networks (noted): containers are named `<app>-<service>-<n>`'),
    cpus: supported('`resources.cpus`'),
    mem_limit: supported('`resources.memory`'),
    mem_reservation: supported('`resources.memory_reservation`'),
    pids_limit: supported('`resources.pids_limit`'),
    shm_size: supported('`resources.shm_size`'),

    expose: noted('no effect: services reach every port of the services they share a network with'),
    links: noted('no effect without an alias (services reach each other by name); `service:alias` is refused, use `networks.<network>.aliases`'),
    logging: noted('ignored: containers log to the engine\'s default logging driver'),
    pull_policy: noted('ignored: Capstan pulls an image before every rollout that needs it'),
    attach: noted('no effect: Capstan attaches to no container'),
    develop: noted('no effect: `docker compose watch` only'),
    hostname: refused('the container\'s host name is not set by Capstan; services reach each other by service name or network alias'),
    domainname: refused(''),
    extra_hosts: refused(''),
    dns: refused(''),
    dns_opt: refused(''),
    dns_search: refused(''),
    mac_address: refused(''),
    external_links: refused(`${EXTERNAL_HINT}; grant access to another app with \`x-capstan: {uses: [app]}\``),
    volumes_from: refused('mount the same named volume in both services instead'),
    security_opt: refused(SECURITY_HINT),
    sysctls: refused(SECURITY_HINT),
    userns_mode: refused(SECURITY_HINT),
    ipc: refused(SECURITY_HINT),
    uts: refused(SECURITY_HINT),
    cgroup: refused(SECURITY_HINT),
    cgroup_parent: refused(SECURITY_HINT),
    device_cgroup_rules: refused(SECURITY_HINT),
    group_add: refused(SECURITY_HINT),
    isolation: refused('Windows containers only'),
    credential_spec: refused('Windows containers only'),
    gpus: refused('GPUs are not given to containers by Capstan'),
    storage_opt: refused(''),
    oom_kill_disable: refused(''),
    oom_score_adj: refused(''),
    mem_swappiness: refused(''),
    memswap_limit: refused('use `mem_limit`'),
    blkio_config: refused(''),
    cpu_count: refused('use `cpus`'),
    cpu_percent: refused('use `cpus`'),
    cpu_shares: refused('use `cpus`'),
    cpu_period: refused('use `cpus`'),
    cpu_quota: refused('use `cpus`'),
    cpu_rt_runtime: refused(''),
    cpu_rt_period: refused(''),
    cpuset: refused(''),
    platform: refused('images are pulled for the host\'s own platform'),
    stdin_open: refused('containers run detached, with no input'),
    tty: refused('containers run detached, with no terminal'),
    annotations: refused(''),
    label_file: refused('write the labels under `labels`'),
    post_start: refused('lifecycle hooks are not run by Capstan'),
    pre_stop: refused('lifecycle hooks are not run by Capstan'),
    provider: refused(''),
    models: refused('AI models are not run by Capstan'),
    use_api_socket: refused('the Docker socket is not given to containers this way; bind-mount it if the host policy allows'),
  },
};

export const DEPLOY: KeyScope = {
  title: '`deploy`',
  rules: {
    replicas: supported('`replicas`'),
    resources: supported('`resources` (see below)'),
    update_config: supported('`update` (see below)'),
    restart_policy: supported('`restart` when the service has none: `condition` none → `no`, on-failure → `on-failure`, any → `always`'),
    mode: supported('`replicated`; `global` is refused (one agent per host places what is assigned to it)'),
    rollback_config: noted('a failed rollout returns the whole commit to the last applied one (`update.failure_action`); its settings have no counterpart'),
    labels: noted('Swarm service labels; no effect on containers (use the service\'s `labels`)'),
    endpoint_mode: noted('no effect: services are reached by their DNS names on the app\'s networks'),
    placement: refused('fleet placement is not read from Compose files; run one agent per host with its own manifests path'),
  },
};

export const RESOURCES: KeyScope = {
  title: '`deploy.resources`',
  rules: {
    'limits.cpus': supported('`resources.cpus`'),
    'limits.memory': supported('`resources.memory`'),
    'limits.pids': supported('`resources.pids_limit`'),
    'reservations.memory': supported('`resources.memory_reservation`'),
    'reservations.cpus': noted('no effect on one host: Docker reserves no CPU time'),
    'reservations.devices': refused('GPUs and other devices are not reserved by Capstan'),
    'reservations.generic_resources': refused('Swarm only'),
  },
};

export const UPDATE_CONFIG: KeyScope = {
  title: '`deploy.update_config`',
  rules: {
    parallelism: supported('`update.parallelism`'),
    delay: supported('`update.delay`'),
    order: supported('`update.order`'),
    monitor: supported('`update.monitor`'),
    failure_action: supported('`update.failure_action` (`rollback`, `pause`; `continue` is refused)'),
    max_failure_ratio: noted('any failed replica fails the rollout'),
  },
};

export const RESTART_POLICY: KeyScope = {
  title: '`deploy.restart_policy`',
  rules: {
    condition: supported('`restart`'),
    delay: noted('Docker restarts with its own back-off'),
    max_attempts: noted('Docker restarts without a limit'),
    window: noted('no effect'),
  },
};

export const BUILD: KeyScope = {
  title: '`build`',
  rules: {
    context: supported('`build.context` (a folder of the repository)'),
    dockerfile: supported('`build.dockerfile`'),
    args: supported('`build.args`'),
    target: supported('`build.target`'),
    cache_from: noted('the engine\'s build cache is used'),
    cache_to: noted('the engine\'s build cache is used'),
    no_cache: noted('the engine\'s build cache is used'),
    pull: noted('base images are pulled as the engine does'),
    labels: noted('image labels are not set'),
    tags: noted('the image is tagged `capstan/<app>-<service>:<digest>`'),
    dockerfile_inline: refused('commit the Dockerfile'),
    additional_contexts: refused('one context per build'),
    ssh: refused('builds get no SSH agent'),
    secrets: refused('builds get no secrets; use `args` (kept in the image history) or a multi-stage build'),
    platforms: refused('images are built for the host\'s own platform'),
    network: refused('builds use the engine\'s default network'),
    extra_hosts: refused(''),
    shm_size: refused(''),
    isolation: refused('Windows only'),
    privileged: refused('builds are never privileged'),
    entitlements: refused('builds get no entitlements'),
    ulimits: refused(''),
  },
};

export const HEALTHCHECK: KeyScope = {
  title: '`healthcheck`',
  rules: {
    test: supported('`healthcheck.test`'),
    interval: supported('`healthcheck.interval`'),
    timeout: supported('`healthcheck.timeout`'),
    retries: supported('`healthcheck.retries`'),
    start_period: supported('`healthcheck.start_period`'),
    disable: supported('`healthcheck.disable`'),
    start_interval: noted('checks run every `interval`, in the start period too'),
  },
};

export const PORT: KeyScope = {
  title: '`ports` (long syntax)',
  rules: {
    target: supported('`target`'),
    published: supported('`published` (one port, no range)'),
    host_ip: supported('`host_ip`'),
    protocol: supported('`protocol` (`tcp`, `udp`)'),
    mode: noted('ports are published on this host (`host`); `ingress` has no routing mesh here'),
    name: noted('no effect'),
    app_protocol: noted('no effect'),
  },
};

export const MOUNT: KeyScope = {
  title: '`volumes` of a service (long syntax)',
  rules: {
    type: supported('`volume`, `bind`, `tmpfs`; `npipe`, `cluster` and `image` are refused'),
    source: supported('named volume, or a path: absolute on the host, or relative (a file or folder committed in the repository)'),
    target: supported('`target`'),
    read_only: supported('`read_only`'),
    'tmpfs.size': supported('`tmpfs` option `size`'),
    'tmpfs.mode': supported('`tmpfs` option `mode`'),
    'bind.create_host_path': noted('a missing host path is an error from Docker; a missing repository path an error from Capstan'),
    'volume.nocopy': noted('the image\'s files are copied into a new empty volume, as Docker does by default'),
    consistency: noted('no effect on Linux'),
    'bind.propagation': refused('mount propagation is not set by Capstan'),
    'bind.selinux': refused('SELinux relabelling (`z`, `Z`) is not done by Capstan'),
    'volume.subpath': refused('mount the whole volume'),
  },
};

export const DEPENDENCY: KeyScope = {
  title: '`depends_on` (long syntax)',
  rules: {
    condition: supported('`condition`: `service_started`, `service_healthy`, `service_completed_successfully`'),
    required: supported('`false`: a dependency left out by its profile is dropped (noted)'),
    restart: noted('a replaced dependency does not restart this service'),
  },
};

export const SERVICE_NETWORK: KeyScope = {
  title: '`networks` of a service (map form)',
  rules: {
    aliases: supported('`aliases`'),
    priority: noted('no effect'),
    gw_priority: noted('no effect'),
    ipv4_address: refused('addresses are assigned by Docker'),
    ipv6_address: refused('addresses are assigned by Docker'),
    link_local_ips: refused('addresses are assigned by Docker'),
    mac_address: refused('addresses are assigned by Docker'),
    driver_opts: refused(''),
    interface_name: refused(''),
  },
};

export const VOLUME: KeyScope = {
  title: 'top-level `volumes`',
  rules: {
    name: supported('`name`: the Docker volume name (default `<app>_<volume>`)'),
    labels: supported('`labels`'),
    driver: supported('`local` only'),
    external: refused(`${EXTERNAL_HINT}; declare the volume here and let Capstan create it`),
    driver_opts: refused('volumes are plain local volumes'),
  },
};

export const NETWORK: KeyScope = {
  title: 'top-level `networks`',
  rules: {
    internal: supported('`internal`'),
    driver: supported('`bridge` only'),
    attachable: noted('no effect'),
    labels: noted('networks carry Capstan\'s own labels only'),
    name: refused('networks are named `<app>_<network>`'),
    external: refused(`${EXTERNAL_HINT}; to reach another app, grant it: \`x-capstan: {uses: [other-app]}\``),
    driver_opts: refused('networks are plain bridge networks'),
    ipam: refused('addresses are assigned by Docker'),
    enable_ipv6: refused(''),
    enable_ipv4: refused(''),
  },
};

export const SECRET: KeyScope = {
  title: 'top-level `secrets` and `configs`',
  rules: {
    file: supported('a file of the repository, bind-mounted read-only (noted: its content is in git in plaintext); a SOPS-encrypted file is decrypted into a secret file instead (mode 0400 unless `mode` says otherwise)'),
    environment: supported('a secret file whose content is `${VARIABLE}`'),
    content: supported('`configs` only: a file with this content'),
    name: noted('no effect'),
    external: refused(EXTERNAL_HINT),
    driver: refused('Swarm only'),
    driver_opts: refused('Swarm only'),
    template_driver: refused('Swarm only'),
  },
};

export const SERVICE_SECRET: KeyScope = {
  title: '`secrets` and `configs` of a service (long syntax)',
  rules: {
    source: supported('the top-level entry'),
    target: supported('the path in the container (relative: under `/run/secrets/` for secrets, `/` for configs)'),
    mode: supported('`mode` of a secret file from `environment`, `content` or a SOPS file; noted for other files, which are bind-mounted as they are'),
    uid: noted('secret files belong to root, or to the numeric `user` of the service'),
    gid: noted('secret files belong to root, or to the numeric `user` of the service'),
  },
};

/** In the order of the README's table. */
export const KEY_SCOPES: KeyScope[] = [
  TOP_LEVEL,
  SERVICE,
  DEPLOY,
  RESOURCES,
  UPDATE_CONFIG,
  RESTART_POLICY,
  BUILD,
  HEALTHCHECK,
  PORT,
  MOUNT,
  DEPENDENCY,
  SERVICE_NETWORK,
  VOLUME,
  NETWORK,
  SECRET,
  SERVICE_SECRET,
];
