#!/usr/bin/env bash
# Makes sure a Docker engine answers, installing and starting Debian's docker.io when it does not.
#
# A developer machine with Docker running is left alone (the first `docker info` answers). A fresh
# Debian 12 CI machine has only a docker CLI: we install docker.io (engine 20.10, API 1.41) and
# busybox-static (examples/lib/busybox-image.sh builds the test image from /bin/busybox), then
# start dockerd ourselves, because CI machines and containers usually run no init system.
#
# Execute it (`bash examples/lib/ensure-docker.sh`) or source it (`. examples/lib/ensure-docker.sh`);
# sourcing defines the functions and runs them without changing the caller's shell options.
#
# Tunables: CAPSTAN_DOCKER_WAIT_SECONDS (default 60), CAPSTAN_DOCKERD_LOG
# (default /var/log/capstan-dockerd.log).

capstan_docker_answers() {
  command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1
}

# The pids of running dockerd processes, from /proc (minimal images lack pgrep).
capstan_dockerd_pids() {
  local comm_file name
  for comm_file in /proc/[0-9]*/comm; do
    read -r name <"$comm_file" 2>/dev/null || continue
    if [ "$name" = dockerd ]; then
      comm_file="${comm_file#/proc/}"
      printf '%s ' "${comm_file%/comm}"
    fi
  done
}

capstan_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo --preserve-env=DEBIAN_FRONTEND,NEEDRESTART_MODE,NEEDRESTART_SUSPEND "$@"
  else
    echo "ensure-docker: '$*' needs root and sudo is not installed" >&2
    return 1
  fi
}

# apt-get update only when the package lists are empty, or when an install from stale lists fails.
capstan_apt_install() {
  export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1
  local apt=(apt-get -o DPkg::Lock::Timeout=300 -y)
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    capstan_as_root "${apt[@]}" update || return 1
  fi
  echo "ensure-docker: installing $*" >&2
  # A temporary policy-rc.d stops the package scripts from starting dockerd through an init
  # script that may not work here; capstan_start_dockerd starts it the same way on every machine.
  local added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ] && [ ! -d /run/systemd/system ]; then
    capstan_as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d' \
      && added_policy=yes
  fi
  local status=0
  capstan_as_root "${apt[@]}" install "$@" \
    || { capstan_as_root "${apt[@]}" update && capstan_as_root "${apt[@]}" install "$@"; } \
    || status=$?
  if [ -n "$added_policy" ]; then
    capstan_as_root rm -f /usr/sbin/policy-rc.d
  fi
  return "$status"
}

capstan_ensure_packages() {
  local wanted=()
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    wanted+=(docker.io)
  fi
  if [ ! -x /bin/busybox ]; then
    wanted+=(busybox-static)
  fi
  if [ "${#wanted[@]}" -gt 0 ]; then
    capstan_apt_install "${wanted[@]}"
  fi
}

# dockerd needs a cgroup hierarchy; minimal VMs and containers sometimes boot without one mounted.
capstan_ensure_cgroups() {
  if awk '$3 == "cgroup" || $3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then
    return 0
  fi
  echo "ensure-docker: no cgroup filesystem mounted; mounting one" >&2
  if command -v cgroupfs-mount >/dev/null 2>&1; then
    capstan_as_root cgroupfs-mount
  else
    capstan_as_root mount -t cgroup2 none /sys/fs/cgroup
  fi
}

# Waits until `docker info` answers. With "watch", gives up early once no dockerd process is left
# (the one we started died), instead of waiting out the whole timeout.
capstan_wait_for_docker() {
  local watch="${1:-}" started=$SECONDS deadline=$((SECONDS + ${CAPSTAN_DOCKER_WAIT_SECONDS:-60}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ -S /var/run/docker.sock ] && capstan_docker_answers; then
      return 0
    fi
    if [ -n "$watch" ] && [ $((SECONDS - started)) -ge 3 ] && [ -z "$(capstan_dockerd_pids)" ]; then
      return 1
    fi
    sleep 1
  done
  return 1
}

capstan_start_dockerd() {
  local log="${CAPSTAN_DOCKERD_LOG:-/var/log/capstan-dockerd.log}"
  # setsid detaches dockerd from this script's session, so it outlives the script and CI step.
  # The background job's own streams go to /dev/null too: the shell that waits on dockerd would
  # otherwise hold the caller's stdout open, and `bash test/run.sh | grep …` would never end.
  # shellcheck disable=SC2016 # expanded by the inner sh
  capstan_as_root sh -c 'exec setsid nohup dockerd "$@" >>"$0" 2>&1 </dev/null' "$log" "$@" </dev/null >/dev/null 2>&1 &
  echo "ensure-docker: starting dockerd${*:+ $*} (log $log)" >&2
  if capstan_wait_for_docker watch; then
    return 0
  fi
  echo "ensure-docker: dockerd did not answer within ${CAPSTAN_DOCKER_WAIT_SECONDS:-60} s; last log lines:" >&2
  tail -n 25 "$log" >&2 || true
  return 1
}

capstan_ensure_docker() {
  if capstan_docker_answers; then
    return 0
  fi
  if [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ] && [ "$(id -u)" -ne 0 ]; then
    echo "ensure-docker: dockerd runs but $(id -un) may not use /var/run/docker.sock;" \
      "join the docker group or run as root" >&2
    return 1
  fi
  echo "ensure-docker: no Docker engine answers; setting one up" >&2
  capstan_ensure_packages || { echo "ensure-docker: could not install docker.io/busybox-static" >&2; return 1; }
  if capstan_docker_answers; then
    return 0
  fi

  # Another process (a parallel run, an init script) may be starting dockerd already: wait for it
  # rather than start a second daemon that would fight over /var/run/docker.pid.
  local running
  running="$(capstan_dockerd_pids)"
  if [ -n "$running" ]; then
    echo "ensure-docker: dockerd (pid $running) is running but not answering yet; waiting" >&2
    capstan_wait_for_docker "" && return 0
    echo "ensure-docker: the running dockerd (pid $running) never answered" >&2
    return 1
  fi

  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 \
    && systemctl cat docker.service >/dev/null 2>&1; then
    capstan_as_root systemctl start docker.service && capstan_wait_for_docker "" && return 0
    echo "ensure-docker: systemctl start docker did not give a working engine; see journalctl -u docker" >&2
    return 1
  fi

  capstan_ensure_cgroups || return 1
  capstan_start_dockerd && return 0
  local log="${CAPSTAN_DOCKERD_LOG:-/var/log/capstan-dockerd.log}"
  # Some kernels (nested VMs, gVisor) lack the netfilter support dockerd wants. Without iptables,
  # bridge networks and 127.0.0.1 port publishing (docker-proxy) still work, which is all the
  # tests use; only outbound NAT from containers is lost.
  if [ -z "$(capstan_dockerd_pids)" ] && grep -qi 'iptables' "$log" 2>/dev/null; then
    echo "ensure-docker: dockerd failed on iptables; retrying with --iptables=false" >&2
    capstan_start_dockerd --iptables=false && return 0
  fi
  echo "ensure-docker: could not start a Docker engine (log: $log)" >&2
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  capstan_ensure_docker
  exit $?
else
  capstan_ensure_docker
fi
