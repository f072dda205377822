#!/usr/bin/env bash
# Builds the vSphere simulator launcher (test-support/vcsim-launcher) used by
# the workspace's integration tests.
#
# Installs Go and the Debian govmomi source package when they are missing,
# builds in GOPATH mode, and skips the build when the binary is up to date.
# The binary's path is the last line printed on stdout.
#
# Usage: bash scripts/build-vcsim.sh   (from any directory)
set -euo pipefail

script_path="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
repo_root="$(cd "$(dirname "$script_path")/.." && pwd)"
src_dir="$repo_root/test-support/vcsim-launcher"
gopath=/usr/share/gocode
govmomi_dir="$gopath/src/github.com/vmware/govmomi"

target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
case "$target_dir" in
  /*) ;;
  *) target_dir="$repo_root/$target_dir" ;;
esac
out_dir="$target_dir/vcsim"
binary="$out_dir/vcsim-launcher"
stamp="$out_dir/vcsim-launcher.sha256"

log() { echo "build-vcsim: $*" >&2; }

# --- toolchain -------------------------------------------------------------
if ! command -v go >/dev/null 2>&1 || [ ! -d "$govmomi_dir/simulator" ]; then
  log "installing golang-go and golang-github-vmware-govmomi-dev"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends golang-go golang-github-vmware-govmomi-dev >&2
fi
if ! command -v go >/dev/null 2>&1; then
  # Debian puts the go binary under /usr/lib/go/bin with a /usr/bin symlink;
  # fall back to the former in case PATH is minimal.
  if [ -x /usr/lib/go/bin/go ]; then
    PATH="/usr/lib/go/bin:$PATH"
  else
    log "error: 'go' not found after installing golang-go"
    exit 1
  fi
fi
if [ ! -d "$govmomi_dir/simulator" ]; then
  log "error: govmomi source not found at $govmomi_dir"
  exit 1
fi

# --- cache check -----------------------------------------------------------
fingerprint="$(sha256sum "$src_dir/main.go" "$script_path" | awk '{print $1}' | tr '\n' ' ')"
fingerprint="$fingerprint$(go version)"
if [ -x "$binary" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ]; then
  log "up to date: $binary"
  echo "$binary"
  exit 0
fi

# --- build -----------------------------------------------------------------
mkdir -p "$out_dir"
log "building $binary"
start=$(date +%s)
tmp_binary="$binary.tmp.$$"
trap 'rm -f "$tmp_binary"' EXIT
(
  cd "$src_dir"
  env GOPATH="$gopath" GO111MODULE=off GOFLAGS= GOCACHE="$out_dir/gocache" \
    GOTMPDIR= CGO_ENABLED=0 \
    go build -trimpath -o "$tmp_binary" .
) >&2
mv -f "$tmp_binary" "$binary"
printf '%s' "$fingerprint" >"$stamp"
log "built in $(($(date +%s) - start))s"
echo "$binary"
