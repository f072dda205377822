#!/usr/bin/env bash
# The benchmark suite: our vm-inventory against govmomi (Go), pyVmomi (Python) and
# a client that only reads the bytes, on the same vSphere simulator in one run.
#
# Usage: bash bench/run.sh [--sizes 2000,8000,20000] [--runs 3] [--quick]
#                          [--py-full-max N] [--no-decode] [--no-extra]
#                          [--extra-only] [--out FILE] [scenario options]
#
#   --sizes        VM counts, one TLS simulator each (default 2000,8000,20000)
#   --runs         measurements per client and mode; the median is reported (3)
#   --quick        --sizes 2000 --runs 1
#   --py-full-max  largest VM count at which pyVmomi runs --full (default 20000;
#                  above it the table says "skipped")
#   --no-decode    skip the offline decode scenario (saves the cargo bench build)
#   --no-live      skip the inventory scenarios and keep the previous run's
#                  figures (bench/.work/raw.tsv) in the report
#   --no-extra     skip the encode, concurrent and watch scenarios
#   --paced-sizes  VM counts (of --sizes) that also run the paced scenario, --full
#                  through paced-proxy, a front that streams every response at
#                  --paced-rate MB/s (default 8000; "none" skips it)
#   --paced-rate   the paced front's rate in MB/s (default 80)
#   --extra-only   only the encode, concurrent and watch scenarios (same as
#                  --no-live --no-decode: the report keeps the earlier figures)
#   --calls N      concurrent RetrieveProperties calls (default 256)
#   --churn N      property changes per second in the watch scenario (1000)
#   --watch-vms N  VMs of the watch scenario's simulator (default 32)
#   --watch-seconds N  how long each client watches (default 10)
#   --encode-count N   device changes in the encoded spec (default 10000)
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
extra=1
calls=256
churn=1000
watch_vms=32
watch_seconds=10
encode_count=10000
paced_sizes=8000
paced_rate=80
out="$bench_dir/results.md"
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --quick) sizes=2000; runs=1; paced_sizes=2000; shift ;;
    --py-full-max) py_full_max="$2"; shift 2 ;;
    --no-decode) decode=0; shift ;;
    --no-live) live=0; shift ;;
    --no-extra) extra=0; shift ;;
    --extra-only) live=0; decode=0; extra=1; shift ;;
    --calls) calls="$2"; shift 2 ;;
    --churn) churn="$2"; shift 2 ;;
    --watch-vms) watch_vms="$2"; shift 2 ;;
    --watch-seconds) watch_seconds="$2"; shift 2 ;;
    --encode-count) encode_count="$2"; shift 2 ;;
    --paced-sizes) paced_sizes="$2"; shift 2 ;;
    --paced-rate) paced_rate="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,34p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
log "building vm-inventory, vim-bench and paced-proxy (release)"
(cd "$repo_root" && nice -n 10 cargo build --release --quiet -p examples --bin vm-inventory --bin vim-bench --bin paced-proxy) ||
  die "cargo build of vm-inventory, vim-bench and paced-proxy"
ours="$CARGO_TARGET_DIR/release/vm-inventory"
ours_bench="$CARGO_TARGET_DIR/release/vim-bench"
paced_proxy="$CARGO_TARGET_DIR/release/paced-proxy"
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
extra_tsv="$work/extra.tsv"  # scenario client run wall_s rss_kb cpu_s stats
if [ "$live" = 1 ]; then
  : >"$raw"; : >"$notes"
else
  # The earlier run's inventory figures stay in the report; without one (a first
  # --extra-only run) the report has none.
  [ -f "$raw" ] || : >"$raw"
  [ -f "$notes" ] || : >"$notes"
  if [ "$decode" = 1 ]; then
    grep -v '^decode_' "$notes" >"$notes.tmp" || true
    mv "$notes.tmp" "$notes"
  fi
fi
if [ "$decode" = 1 ] || [ "$live" = 1 ]; then : >"$decode_tsv"; fi
if [ "$extra" = 1 ]; then
  : >"$extra_tsv"
  grep -v '^extra_' "$notes" >"$notes.tmp" || true
  mv "$notes.tmp" "$notes"
fi

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
proxy_pid=""
stop_proxy() {
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
    proxy_pid=""
  fi
}
trap 'stop_proxy; stop_sim' EXIT

# wait_ready WHAT PID OUT ERR SECONDS: waits for the READY line the simulator and
# paced-proxy print on OUT; dies if PID exits first (with ERR's end) or after SECONDS.
# Sets ready_after (seconds waited).
wait_ready() {
  local what="$1" pid="$2" out="$3" err="$4" ticks=$(($5 * 2)) waited=0
  until grep -q '^READY' "$out"; do
    kill -0 "$pid" 2>/dev/null || die "$what exited: $(tail -3 "$err")"
    sleep 0.5; waited=$((waited + 1))
    [ "$waited" -lt "$ticks" ] || die "$what not ready after $5 s"
  done
  ready_after=$((waited / 2))
}

# The URL printed on OUT's "URL" line, with the simulator's user and password.
url_in() {
  local u
  u="$(awk '$1=="URL"{print $2}' "$1")"
  echo "${u/https:\/\//https://$sim_user:$sim_pass@}"
}

# start_proxy SIZE: paced-proxy in front of the running simulator; sets proxy_url.
start_proxy() {
  local pout="$work/proxy-$1.out" perr="$work/proxy-$1.err"
  : >"$pout"
  "$paced_proxy" --upstream "$sim_base" --rate "$paced_rate" >"$pout" 2>"$perr" &
  proxy_pid=$!
  wait_ready paced-proxy "$proxy_pid" "$pout" "$perr" 20
  proxy_url="$(url_in "$pout")"
  log "paced-proxy at $(awk '$1=="URL"{print $2}' "$pout"), $paced_rate MB/s"
}

# start_sim TOTAL_VMS: the default vpx model has two VM parents (the cluster's
# resource pool and a standalone host), each gets -vm VMs.
# Further arguments go to the launcher (-churn N).
start_sim() {
  local total="$1" per=$(( ($1 + 1) / 2 ))
  shift
  local simout="$work/sim-$total.out"
  : >"$simout"
  "$launcher" -tls -listen 127.0.0.1:0 -vm "$per" -watch-stdin=false "$@" \
    >"$simout" 2>"$work/sim-$total.err" &
  sim_pid=$!
  wait_ready simulator "$sim_pid" "$simout" "$work/sim-$total.err" 600
  sim_base="$(awk '$1=="URL"{print $2}' "$simout")"
  sim_user="$(awk '$1=="USERNAME"{print $2}' "$simout")"
  sim_pass="$(awk '$1=="PASSWORD"{print $2}' "$simout")"
  sim_url="$(url_in "$simout")"
  log "simulator with $((per * 2)) VMs at $sim_base (ready after ~$ready_after s)"
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
  if [[ ",$paced_sizes," == *",$size,"* ]]; then
    # The paced scenario: --full through paced-proxy. The first (unmeasured) run of
    # each client fills the proxy's cache; the measured runs are answered from it, so
    # they time the paced transfer and the client, not the simulator's serialization.
    start_proxy "$size"
    perr="$work/proxy-$size.err"
    log "$size VMs, paced at $paced_rate MB/s: one warm-up run per client"
    "$ours" --url "$proxy_url" --insecure --full >/dev/null 2>&1 || die "ours (paced warm-up)"
    "$gobench" inventory --url "$proxy_url" --full >/dev/null 2>&1 || die "govmomi (paced warm-up)"
    "$gobench" floor --url "$proxy_url" --full >/dev/null 2>&1 || die "floor (paced warm-up)"
    warm="$(wc -l <"$perr")"
    for run in $(seq 1 "$runs"); do
      log "$size VMs, paced, run $run/$runs"
      measure "$size" ours paced "$run" "$ours" --url "$proxy_url" --insecure --full
      measure "$size" govmomi paced "$run" "$gobench" inventory --url "$proxy_url" --full
      measure "$size" floor paced "$run" "$gobench" floor --url "$proxy_url" --full
    done
    # Every large answer of the measured runs came from the cache.
    missed="$(tail -n +"$((warm + 1))" "$perr" | grep -c ' \(miss\|error\)' || true)"
    hits="$(tail -n +"$((warm + 1))" "$perr" | grep -c ' hit$' || true)"
    [ "$missed" = 0 ] && [ "$hits" -ge $((3 * runs)) ] ||
      die "paced runs were not all answered from the cache ($hits hits, $missed misses; $perr)"
    cmp -s "$work/out-$size-ours-paced.txt" "$work/out-$size-ours-full.txt" ||
      die "ours printed something else through paced-proxy"
    cmp -s "$work/out-$size-ours-paced.txt" "$work/out-$size-govmomi-paced.txt" ||
      die "govmomi's output differs from ours (paced)"
    echo "paced_rate=$paced_rate" >>"$notes"
    log "outputs identical (paced, $size VMs): ours, govmomi; $hits answers from the cache"
    stop_proxy
  fi
  stop_sim
done

# --- encode, concurrent, watch -------------------------------------------------
# measure_extra SCENARIO CLIENT RUN CMD...: runs CMD under GNU time, keeps its
# stdout in $work/SCENARIO-CLIENT.txt and appends wall, RSS, CPU and the STATS
# line it printed last on stderr to extra.tsv.
measure_extra() {
  local scenario="$1" client="$2" run="$3"; shift 3
  local stem="$work/$scenario-$client"
  if ! /usr/bin/time -f '%e %M %U %S' -o "$stem.time" "$@" >"$stem.txt" 2>"$stem.err"; then
    cat "$stem.err" >&2
    die "$client $scenario exited with an error"
  fi
  local wall rss user sys stats
  read -r wall rss user sys <"$stem.time"
  stats="$(grep '^STATS ' "$stem.err" | tail -n 1 | cut -d' ' -f2-)"
  [ -n "$stats" ] || die "$client $scenario printed no STATS line"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$client" "$run" "$wall" "$rss" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN{printf "%.2f", u + s}')" "$stats" >>"$extra_tsv"
}

# same_output SCENARIO: the peers' stdout must equal ours.
same_output() {
  local ref="$work/$1-ours.txt" peer
  for peer in govmomi pyvmomi; do
    if ! cmp -s "$ref" "$work/$1-$peer.txt"; then
      diff "$ref" "$work/$1-$peer.txt" | head -n 10 >&2
      die "$peer's output differs from ours ($1)"
    fi
  done
}

if [ "$extra" = 1 ]; then
  log "encode: a ReconfigVM_Task request with $encode_count device changes"
  for run in $(seq 1 "$runs"); do
    measure_extra encode ours "$run" "$ours_bench" encode --count "$encode_count" --rounds 5 --out "$work/encode-ours.xml"
    measure_extra encode govmomi "$run" "$gobench" encode --count "$encode_count" --rounds 5 --out "$work/encode-govmomi.xml"
    measure_extra encode pyvmomi "$run" "$py" "$pyinv" encode --count "$encode_count" --rounds 2 --out "$work/encode-pyvmomi.xml"
  done
  # Every peer's envelope must hold the spec ours encodes.
  "$ours_bench" encode --count "$encode_count" --rounds 1 \
    --check "$work/encode-govmomi.xml" "$work/encode-pyvmomi.xml" 2>"$work/encode-check.err" >/dev/null ||
    { cat "$work/encode-check.err" >&2; die "a peer's encoded spec differs from ours"; }
  log "encoded specs identical: ours, govmomi, pyvmomi"

  conc_vms=$(( calls > 300 ? calls : 300 ))
  start_sim "$conc_vms"
  log "concurrent: $calls RetrieveProperties calls at once, 3 rounds a run"
  for run in $(seq 1 "$runs"); do
    measure_extra concurrent ours "$run" "$ours_bench" concurrent --url "$sim_url" --insecure --calls "$calls" --rounds 3
    measure_extra concurrent govmomi "$run" "$gobench" concurrent --url "$sim_url" --calls "$calls" --rounds 3
    measure_extra concurrent pyvmomi "$run" "$py" "$pyinv" concurrent --url "$sim_url" --calls "$calls" --rounds 3
  done
  [ "$(wc -l <"$work/concurrent-ours.txt")" -eq "$calls" ] || die "ours printed no line per call (concurrent)"
  same_output concurrent
  log "outputs identical (concurrent): ours, govmomi, pyvmomi"
  stop_sim

  start_sim "$watch_vms" -churn "$churn"
  log "watch: $watch_seconds s of WaitForUpdatesEx while the simulator makes $churn changes/s"
  for run in $(seq 1 "$runs"); do
    measure_extra watch ours "$run" "$ours_bench" watch --url "$sim_url" --insecure --seconds "$watch_seconds"
    measure_extra watch govmomi "$run" "$gobench" watch --url "$sim_url" --seconds "$watch_seconds"
    measure_extra watch pyvmomi "$run" "$py" "$pyinv" watch --url "$sim_url" --seconds "$watch_seconds"
  done
  same_output watch
  log "outputs identical (watch): ours, govmomi, pyvmomi"
  stop_sim
  {
    echo "extra_calls=$calls"
    echo "extra_churn=$churn"
    echo "extra_watch_vms=$(( (watch_vms + 1) / 2 * 2 ))"
    echo "extra_watch_seconds=$watch_seconds"
    echo "extra_encode_count=$encode_count"
    echo "extra_concurrent_vms=$(( (conc_vms + 1) / 2 * 2 ))"
  } >>"$notes"
  cat "$extra_tsv" >&2
fi

# --- report -------------------------------------------------------------------
commit="$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=""
git -C "$repo_root" diff --quiet HEAD -- . ':!bench/results.md' 2>/dev/null || dirty=" (with uncommitted changes)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
mem="$(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
[ -f "$extra_tsv" ] || : >"$extra_tsv"
python3 "$bench_dir/report.py" --raw "$raw" --decode "$decode_tsv" --extra "$extra_tsv" --notes "$notes" \
  --commit "$commit$dirty" --nproc "$(nproc)" --cpu "$cpu" --mem "$mem" \
  --load "$(cut -d' ' -f1-3 /proc/loadavg)" --runs "$runs" \
  --go "$(go version 2>/dev/null | awk '{print $3}')" \
  --python "$("$py" -c 'import sys, pyVmomi; import importlib.metadata as m; print(sys.version.split()[0] + ", pyVmomi " + m.version("pyvmomi"))' 2>/dev/null)" \
  --rust "$(rustc --version | awk '{print $2}')" >"$out"
log "wrote $out"
cat "$out"
