#!/usr/bin/env bash
# `npm run bench`: sets up everything the benchmark needs, then runs it (bench/main.ts).
# Needs: Docker (started here if it is installed but not running), the local busybox image,
# Debian's Compose as the reference (v2 when Debian offers it, else v1), and the compiled tree.
# Knobs pass through to bench/main.ts: BENCH_FIGURES, BENCH_REPS, BENCH_SIZES.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash examples/lib/ensure-docker.sh
bash examples/lib/busybox-image.sh

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian 12 ships Compose v1 (docker-compose 1.29) only; a later Debian may offer v2 as
# docker-compose-v2, which is preferred when its candidate exists.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  compose_package=docker-compose
  if apt-cache policy docker-compose-v2 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    compose_package=docker-compose-v2
  fi
  echo "bench: installing $compose_package" >&2
  as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$compose_package" >/dev/null
fi

# Other files may carry type errors while being worked on; tsc still emits, and the bench
# only needs its own output.
npx tsc -p . || echo "bench: tsc reported type errors (output emitted anyway)" >&2
test -f dist/bench/main.js
exec node dist/bench/main.js
