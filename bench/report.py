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
    for name in ["raw", "decode", "notes", "commit", "nproc", "cpu", "mem", "load", "runs", "go", "python", "rust"]:
        ap.add_argument("--" + name, default="")
    a = ap.parse_args()

    rows = defaultdict(list)  # (size, client, mode) -> [(wall, rss_kb, bytes)]
    with open(a.raw) as f:
        for line in f:
            size, client, mode, _run, wall, rss, nbytes = line.rstrip("\n").split("\t")
            rows[(int(size), client, mode)].append(
                (float(wall), int(rss), None if nbytes == "-" else int(nbytes))
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
              f"{fmt(ratio(g, o), 1)} | {pr} | {fmt(ratio(o, fl), 1)} |")
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
    print("\n".join(out))


if __name__ == "__main__":
    main()
