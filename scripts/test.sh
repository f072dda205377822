#!/usr/bin/env bash
# Runs every test of the workspace. Builds govmomi's vSphere simulator first (installing
# Go and govmomi from Debian when missing): integration tests start it themselves.
# Installs Debian's docker.io (the client) and gcc when missing.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build-vcsim.sh >/dev/null
# The vic-appliance tests drive the real docker command line (no daemon needed) and
# build the hello-world image with gcc.
need=()
command -v docker >/dev/null 2>&1 || need+=(docker.io)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "test.sh: installing ${need[*]} from Debian" >&2
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo test --workspace "$@"
