#!/usr/bin/env bash
# Builds the project's hello-world image as a `docker save` tarball (the classic
# layout every Docker since 1.10 loads: manifest.json, repositories, <config>.json
# and one <layer-id>/ directory with VERSION, json and layer.tar).
#
#   scripts/hello-image.sh OUT.tar [TAG]      (TAG defaults to hello-world:latest)
#
# The layer holds one file, /hello, built from examples/hello/hello.c with
# `gcc -static -Os -s`. Every tar is made with fixed names, owners and times, so
# the same compiler gives the same layer digest and image ID on every run.
# Installs nothing but gcc (apt-get, when it is missing).
set -euo pipefail

usage() {
    echo "usage: $0 OUT.tar [TAG]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
out=$1
tag=${2:-hello-world:latest}
# A tag follows the last ':' of the last path component (a registry's port does not count).
case ${tag##*/} in
*:*) ;;
*) tag="$tag:latest" ;;
esac
repo=${tag%:*}
version=${tag##*:}
if [[ -z $repo || -z $version || $repo == */ || $version == */* ]]; then
    echo "$0: $tag is not a name:tag reference" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_file="$here/../examples/hello/hello.c"
[[ -f $source_file ]] || {
    echo "$0: $source_file is missing" >&2
    exit 1
}

if ! command -v gcc >/dev/null 2>&1; then
    echo "gcc is missing; installing gcc and libc6-dev" >&2
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update >&2
    $sudo apt-get install -y gcc libc6-dev >&2
fi

umask 022
work=$(mktemp -d "${TMPDIR:-/tmp}/hello-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Fixed for reproducible digests: 2024-01-01T00:00:00Z.
created="2024-01-01T00:00:00Z"
deterministic_tar=(tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar)

mkdir "$work/root" "$work/image"
gcc -static -Os -s -o "$work/root/hello" "$source_file"
chmod 0755 "$work/root/hello"
touch -d @0 "$work/root/hello"
"${deterministic_tar[@]}" -C "$work/root" -cf "$work/layer.tar" hello

diff_id="sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
env_path="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
run_config="{\"Env\":[\"$env_path\"],\"Cmd\":[\"/hello\"]}"
history="[{\"created\":\"$created\",\"created_by\":\"scripts/hello-image.sh: /hello from examples/hello/hello.c\"}]"
config="{\"architecture\":\"amd64\",\"config\":$run_config,\"created\":\"$created\",\"history\":$history,\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]}}"
printf '%s' "$config" >"$work/config.json"
config_hex=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/image/$config_hex.json"

# The legacy (v1) layer directory: docker load reads manifest.json, older tools
# read these. Its ID only has to be unique and stable: a digest of the layer's
# diff ID and the image config digest.
layer_id=$(printf '%s %s' "$diff_id" "sha256:$config_hex" | sha256sum | cut -d' ' -f1)
mkdir "$work/image/$layer_id"
mv "$work/layer.tar" "$work/image/$layer_id/layer.tar"
printf '1.0' >"$work/image/$layer_id/VERSION"
printf '%s' "{\"id\":\"$layer_id\",\"created\":\"$created\",\"container_config\":{\"Env\":[\"$env_path\"],\"Cmd\":[\"/hello\"]},\"config\":$run_config,\"architecture\":\"amd64\",\"os\":\"linux\"}" \
    >"$work/image/$layer_id/json"

printf '%s' "[{\"Config\":\"$config_hex.json\",\"RepoTags\":[\"$tag\"],\"Layers\":[\"$layer_id/layer.tar\"]}]" \
    >"$work/image/manifest.json"
printf '%s\n' "{\"$repo\":{\"$version\":\"$layer_id\"}}" >"$work/image/repositories"

find "$work/image" -exec touch -h -d @0 {} +
mkdir -p "$(dirname "$out")"
"${deterministic_tar[@]}" -C "$work/image" -cf "$work/image.tar" \
    manifest.json repositories "$config_hex.json" "$layer_id"
mv "$work/image.tar" "$out"
echo "$out"
