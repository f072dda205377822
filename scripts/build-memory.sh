#!/usr/bin/env bash
# Measures a clean build: wall time, and the peak memory (RSS) and time of every rustc,
# largest first. The figures of issue 14's build target come from this.
#
# Usage: bash scripts/build-memory.sh [-p PACKAGE] [--release] [--incremental]
#                                     [--time-passes] [cargo build options...]
#
#   -p PACKAGE      what to build (default vim25: the crate and all it depends on)
#   --release       the release profile (default: dev)
#   --incremental   incremental compilation, as a plain `cargo build` does; by default
#                   off, so that runs compare without a cache's cost
#   --time-passes   also rebuild PACKAGE alone with rustc's -Z time-passes (through
#                   RUSTC_BOOTSTRAP=1) and print its costliest passes with the RSS
#                   before and after each: where the memory goes
#
# Further options go to `cargo build` (`--config 'profile.dev.package.X.debug=false'`
# tries a profile setting). The build goes to a fresh target directory under
# $BUILD_MEMORY_DIR (default /tmp/build-memory), deleted before and after; the
# per-rustc log and cargo's --timings report are kept there.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
package=vim25
profile=()
incremental=0
passes=0
rest=()
while [ $# -gt 0 ]; do
  case "$1" in
    -p) package="$2"; shift 2 ;;
    --release) profile=(--release); shift ;;
    --incremental) incremental=1; shift ;;
    --time-passes) passes=1; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) rest+=("$1"); shift ;;
  esac
done
[ -x /usr/bin/time ] || { echo "build-memory: GNU time (/usr/bin/time) is needed" >&2; exit 1; }

dir="${BUILD_MEMORY_DIR:-/tmp/build-memory}"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
target="$dir/target"
log="$dir/rustc.log"
rm -rf "$target"
: >"$log"

# The wrapper: each rustc runs under GNU time, which appends "KB seconds crate".
wrapper="$dir/rustc-wrapper.sh"
cat >"$wrapper" <<'EOF'
#!/usr/bin/env bash
rustc="$1"; shift
name=build_script
prev=""
for a in "$@"; do
  [ "$prev" = "--crate-name" ] && name="$a"
  prev="$a"
done
exec /usr/bin/time -a -o "$BUILD_MEMORY_LOG" -f "%M %e $name" "$rustc" "$@"
EOF
chmod +x "$wrapper"

cd "$root"
cargo fetch --quiet
start=$(date +%s.%N)
CARGO_TARGET_DIR="$target" CARGO_INCREMENTAL="$incremental" RUSTC_WRAPPER="$wrapper" \
  BUILD_MEMORY_LOG="$log" cargo build --quiet -p "$package" "${profile[@]}" --timings \
  ${rest[@]+"${rest[@]}"}
end=$(date +%s.%N)
cp "$target"/cargo-timings/cargo-timing.html "$dir/timings.html" 2>/dev/null || true

echo "clean build of $package (${profile[*]:-dev}, incremental $incremental, $(nproc) CPUs): $(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.0f", e - s}') s wall"
echo "largest rustc runs (peak RSS, wall, crate):"
sort -rn "$log" | head -n 8 | awk '{printf "  %6.2f GB %7.1f s  %s\n", $1 / 1048576, $2, $3}'
echo "(all runs: $log; cargo --timings: $dir/timings.html)"

if [ "$passes" = 1 ]; then
  crate="${package//-/_}"
  echo "-Z time-passes of $package alone (costliest passes, RSS before -> after):"
  # Extra rustc arguments make cargo rebuild this crate only.
  CARGO_TARGET_DIR="$target" CARGO_INCREMENTAL="$incremental" RUSTC_WRAPPER="$wrapper" \
    BUILD_MEMORY_LOG="$dir/time-passes.log" RUSTC_BOOTSTRAP=1 cargo rustc --quiet -p "$package" --lib "${profile[@]}" ${rest[@]+"${rest[@]}"} -- -Z time-passes 2>&1 |
    grep -E '^time:' | sort -t: -k2 -rn | head -n 12 | sed "s/^/  $crate /" || true
fi
rm -rf "$target"
