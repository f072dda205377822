"""Writes bench/results.md from the raw measurements of bench/run.sh (stdout)."""

import argparse
import datetime
import statistics
from collections import defaultdict

CLIENTS = ["ours", "govmomi", "pyvmomi", "floor"]
MODES = {"four": "4 properties", "full": "--full"}


def fmt(x, digits=2):
    return "–" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def main():
    ap = argparse.ArgumentParser()
    for name in ["raw", "decode", "extra", "notes", "commit", "nproc", "cpu", "mem", "load", "runs", "go", "python", "rust"]:
        ap.add_argument("--" + name, default="")
    a = ap.parse_args()

    rows = defaultdict(list)  # (size, client, mode) -> [(wall, rss_kb, bytes, run)]
    with open(a.raw) as f:
        for line in f:
            size, client, mode, run, wall, rss, nbytes = line.rstrip("\n").split("\t")
            rows[(int(size), client, mode)].append(
                (float(wall), int(rss), None if nbytes == "-" else int(nbytes), int(run))
            )

    def med(size, client, mode, i):
        vals = [r[i] for r in rows.get((size, client, mode), []) if r[i] is not None]
        return statistics.median(vals) if vals else None

    notes = {}
    skips = set()
    with open(a.notes) as f:
        for line in f:
            line = line.strip()
            if line.startswith("skip "):
                _, size, client, mode = line.split(":")[0].split()
                skips.add((int(size), client, mode))
            elif "=" in line:
                k, v = line.split("=", 1)
                notes[k] = v

    def cell(size, client, mode, i, scale=1.0, digits=2):
        if (size, client, mode) in skips:
            return "skipped"
        v = med(size, client, mode, i)
        return fmt(None if v is None else v / scale, digits)

    out = []
    w = out.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    w("# Benchmark results")
    w("")
    w(f"- Date: {now}")
    w(f"- Commit: {a.commit}")
    w(f"- Machine: {a.nproc} CPUs ({a.cpu}), {a.mem} RAM; load average at the end of the run: {a.load}")
    w(f"- Toolchains: rustc {a.rust}, {a.go} (govmomi 0.24.2, Debian), Python {a.python}")
    w(f"- Each figure is the median of {a.runs} run(s). Simulator: govmomi's vcsim 0.24.2 over TLS on 127.0.0.1 "
      "(reports API 6.5, ignores maxObjects: every retrieval arrives as one response).")
    w("- Wall time and peak RSS from `/usr/bin/time -f '%e %M'`; each run is a whole process: "
      "start, login, ContainerView, retrieval, decode, sort, print, logout.")
    w("- Ratios are peer ÷ ours (above 1: ours is faster or smaller); ours ÷ floor is how far ours is from a "
      "client that only reads the bytes.")
    w("")

    sizes = sorted({k[0] for k in rows})
    if sizes:
        w("## Wall time (s)")
        w("")
        w("| VMs | mode | ours | govmomi | pyVmomi | floor | govmomi ÷ ours | pyVmomi ÷ ours | ours ÷ floor |")
        w("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            for mode, label in MODES.items():
                o = med(size, "ours", mode, 0)
                g = med(size, "govmomi", mode, 0)
                p = None if (size, "pyvmomi", mode) in skips else med(size, "pyvmomi", mode, 0)
                fl = med(size, "floor", mode, 0)
                pr = "skipped" if (size, "pyvmomi", mode) in skips else fmt(ratio(p, o), 1)
                w(f"| {size:,} | {label} | {fmt(o)} | {fmt(g)} | {cell(size, 'pyvmomi', mode, 0)} | {fmt(fl)} | "
                  f"{fmt(ratio(g, o))} | {pr} | {fmt(ratio(o, fl))} |")
        w("")
        w("## Peak RSS (MB)")
        w("")
        w("| VMs | mode | ours | govmomi | pyVmomi | floor | govmomi ÷ ours | pyVmomi ÷ ours |")
        w("|---:|---|---:|---:|---:|---:|---:|---:|")
        for size in sizes:
            for mode, label in MODES.items():
                o = med(size, "ours", mode, 1)
                g = med(size, "govmomi", mode, 1)
                p = None if (size, "pyvmomi", mode) in skips else med(size, "pyvmomi", mode, 1)
                pr = "skipped" if (size, "pyvmomi", mode) in skips else fmt(ratio(p, o), 1)
                w(f"| {size:,} | {label} | {cell(size, 'ours', mode, 1, 1024, 1)} | {cell(size, 'govmomi', mode, 1, 1024, 1)} | "
                  f"{cell(size, 'pyvmomi', mode, 1, 1024, 1)} | {cell(size, 'floor', mode, 1, 1024, 1)} | "
                  f"{fmt(ratio(g, o), 1)} | {pr} |")
        w("")
        w("## Bytes received by the retrieval")
        w("")
        w("| VMs | mode | ours | floor | MB/s ours (bytes ÷ wall) | MB/s floor |")
        w("|---:|---|---:|---:|---:|---:|")
        for size in sizes:
            for mode, label in MODES.items():
                ob = med(size, "ours", mode, 2)
                fb = med(size, "floor", mode, 2)
                o = med(size, "ours", mode, 0)
                fl = med(size, "floor", mode, 0)
                w(f"| {size:,} | {label} | {'–' if ob is None else f'{int(ob):,}'} | {'–' if fb is None else f'{int(fb):,}'} | "
                  f"{fmt(ratio(ob and ob / 1e6, o), 1)} | {fmt(ratio(fb and fb / 1e6, fl), 1)} |")
        w("")
        paced = sorted({k[0] for k in rows if k[2] == "paced"})
        if paced:
            rate = notes.get("paced_rate", "?")
            w(f"## A streaming server: --full through paced-proxy at {rate} MB/s")
            w("")
            w("vcsim builds each response whole before it sends the first byte, so above a client can only "
              "decode after the simulator's serialization and a quick loopback transfer. A vCenter streams a "
              "large result while it serializes it. `paced-proxy` stands in for that: a TLS front that sends "
              f"every response body in 64 KiB chunks at {rate} MB/s. Each client's first run fills its cache "
              "of large answers (unmeasured); the measured runs are all answered from that cache (checked), so "
              "they time the paced transfer and the client's own work. ours ÷ floor is the cost of decoding "
              "beyond reading the bytes; pyVmomi (which decodes at a few MB/s) is not run here.")
            w("")
            w("| VMs | ours (s) | govmomi (s) | floor (s) | govmomi ÷ ours | ours ÷ floor | ours RSS (MB) | govmomi RSS (MB) | floor RSS (MB) |")
            w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for size in paced:
                o = med(size, "ours", "paced", 0)
                g = med(size, "govmomi", "paced", 0)
                fl = med(size, "floor", "paced", 0)
                w(f"| {size:,} | {fmt(o)} | {fmt(g)} | {fmt(fl)} | {fmt(ratio(g, o), 1)} | {fmt(ratio(o, fl))} | "
                  f"{cell(size, 'ours', 'paced', 1, 1024, 1)} | {cell(size, 'govmomi', 'paced', 1, 1024, 1)} | "
                  f"{cell(size, 'floor', 'paced', 1, 1024, 1)} |")
            w("")
        spread_section(w, rows, sizes, paced)
        if skips:
            for size, client, mode in sorted(skips):
                w(f"- {client} {MODES[mode]} at {size:,} VMs was not run (bench/run.sh `--py-full-max`): "
                  "it would take too long to repeat; see the smaller sizes for its trend.")
            w("")

    decode_rows = []
    try:
        with open(a.decode) as f:
            decode_rows = [l.rstrip("\n").split("\t") for l in f if l.strip()]
    except FileNotFoundError:
        pass
    if decode_rows:
        mb = notes.get("decode_response_mb", "?")
        w("## Offline decode of one captured response")
        w("")
        w(f"The `RetrievePropertiesEx` response carrying `config`, `summary` and `runtime` of 2,000 VMs ({mb} MB), "
          "captured by `cargo bench -p vim25 --bench decode` and decoded from memory by each client's own deserializer.")
        w("")
        w("| client | decode | MB/s | ours (mo) ÷ this |")
        w("|---|---|---:|---:|")
        ours_mo = next((float(r[2]) for r in decode_rows if r[0] == "ours" and "mo::" in r[1]), None)
        for client, label, mbs in decode_rows:
            w(f"| {client} | {label} | {float(mbs):.1f} | {fmt(ratio(ours_mo, float(mbs)), 2)} |")
        w("")
    extra_section(w, a.extra, notes)
    print("\n".join(out))


def spread_section(w, rows, sizes, paced):
    """How far the runs of ours and govmomi spread: each one's fastest and slowest wall time,
    and govmomi ÷ ours of each run (the two run one after the other, so a run's ratio
    compares the two under the same load)."""
    lines = []
    for size in sizes:
        for mode, label in list(MODES.items()) + [("paced", "--full, paced")]:
            if mode == "paced" and size not in paced:
                continue
            o = {r[3]: r[0] for r in rows.get((size, "ours", mode), [])}
            g = {r[3]: r[0] for r in rows.get((size, "govmomi", mode), [])}
            runs = sorted(set(o) & set(g))
            if len(runs) < 2:
                continue
            per_run = [g[r] / o[r] for r in runs if o[r] > 0]
            if not per_run:
                continue
            lines.append(
                f"| {size:,} | {label} | {fmt(min(o.values()))}–{fmt(max(o.values()))} | "
                f"{fmt(min(g.values()))}–{fmt(max(g.values()))} | {fmt(min(per_run))} | "
                f"{fmt(statistics.median(per_run))} | {fmt(max(per_run))} |"
            )
    if not lines:
        return
    w("## How the runs spread")
    w("")
    w("Wall times move from run to run, for ours and the peers alike. Each run of ours is followed by one of govmomi, so the two of a run meet the same load; "
      "govmomi ÷ ours per run shows how far the ratio above can move.")
    w("")
    w("| VMs | mode | ours (s), fastest–slowest | govmomi (s), fastest–slowest | govmomi ÷ ours, lowest run | median run | highest run |")
    w("|---:|---|---:|---:|---:|---:|---:|")
    for line in lines:
        w(line)
    w("")


def extra_section(w, path, notes):
    """The encode, concurrent and watch scenarios: medians over the runs."""
    runs = defaultdict(list)  # (scenario, client) -> [dict]
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                scenario, client, _run, wall, rss, cpu, stats = line.rstrip("\n").split("\t")
                row = {"wall": float(wall), "rss": int(rss) / 1024, "cpu": float(cpu)}
                for kv in stats.split():
                    k, v = kv.split("=", 1)
                    row[k] = float(v)
                runs[(scenario, client)].append(row)
    except FileNotFoundError:
        return
    if not runs:
        return

    def med(scenario, client, key):
        vals = [r[key] for r in runs.get((scenario, client), []) if key in r]
        return statistics.median(vals) if vals else None

    peers = [("ours", "ours"), ("govmomi", "govmomi"), ("pyvmomi", "pyVmomi")]

    if any(k[0] == "encode" for k in runs):
        n = notes.get("extra_encode_count", "?")
        w(f"## Encode of a ReconfigVM_Task request with {int(n):,} VirtualDeviceConfigSpecs" if n.isdigit()
          else "## Encode of a ReconfigVM_Task request")
        w("")
        w("Offline: each client builds the spec once (disks with a file to create and vmxnet3 NICs, "
          "alternating), then encodes the whole request envelope as its client does before sending it "
          "(mean of the timed encodes). `vim-bench encode --check` decodes the govmomi and pyVmomi envelopes "
          "and the run fails unless each holds the same spec as ours.")
        w("")
        w("| client | ms per encode | MB/s | envelope bytes | peak RSS (MB) | ms ÷ ours |")
        w("|---|---:|---:|---:|---:|---:|")
        o = med("encode", "ours", "ms")
        for c, label in peers:
            ms = med("encode", c, "ms")
            b = med("encode", c, "bytes")
            w(f"| {label} | {fmt(ms, 1)} | {fmt(med('encode', c, 'mbps'), 1)} | "
              f"{'–' if b is None else f'{int(b):,}'} | {fmt(med('encode', c, 'rss'), 1)} | {fmt(ratio(ms, o), 1)} |")
        w("")

    if any(k[0] == "concurrent" for k in runs):
        calls = notes.get("extra_calls", "?")
        vms = notes.get("extra_concurrent_vms", "?")
        w(f"## {calls} concurrent RetrieveProperties calls on one client")
        w("")
        w(f"Simulator with {vms} VMs. Each client logs in once, lists the VMs, then starts {calls} "
          "`RetrieveProperties` calls at once (one VM's `summary` each, decoded into its typed VM object) and "
          "waits for all; three rounds a run, each timed on its own. The peers print the same lines as ours "
          "(checked). CPU is the whole process (user + system), login and listing included.")
        w("")
        w("| client | round (ms, median) | fastest round (ms) | calls/s | peak RSS (MB) | CPU (s) | round ÷ ours |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        o = med("concurrent", "ours", "median_ms")
        for c, label in peers:
            ms = med("concurrent", c, "median_ms")
            cps = None if not ms or not calls.isdigit() else int(calls) / (ms / 1e3)
            w(f"| {label} | {fmt(ms, 1)} | {fmt(med('concurrent', c, 'min_ms'), 1)} | {fmt(cps, 0)} | "
              f"{fmt(med('concurrent', c, 'rss'), 1)} | {fmt(med('concurrent', c, 'cpu'))} | {fmt(ratio(ms, o), 1)} |")
        w("")

    if any(k[0] == "watch" for k in runs):
        churn = notes.get("extra_churn", "?")
        vms = notes.get("extra_watch_vms", "?")
        secs = notes.get("extra_watch_seconds", "?")
        w(f"## WaitForUpdatesEx under {churn} changes per second")
        w("")
        w(f"The simulator (our launcher's `-churn {churn}`) changes `summary.quickStats.overallCpuUsage` of its "
          f"{vms} VMs round robin, {churn} times a second, each value the time of the change; each client "
          f"watches that property through a ContainerView on its own property collector for {secs} s "
          "(`WaitForUpdatesEx`, `maxWaitSeconds` 1). Lag is arrival time minus the value. vcsim gathers changes "
          "on a 250 ms tick, so lags below ~250 ms are the server's. CPU is the whole process (user + system).")
        w("")
        w("| client | changes/s received | lag p50 (ms) | lag p99 (ms) | lag max (ms) | CPU (s) | CPU ms per 1,000 changes | peak RSS (MB) | CPU ÷ ours |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        o = med("watch", "ours", "cpu")
        for c, label in peers:
            cpu = med("watch", c, "cpu")
            ch = med("watch", c, "changes")
            per = None if not ch or cpu is None else cpu * 1e3 / (ch / 1e3)
            w(f"| {label} | {fmt(med('watch', c, 'rate'), 0)} | {fmt(med('watch', c, 'lag_p50_ms'), 0)} | "
              f"{fmt(med('watch', c, 'lag_p99_ms'), 0)} | {fmt(med('watch', c, 'lag_max_ms'), 0)} | {fmt(cpu)} | "
              f"{fmt(per, 1)} | {fmt(med('watch', c, 'rss'), 1)} | {fmt(ratio(cpu, o), 1)} |")
        w("")


if __name__ == "__main__":
    main()
