#!/usr/bin/env bash
# The benchmark suite: our vm-inventory against govmomi (Go), pyVmomi (Python) and
# a client that only reads the bytes, on the same vSphere simulator in one run.
#
# Usage: bash bench/run.sh [--sizes 2000,8000,20000] [--runs 3] [--quick]
#                          [--py-full-max N] [--no-decode] [--out FILE]
#
#   --sizes        VM counts, one TLS simulator each (default 2000,8000,20000)
#   --runs         measurements per client and mode; the median is reported (3)
#   --quick        --sizes 2000 --runs 1
#   --py-full-max  largest VM count at which pyVmomi runs --full (default 20000;
#                  above it the table says "skipped")
#   --no-decode    skip the offline decode scenario (saves the cargo bench build)
#   --no-live      skip the simulator scenarios and keep the previous run's live
#                  figures (bench/.work/raw.tsv): adds the decode figures to them
#   --out          the Markdown report (default bench/results.md)
#
# Environment: BENCH_TARGET_DIR (cargo target dir, default target/ of the
# workspace), BENCH_WORK (work dir, default
# bench/.work). Builds run under `nice -n 10`.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$bench_dir/.." && pwd)"
sizes="2000,8000,20000"
runs=3
py_full_max=20000
decode=1
live=1
out="$bench_dir/results.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --quick) sizes=2000; runs=1; shift ;;
    --py-full-max) py_full_max="$2"; shift 2 ;;
    --no-decode) decode=0; shift ;;
    --no-live) live=0; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

BENCH_TARGET_DIR=${BENCH_TARGET_DIR:-$repo_root/target}
export CARGO_TARGET_DIR="$BENCH_TARGET_DIR"
work="${BENCH_WORK:-$bench_dir/.work}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
log() { echo "bench: $*" >&2; }
die() { echo "bench: FAILED: $*" >&2; exit 1; }

# --- build ------------------------------------------------------------------
log "building the simulator launcher"
launcher="$(nice -n 10 bash "$repo_root/scripts/build-vcsim.sh" | tail -n 1)"
log "building vm-inventory (release)"
(cd "$repo_root" && nice -n 10 cargo build --release --quiet -p examples --bin vm-inventory) ||
  die "cargo build of vm-inventory"
ours="$CARGO_TARGET_DIR/release/vm-inventory"
log "building the govmomi peer"
gobench="$(nice -n 10 bash "$bench_dir/govmomi/build.sh" "$work" | tail -n 1)"
venv="$work/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pyVmomi' 2>/dev/null; then
  log "creating the pyVmomi venv in $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet pyvmomi
fi
py="$venv/bin/python"
pyinv="$bench_dir/pyvmomi/inventory.py"
[ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for peak RSS"

raw="$work/raw.tsv"         # size client mode run wall_s rss_kb bytes
notes="$work/notes.txt"     # free-form lines for the report
decode_tsv="$work/decode.tsv"
if [ "$live" = 1 ]; then
  : >"$raw"; : >"$notes"
else
  [ -f "$raw" ] || die "--no-live needs the raw figures of an earlier run in $raw"
  grep -v '^decode_' "$notes" >"$notes.tmp" || true
  mv "$notes.tmp" "$notes"
fi
if [ "$decode" = 1 ] || [ "$live" = 1 ]; then : >"$decode_tsv"; fi

# --- simulator --------------------------------------------------------------
sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null || true
    # At 20,000 VMs the simulator takes minutes to remove its model: give it
    # 30 s, then kill it (its temporary directories may stay behind in /tmp).
    local i=0
    while kill -0 "$sim_pid" 2>/dev/null && [ "$i" -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
    kill -9 "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
  fi
}
trap stop_sim EXIT

# start_sim TOTAL_VMS: the default vpx model has two VM parents (the cluster's
# resource pool and a standalone host), each gets -vm VMs.
start_sim() {
  local total="$1" per=$(( ($1 + 1) / 2 ))
  local simout="$work/sim-$total.out"
  : >"$simout"
  "$launcher" -tls -listen 127.0.0.1:0 -vm "$per" -watch-stdin=false \
    >"$simout" 2>"$work/sim-$total.err" &
  sim_pid=$!
  local waited=0
  until grep -q '^READY' "$simout"; do
    kill -0 "$sim_pid" 2>/dev/null || die "simulator exited: $(tail -3 "$work/sim-$total.err")"
    sleep 0.5; waited=$((waited + 1))
    [ "$waited" -lt 1200 ] || die "simulator not ready after 600 s"
  done
  local u user pass
  u="$(awk '$1=="URL"{print $2}' "$simout")"
  user="$(awk '$1=="USERNAME"{print $2}' "$simout")"
  pass="$(awk '$1=="PASSWORD"{print $2}' "$simout")"
  sim_url="${u/https:\/\//https://$user:$pass@}"
  log "simulator with $((per * 2)) VMs at $u (ready after ~$((waited / 2)) s)"
}

# measure SIZE CLIENT MODE RUN CMD...: runs CMD under GNU time, keeps its stdout
# in $work/out-SIZE-CLIENT-MODE.txt and appends a row to raw.tsv.
measure() {
  local size="$1" client="$2" mode="$3" run="$4"; shift 4
  local stem="$work/out-$size-$client-$mode"
  if ! /usr/bin/time -f '%e %M' -o "$stem.time" "$@" >"$stem.txt" 2>"$stem.err"; then
    cat "$stem.err" >&2
    die "$client $mode at $size VMs exited with an error"
  fi
  local wall rss bytes=""
  read -r wall rss <"$stem.time"
  case "$client" in
    ours) bytes="$(sed -n 's/.* \([0-9][0-9]*\) bytes received.*/\1/p' "$stem.err" | tail -n 1)" ;;
    floor) bytes="$(head -n 1 "$stem.txt")" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$client" "$mode" "$run" "$wall" "$rss" "${bytes:--}" >>"$raw"
}

# --- offline decode ---------------------------------------------------------
if [ "$decode" = 1 ]; then
  log "offline decode: cargo bench -p vim25 --bench decode (captures 2,000 VMs' config, summary, runtime)"
  response="$work/response-2000-full.xml"
  (cd "$repo_root" && VIM25_BENCH_VMS=2000 VIM25_BENCH_SAVE="$response" \
    nice -n 10 cargo bench --quiet -p vim25 --bench decode) >"$work/decode-ours.txt" 2>"$work/decode-ours.err" ||
    { cat "$work/decode-ours.err" >&2; die "cargo bench decode"; }
  resp_mb="$(sed -n 's/^response: \([0-9.]*\) MB/\1/p' "$work/decode-ours.txt")"
  sed -n 's/^\(typed RetrieveResult (anyType)\|typed mo::VirtualMachine\|bare quick-xml NsReader loop\|streamed mo, kept (16 KiB pieces)\|streamed mo, kept, 2 threads\) *\([0-9.]*\) MB\/s.*/ours\t\1\t\2/p' \
    "$work/decode-ours.txt" >>"$decode_tsv"
  "$gobench" decode --file "$response" --rounds 5 | awk -F'\t' '{sub(/ MB\/s/,"",$2); print "govmomi\t" $1 "\t" $2}' >>"$decode_tsv"
  "$py" "$pyinv" decode --file "$response" --rounds 2 | awk -F'\t' '{sub(/ MB\/s/,"",$2); print "pyvmomi\t" $1 "\t" $2}' >>"$decode_tsv"
  echo "decode_response_mb=$resp_mb" >>"$notes"
  cat "$decode_tsv" >&2
fi

# --- live scenarios -----------------------------------------------------------
size_list=()
[ "$live" = 1 ] && IFS=',' read -r -a size_list <<<"$sizes"
for size in "${size_list[@]+"${size_list[@]}"}"; do
  start_sim "$size"
  for mode in four full; do
    flag=()
    [ "$mode" = full ] && flag=(--full)
    py_ok=1
    if [ "$mode" = full ] && [ "$size" -gt "$py_full_max" ]; then
      py_ok=0
      echo "skip $size pyvmomi full: above --py-full-max $py_full_max" >>"$notes"
      log "skipping pyVmomi --full at $size VMs (above --py-full-max $py_full_max)"
    fi
    for run in $(seq 1 "$runs"); do
      log "$size VMs, $mode, run $run/$runs"
      measure "$size" ours "$mode" "$run" "$ours" --url "$sim_url" --insecure "${flag[@]}"
      measure "$size" govmomi "$mode" "$run" "$gobench" inventory --url "$sim_url" "${flag[@]}"
      [ "$py_ok" = 1 ] && measure "$size" pyvmomi "$mode" "$run" "$py" "$pyinv" inventory --url "$sim_url" "${flag[@]}"
      measure "$size" floor "$mode" "$run" "$gobench" floor --url "$sim_url" "${flag[@]}"
    done
    # The peers must print exactly what ours prints.
    ref="$work/out-$size-ours-$mode.txt"
    lines="$(wc -l <"$ref")"
    [ "$lines" -eq "$size" ] || die "ours printed $lines lines at $size VMs ($mode), expected $size"
    peers=(govmomi)
    [ "$py_ok" = 1 ] && peers+=(pyvmomi)
    for peer in "${peers[@]}"; do
      if ! cmp -s "$ref" "$work/out-$size-$peer-$mode.txt"; then
        diff "$ref" "$work/out-$size-$peer-$mode.txt" | head -n 10 >&2
        die "$peer's output differs from ours at $size VMs ($mode)"
      fi
    done
    log "outputs identical ($mode, $size VMs): ours, ${peers[*]}"
  done
  stop_sim
done

# --- report -------------------------------------------------------------------
commit="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=""
git -C "$repo_root" diff --quiet HEAD -- . ':!bench/results.md' 2>/dev/null || dirty=" (with uncommitted changes)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
mem="$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
python3 "$bench_dir/report.py" --raw "$raw" --decode "$decode_tsv" --notes "$notes" \
  --commit "$commit$dirty" --nproc "$(nproc)" --cpu "$cpu" --mem "$mem" \
  --load "$(cut -d' ' -f1-3 /proc/loadavg)" --runs "$runs" \
  --go "$(go version 2>/dev/null | awk '{print $3}')" \
  --python "$("$py" -c 'import sys, pyVmomi; import importlib.metadata as m; print(sys.version.split()[0] + ", pyVmomi " + m.version("pyvmomi"))' 2>/dev/null)" \
  --rust "$(rustc --version | awk '{print $2}')" >"$out"
log "wrote $out"
cat "$out"
