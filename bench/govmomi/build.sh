#!/usr/bin/env bash
# Builds bench/govmomi (govmomi-bench) in GOPATH mode against the Debian govmomi
# package at /usr/share/gocode, like scripts/build-vcsim.sh builds the simulator.
# Usage: bash bench/govmomi/build.sh OUT_DIR   (prints the binary path last)
set -euo pipefail
src_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out_dir="${1:-$src_dir/../.work}"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
binary="$out_dir/govmomi-bench"
if ! command -v go >/dev/null 2>&1 && [ -x /usr/lib/go/bin/go ]; then
  PATH="/usr/lib/go/bin:$PATH"
fi
if [ ! -d /usr/share/gocode/src/github.com/vmware/govmomi/vim25 ]; then
  echo "govmomi build: /usr/share/gocode lacks govmomi (apt-get install golang-github-vmware-govmomi-dev)" >&2
  exit 1
fi
(
  cd "$src_dir"
  env GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE="$out_dir/gocache" \
    GOTMPDIR= CGO_ENABLED=0 go build -trimpath -o "$binary.tmp" .
) >&2
mv -f "$binary.tmp" "$binary"
echo "$binary"
