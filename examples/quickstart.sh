#!/usr/bin/env bash
# Quick start: install Capstan's dependencies, make sure a Docker engine answers (installing
# and starting one if none does), build the local example image, put examples/hello into a
# local git repository, reconcile it once onto this host and print `capstan status`.
# Safe to run again: it converges to the same state.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "==> installing npm dependencies"
  npm ci --no-audit --no-fund
fi
echo "==> building"
npx tsc -p .

bash examples/lib/ensure-docker.sh
bash examples/lib/busybox-image.sh local/busybox:1

state_dir="$root/.capstan/example"
repo_dir="$state_dir/manifests"
echo "==> publishing examples/hello to the local git repository $repo_dir"
mkdir -p "$repo_dir"
if [ ! -d "$repo_dir/.git" ]; then
  git -C "$repo_dir" init -q -b main
fi
rm -rf "${repo_dir:?}/hello" && cp -r examples/hello "$repo_dir/hello"
git -C "$repo_dir" add -A
if ! git -C "$repo_dir" diff --cached --quiet || ! git -C "$repo_dir" rev-parse -q --verify HEAD >/dev/null; then
  git -C "$repo_dir" -c user.name=capstan-example -c user.email=example@capstan.invalid commit -q -m "hello: deploy examples/hello"
fi

capstan() { node "$root/dist/agent/main.js" "$@"; }
export CAPSTAN_REPO="$repo_dir" CAPSTAN_BRANCH=main CAPSTAN_STATE_DIR="$state_dir" CAPSTAN_NODE=example
echo "==> capstan once"
capstan once
echo "==> capstan status"
capstan status
echo
echo "The app answers on http://127.0.0.1:8080/ . Edit $repo_dir/hello, commit, and run"
echo "  CAPSTAN_REPO=$repo_dir CAPSTAN_STATE_DIR=$state_dir CAPSTAN_NODE=example node dist/agent/main.js run"
echo "to watch it follow every commit."
