#!/usr/bin/env bash
# The main demo: builds govmomi's vSphere simulator (installing Go and govmomi from
# Debian when missing), starts it on 127.0.0.1 with TLS, and runs the `about` and
# `vm-tour` examples against it with the simulator's certificate pinned by thumbprint.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
launcher=$(bash scripts/build-vcsim.sh | tail -n 1)
cargo build --quiet -p examples --bin about --bin vm-tour

out=$(mktemp)
# The launcher exits when its standard input closes: keep a pipe open to it.
exec 3> >("$launcher" -model vpx -tls=true >"$out" 2>&1)
cleanup() { exec 3>&-; sleep 0.2; rm -f "$out"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  grep -q '^READY' "$out" 2>/dev/null && break
  sleep 0.1
done
grep -q '^READY' "$out" || { echo "simulator did not start:"; cat "$out"; exit 1; }
url=$(sed -n 's/^URL //p' "$out")
user=$(sed -n 's/^USERNAME //p' "$out")
pass=$(sed -n 's/^PASSWORD //p' "$out")
tp=$(sed -n 's/^SHA256 //p' "$out")
echo "simulator at $url (certificate SHA-256 $tp)"
VIM_USERNAME="$user" VIM_PASSWORD="$pass" "${CARGO_TARGET_DIR:-target}/debug/about" --url "$url" --thumbprint "$tp"
echo
echo "vm-tour: seven everyday steps through the SDK"
VIM_USERNAME="$user" VIM_PASSWORD="$pass" "${CARGO_TARGET_DIR:-target}/debug/vm-tour" --url "$url" --thumbprint "$tp"
