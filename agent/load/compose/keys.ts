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
    include: supported('files of the repository (paths from the Compose file\'s folder, never outside the checkout or through a symbolic link out of it); their services, volumes, networks, secrets and configs join the app, a name defined twice is an error. As in Compose, the relative paths of a file of another folder (build context, env files, bind sources, secret and config files) start from that folder (one given by a variable is refused there); `project_directory` and `env_file` are refused'),
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
    volumes: supported('`volumes` (short and long syntax); `type: tmpfs` → `tmpfs`; an anonymous volume (`- /app/node_modules`) is a volume per replica, `<app>-<service>-<n>_<digest>`, kept across its replacements as Compose keeps it across recreation (the service then rolls out stop-first), deleted only with `x-capstan: {remove_anonymous_volumes: true}` once no replica mounts it; a relative source the repository lacks (`./data:/data`), a folder Compose would create on the host, is a volume of the app named after the path (`data`, Docker name `<app>_data`), mounted empty (`nocopy`) and kept (noted)'),
    networks: supported('`networks`, with `aliases`'),
    depends_on: supported('`depends_on`, with conditions'),
    healthcheck: supported('`healthcheck`'),
    restart: supported('`restart`; left out it is `no`, as in Compose (Capstan\'s own default is `unless-stopped`); `on-failure:N` → `on-failure` with `restart_max_retries: N`'),
    deploy: supported('see `deploy` below'),
    labels: supported('`labels`'),
    label_file: supported('files of the repository, read into `labels` (which wins over them)'),
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
    extends: supported('within the same file, or `file:` another Compose file of the repository (never outside the checkout); as in Compose, the relative paths of a service extended from another folder start from that folder (one given by a variable is refused there)'),
    init: supported('`init`'),
    stop_signal: supported('`stop_signal`'),
    stop_grace_period: supported('`stop_grace_period`'),
    runtime: supported('`runtime` (the host policy lists the allowed ones)'),
    privileged: supported('`privileged` (refused unless the host policy allows it)'),
    pid: supported('`pid: host` (refused unless the host policy allows it)'),
    devices: supported('`devices`: short and long syntax, and CDI names (`vendor.com/class=name`); refused unless the host policy sets `allow_devices`'),
    network_mode: supported('`host`, `none` and `service:<name>`; `container:<name>` of a container of the app (its `container_name`, or `<app>-<service>-1`) as `service:` (noted); `bridge` and other `container:` are refused'),
    scale: supported('`replicas`'),
    container_name: supported('a network alias on each of the service\'s networks (noted): containers are named `<app>-<service>-<n>`'),
    cpus: supported('`resources.cpus`'),
    mem_limit: supported('`resources.memory`'),
    mem_reservation: supported('`resources.memory_reservation`'),
    pids_limit: supported('`resources.pids_limit`'),
    shm_size: supported('`resources.shm_size`'),
    cpuset: supported('`resources.cpuset`'),
    memswap_limit: supported('`resources.memory_swap`'),
    mem_swappiness: supported('`resources.memory_swappiness`'),
    cpu_shares: supported('`resources.cpu_shares`'),
    cpu_period: supported('`resources.cpu_period`'),
    cpu_quota: supported('`resources.cpu_quota`'),
    group_add: supported('`group_add`'),
    ipc: supported('`ipc`: `private`, `shareable`; `host` when the host policy sets `allow_host_ipc`; `service:` and `container:` are refused'),
    uts: supported('`uts: host` when the host policy sets `allow_host_uts`'),
    userns_mode: supported('`userns_mode: host` when the host policy sets `allow_host_userns`'),
    cgroup: supported('`cgroup`: `private`; `host` when the host policy sets `allow_host_cgroup`'),
    oom_kill_disable: supported('`oom_kill_disable`'),
    storage_opt: supported('`storage_opt`'),
    blkio_config: supported('`blkio_config`'),
    device_cgroup_rules: supported('`device_cgroup_rules` when the host policy sets `allow_devices`'),
    cpu_rt_runtime: supported('`cpu_rt_runtime`'),
    cpu_rt_period: supported('`cpu_rt_period`'),
    gpus: supported('`gpus` (`all`, or the long syntax) when the host policy sets `allow_devices`'),
    hostname: supported('`hostname`'),
    domainname: supported('`domainname`'),
    extra_hosts: supported('`extra_hosts` (list `HOST:IP` / `HOST=IP`, or map; `host-gateway` as in Docker)'),
    dns: supported('`dns`'),
    dns_search: supported('`dns_search`'),
    dns_opt: supported('`dns_opt`'),
    stdin_open: supported('`stdin_open`'),
    tty: supported('`tty`'),
    platform: supported('`platform`: the image is pulled and run for it'),
    oom_score_adj: supported('`oom_score_adj`'),
    mac_address: supported('`mac_address`'),
    logging: supported('`logging` (driver and options)'),
    sysctls: supported('`sysctls`: `net.*` as Docker allows them per container (not with `network_mode: host`); any other only when the host policy lists it in `allowed_sysctls`'),
    cgroup_parent: supported('`cgroup_parent` when the host policy lists it in `allowed_cgroup_parents`'),
    post_start: supported('`post_start` (`command`, `user`, `privileged`, `working_dir`, `environment`): run with `docker exec` in each replica after every start Capstan makes, before it counts as ready; a failure fails the start, so a rollout rolls back. `privileged: true` needs the host policy\'s `allow_privileged`'),
    pre_stop: supported('`pre_stop`: run with `docker exec` in each replica before Capstan stops it (replacement, scale-down, restart), bounded by the stop grace period; a failure is logged and the stop goes on. Not run for a removed service, as Compose runs none for orphans'),
    security_opt: supported('`security_opt`: `no-new-privileges` always; any other (`seccomp=unconfined`, `apparmor=unconfined`, `label=disable`, a seccomp profile file of the repository) only when the host policy lists it in `allowed_security_opts`'),

    expose: noted('no effect: services reach every port of the services they share a network with'),
    links: noted('services reach each other by name without links; `service:alias` makes the alias a network alias of that service (noted)'),
    pull_policy: noted('ignored: Capstan pulls an image before every rollout that needs it'),
    attach: noted('no effect: Capstan attaches to no container'),
    develop: noted('no effect: `docker compose watch` only'),
    external_links: refused(`${EXTERNAL_HINT}; grant access to another app with \`x-capstan: {uses: [app]}\``),
    volumes_from: supported('another service of the app (`SERVICE`, `container:NAME` of its `container_name` or `<app>-<service>-1`, with `:ro` or `:rw`): its mounts (named volumes and binds, at the same targets) are mounted here too, so each replica keeps them when either service is replaced; a mount of the service\'s own at the same target wins, as in Docker. Its anonymous volumes (one per replica) and its image\'s own `VOLUME` folders are not shared (refused and noted: name the volume); a container that is not the app\'s is refused'),
    isolation: refused('Windows containers only'),
    credential_spec: refused('Windows containers only'),
    cpu_count: refused('use `cpus`'),
    cpu_percent: refused('use `cpus`'),
    annotations: refused('container annotations need Docker Engine 24 (API 1.43) and are not set by Capstan; use `labels`'),
    provider: refused('a provider service runs a Compose plugin, not a container'),
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
    placement: noted('no effect, as with `docker compose up`: Swarm placement constraints are not read (for a fleet, see "One host, a fleet, or Swarm")'),
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
    max_attempts: supported('`restart_max_retries` with condition `on-failure` (Docker limits no other policy: noted)'),
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
    source: supported('named volume, or a path: absolute on the host, `~/…` in the home folder of the user the agent runs as, or relative (a file or folder committed in the repository); left out with `type: volume`, an anonymous volume (see `volumes` above)'),
    target: supported('`target`'),
    read_only: supported('`read_only`'),
    'tmpfs.size': supported('`tmpfs` option `size`'),
    'tmpfs.mode': supported('`tmpfs` option `mode`'),
    'bind.create_host_path': noted('a missing host path is an error from Docker; a missing repository path an error from Capstan'),
    'volume.nocopy': supported('`volume.nocopy`: the image\'s files are not copied into a new empty volume (short syntax `:nocopy` too)'),
    consistency: noted('no effect on Linux'),
    'bind.propagation': refused('mount propagation is not set by Capstan'),
    'bind.selinux': supported('`bind.selinux` (short syntax `:z`, `:Z`): Docker relabels the source (no effect without SELinux)'),
    'volume.subpath': refused('mount the whole volume'),
  },
};

export const DEPENDENCY: KeyScope = {
  title: '`depends_on` (long syntax)',
  rules: {
    condition: supported('`condition`: `service_started`, `service_healthy`, `service_completed_successfully`'),
    required: supported('`false`: a dependency left out by its profile is dropped (noted)'),
    restart: supported('`restart: true`: this service is restarted after the dependency was replaced and meets the condition again'),
  },
};

export const SERVICE_NETWORK: KeyScope = {
  title: '`networks` of a service (map form)',
  rules: {
    aliases: supported('`aliases`'),
    priority: noted('no effect'),
    gw_priority: noted('no effect'),
    ipv4_address: supported('`ipv4_address`, inside the network\'s `ipam` subnet, for a service of one replica'),
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
    external: supported('`external` (also the older `external: {name: …}`): a volume that exists on the host (made by hand, or by an earlier `docker compose up`), named by `name` or else by its key as in Compose: mounted as it is; Capstan never creates, labels, snapshots or deletes it, and a missing one stops the commit before anything changes, naming file, line and key. Its name must be the app\'s own (`<app>_<volume>`) or listed in the host policy\'s `allowed_volume_names` (the refusal prints the line); `--target swarm` refuses it'),
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
    name: supported('the Docker network\'s name. With `external: true`, the network joined. Without it, as in Compose, a network shared by name with other apps and Compose projects: created as a plain bridge network (without Capstan\'s labels) when the host lacks it, joined by every app that names it, never changed or removed; `internal` and `ipam` are refused with it, and on `default`'),
    external: supported('`external`: a network that exists on the host (a reverse proxy\'s, made by hand): services join it; Capstan never creates, changes or removes it, and a missing one stops the commit before anything changes, naming file, line and key. Between Capstan apps prefer grants: `x-capstan: {uses: [other-app]}`'),
    driver_opts: refused('networks are plain bridge networks'),
    ipam: supported('`ipam`: driver `default`, one IPv4 `config` entry (`subnet`, `ip_range`, `gateway`, `aux_addresses`); a subnet overlapping one the host has stops the commit before anything changes. Set at creation: a changed subnet needs the network removed by hand'),
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
