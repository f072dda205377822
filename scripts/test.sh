#!/usr/bin/env bash
# Runs every test of the workspace. Builds govmomi's vSphere simulator first (installing
# Go and govmomi from Debian when missing): integration tests start it themselves.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/build-vcsim.sh >/dev/null
cargo test --workspace "$@"
