#!/usr/bin/env bash
# The main demo: the seed's story end to end on a local vSphere simulator (a
# standalone ESXi host), every step printed.
#
#  1. build govmomi's simulator (installing Go and govmomi from Debian when missing)
#     and start it on 127.0.0.1 with TLS;
#  2. start tether-sim, the stand-in for the in-guest agent (the simulator runs no
#     guest);
#  3. vch create VCH001 (vic-machine's create);
#  4. start vic-appliance, the VCH's Docker API;
#  5. build the project's hello-world image (a `docker save` tarball);
#  6. docker load, docker run hello-world, docker ps -a (Debian's docker.io client,
#     installed when `docker` is missing; no daemon is started or needed);
#  7. vch inspect, vch delete.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
bin="$target_dir/debug"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

if ! command -v docker >/dev/null 2>&1; then
  step "installing Debian's docker.io for the docker client"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq docker.io >/dev/null
fi

step "building the simulator launcher and the programs"
launcher=$(bash scripts/build-vcsim.sh | tail -n 1)
cargo build --quiet -p examples --bin vch --bin tether-sim --bin vic-appliance

work=$(mktemp -d)
sim_out="$work/simulator.out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT

step "starting a standalone ESXi simulator on 127.0.0.1"
# The launcher exits when its standard input closes: keep a pipe open to it.
exec 3> >("$launcher" -model esx -tls=true >"$sim_out" 2>&1)
for _ in $(seq 1 100); do
  grep -q '^READY' "$sim_out" 2>/dev/null && break
  sleep 0.1
done
grep -q '^READY' "$sim_out" || { echo "simulator did not start:"; cat "$sim_out"; exit 1; }
url=$(sed -n 's/^URL //p' "$sim_out")
export VIM_PASSWORD; VIM_PASSWORD=$(sed -n 's/^PASSWORD //p' "$sim_out")
user=$(sed -n 's/^USERNAME //p' "$sim_out")
tp=$(sed -n 's/^SHA256 //p' "$sim_out")
echo "simulator at $url (certificate SHA-256 $tp)"
conn=(--target "$url" --user "$user" --thumbprint "$tp")

step "starting tether-sim (the guest agent's stand-in)"
"$bin/tether-sim" "${conn[@]}" --vch VCH001 >"$work/tether.log" 2>&1 &
pids+=($!)
echo "tether-sim running (log: $work/tether.log)"

step "vch create"
cd "$work"
show "$bin/vch" create "${conn[@]}" --name VCH001 --image-datastore LocalDS_0 \
  --bridge-network 'VCH Bridge' --external-network 'VM Network' --timeout 120

step "starting vic-appliance, the VCH's Docker API"
# The seed's ports: the Docker API on 2376, the containerVMs' serial connections on 2377.
"$bin/vic-appliance" "${conn[@]}" --name VCH001 >"$work/appliance.out" 2>"$work/appliance.log" &
pids+=($!)
for _ in $(seq 1 200); do
  grep -q 'serves the Docker API' "$work/appliance.out" 2>/dev/null && break
  sleep 0.1
done
grep -q 'serves the Docker API' "$work/appliance.out" || { echo "vic-appliance did not start:"; cat "$work/appliance.log"; exit 1; }
cat "$work/appliance.out"
docker_host=$(sed -n 's/.*serves the Docker API on \([^;]*\);.*/\1/p' "$work/appliance.out")
export DOCKER_CONFIG="$work/docker-config" DOCKER_CERT_PATH="$work/VCH001"
d=(docker -H "$docker_host" --tls)

step "building the hello-world image"
bash "$root/scripts/hello-image.sh" "$work/hello-world.tar"

step "docker load"
show "${d[@]}" load -i "$work/hello-world.tar"
show "${d[@]}" images

step "docker run hello-world"
show "${d[@]}" run hello-world

step "docker ps -a"
show "${d[@]}" ps -a

step "vch inspect"
show "$bin/vch" inspect "${conn[@]}" --name VCH001

step "vch delete"
show "$bin/vch" delete "${conn[@]}" --name VCH001
echo
echo "demo complete"
