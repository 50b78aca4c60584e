#!/usr/bin/env bash
# The test suite, exactly as CI runs it (.ci/run calls `npm test`, which calls this).
#
#   bash test/run.sh                                   # everything: unit, then integration
#   bash test/run.sh test/unit/plan.test.ts            # chosen files (.ts sources or dist .js)
#   bash test/run.sh --test-name-pattern=rollout test/integration/rollout.test.ts
#
# Installs what is missing (node_modules, a Docker engine, the busybox test image), type-checks
# and builds, runs the tests, then removes Docker objects this run's tests left behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n== %s\n' "$*" >&2; }

# --- dependencies ----------------------------------------------------------------------------
# better-sqlite3 is native. CI reaches only the npm registry and Debian's mirrors, so its
# prebuilt binary (on GitHub) is out of reach: compile it against the headers installed with
# node instead of letting node-gyp download them.
node_prefix="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$node_prefix/include/node/common.gypi" ]; then
  export npm_config_nodedir="$node_prefix"
fi
export npm_config_build_from_source="${npm_config_build_from_source:-true}"

sqlite_loads() {
  node -e 'new (require("better-sqlite3"))(":memory:").close()' >/dev/null 2>&1
}

# npm ci rewrites node_modules/.package-lock.json, so a lockfile newer than it means stale deps.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
fi
if ! sqlite_loads; then
  say "better-sqlite3 does not load for node $(node -v); rebuilding it"
  npm rebuild better-sqlite3
  if ! sqlite_loads; then
    node -e 'new (require("better-sqlite3"))(":memory:")' || true
    echo "run.sh: better-sqlite3 still does not load; it needs python3, make, g++ and node's headers" \
      "(set npm_config_nodedir to the folder holding include/node)" >&2
    exit 1
  fi
fi

# --- which tests -----------------------------------------------------------------------------
# Compiled files are chosen from the sources, so a test deleted from test/ but still in dist/
# does not run.
shopt -s nullglob
node_flags=()
sources=()
for arg in "$@"; do
  case "$arg" in
    -*) node_flags+=("$arg") ;;
    *) sources+=("$arg") ;;
  esac
done
whole_suite=""
if [ "${#sources[@]}" -eq 0 ]; then
  whole_suite=yes
  sources=(test/unit/*.test.ts test/integration/*.test.ts)
fi
test_files=()
needs_docker=""
for source in "${sources[@]}"; do
  case "$source" in
    dist/*.js) compiled="$source" ;;
    *.ts) compiled="dist/${source%.ts}.js" ;;
    *) echo "run.sh: $source is neither a test/*.ts source nor a dist/*.js file" >&2; exit 2 ;;
  esac
  case "$source" in
    *integration/*) needs_docker=yes ;;
  esac
  test_files+=("$compiled")
done
if [ "${#test_files[@]}" -eq 0 ]; then
  echo "run.sh: no tests found under test/unit or test/integration" >&2
  exit 1
fi

# --- Docker ----------------------------------------------------------------------------------
if [ -n "$needs_docker" ]; then
  say "Docker engine, test tools and test image"
  # Sourced, so capstan_apt_install is at hand below; it starts the engine as when executed.
  # shellcheck source=examples/lib/ensure-docker.sh
  . examples/lib/ensure-docker.sh
  # Real peers some integration tests drive: a registry with htpasswd auth, and git signing
  # with OpenPGP and SSH keys.
  tools=()
  command -v docker-registry >/dev/null 2>&1 || tools+=(docker-registry)
  command -v htpasswd >/dev/null 2>&1 || tools+=(apache2-utils)
  command -v gpg >/dev/null 2>&1 && command -v gpg-agent >/dev/null 2>&1 || tools+=(gnupg)
  command -v ssh-keygen >/dev/null 2>&1 || tools+=(openssh-client)
  # age wraps SOPS data keys in the SOPS tests (test/helpers/sops.ts).
  command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || tools+=(age)
  # restic makes the volume snapshots of the storage tests (agent/storage).
  command -v restic >/dev/null 2>&1 || tools+=(restic)
  if [ "${#tools[@]}" -gt 0 ]; then capstan_apt_install "${tools[@]}"; fi
  bash examples/lib/busybox-image.sh
else
  # Unit tests only: no engine to start, but the SOPS tests still need Debian's age and ssh-keygen.
  unit_tools=()
  command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 || unit_tools+=(age)
  command -v ssh-keygen >/dev/null 2>&1 || unit_tools+=(openssh-client)
  if [ "${#unit_tools[@]}" -gt 0 ]; then
    say "${unit_tools[*]} (Debian packages) for the SOPS tests"
    export DEBIAN_FRONTEND=noninteractive
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null || apt-get -o DPkg::Lock::Timeout=300 -y update
    apt-get -o DPkg::Lock::Timeout=300 -y install "${unit_tools[@]}"
  fi
fi

# Tests label what they create with this id (test/helpers/docker.ts), so the sweep below removes
# only this run's leftovers, never those of a run going on beside it on the same engine.
export CAPSTAN_TEST_RUN="${CAPSTAN_TEST_RUN:-$(printf '%04x%04x' "$RANDOM" "$RANDOM")}"

# Objects whose test process died before its own cleanup ran (a timeout, a crash): hand-made
# ones labelled capstan.test=true (of this run, or unmarked), and those the agents of this run's
# test nodes (capstan.node=capstan-test-<run>-…) created.
# shellcheck disable=SC2317 # called from the EXIT trap
sweep_docker() {
  [ -n "$needs_docker" ] || return 0
  timeout 20 docker info >/dev/null 2>&1 || return 0
  # shellcheck disable=SC2016 # awk's own $fields
  local pick='($2 == "true" && ($3 == "" || $3 == run)) || index($4, "capstan-test-" run "-") == 1 { print $1 }'
  local format='{{.Label "capstan.test"}}	{{.Label "capstan.test-run"}}	{{.Label "capstan.node"}}'
  local containers=() networks=() volumes=()
  mapfile -t containers < <(docker ps -a --format "{{.ID}}	$format" | awk -F'\t' -v run="$CAPSTAN_TEST_RUN" "$pick")
  [ "${#containers[@]}" -eq 0 ] || docker rm -f -v "${containers[@]}" >/dev/null || true
  mapfile -t networks < <(docker network ls --format "{{.ID}}	$format" | awk -F'\t' -v run="$CAPSTAN_TEST_RUN" "$pick")
  [ "${#networks[@]}" -eq 0 ] || docker network rm "${networks[@]}" >/dev/null || true
  mapfile -t volumes < <(docker volume ls --format "{{.Name}}	$format" | awk -F'\t' -v run="$CAPSTAN_TEST_RUN" "$pick")
  [ "${#volumes[@]}" -eq 0 ] || docker volume rm -f "${volumes[@]}" >/dev/null || true
  local swept=$((${#containers[@]} + ${#networks[@]} + ${#volumes[@]}))
  if [ "$swept" -gt 0 ]; then
    echo "run.sh: swept $swept Docker object(s) that a test did not clean up itself" >&2
  fi
}
trap 'sweep_docker || true' EXIT

# --- build and run ---------------------------------------------------------------------------
say "type-check and build (tsc)"
node_modules/.bin/tsc -p tsconfig.json

# The whole suite (npm test, CI) first checks the import graph: no cycles, no forbidden edges
# (.ci/dependency-cruiser.cjs), and no export that nothing imports (.ci/knip.json). About 10 s,
# so a run of chosen files skips it (`npm run check:imports` runs it alone).
if [ -n "$whole_suite" ]; then
  say "import graph (dependency-cruiser) and unused exports (knip)"
  node_modules/.bin/depcruise --config .ci/dependency-cruiser.cjs agent manifests-schema/gen
  node_modules/.bin/knip --config .ci/knip.json
fi

for compiled in "${test_files[@]}"; do
  if [ ! -f "$compiled" ]; then
    echo "run.sh: $compiled was not built (is its source under test/ and in tsconfig.json?)" >&2
    exit 1
  fi
done

# Each test is bounded (--test-timeout, 5 min); --test-force-exit ends a file whose tests are done
# but whose process a forgotten handle keeps alive; the outer timeout bounds the whole suite.
suite_timeout="${CAPSTAN_TEST_SUITE_TIMEOUT:-3600}"
say "node --test (${#test_files[@]} files, run $CAPSTAN_TEST_RUN, at most $suite_timeout s)"
# The report also goes to a file, so the failures can be printed again at the end: a CI log that
# keeps only its tail still names what failed.
tap_copy="$(mktemp -t capstan-tap.XXXXXX)"
# timeout runs the suite in its own process group (so it can kill the test files' processes too),
# which Ctrl-C no longer reaches: forward INT/TERM to it ourselves.
timeout --kill-after=30 "$suite_timeout" \
  node --test --test-concurrency=2 --test-timeout=300000 --test-force-exit \
    --test-reporter=tap --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap_copy" \
    "${node_flags[@]}" "${test_files[@]}" &
suite_pid=$!
trap 'kill -TERM "$suite_pid" 2>/dev/null || true' INT TERM
status=0
wait "$suite_pid" || status=$?
# A signal ends `wait` early; wait again until the suite has really stopped.
while kill -0 "$suite_pid" 2>/dev/null; do
  status=0
  wait "$suite_pid" || status=$?
done
if [ "$status" -ne 0 ]; then
  # Each failed test (and each suite holding one) with its YAML block, cut at 40 lines.
  printf '\n# failures of this run (repeated from above)\n'
  awk '
    /^ *not ok / { depth = match($0, /[^ ]/); printing = 1; shown = 0 }
    printing { if (shown++ < 40) print "# " $0 }
    printing && /^ *\.\.\.$/ && match($0, /[^ ]/) == depth + 2 { printing = 0 }
  ' "$tap_copy"
fi
rm -f "$tap_copy"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "run.sh: the suite was still running after $suite_timeout s and was stopped" >&2
fi
exit "$status"
