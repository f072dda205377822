"""The pyVmomi (Python) peer of the benchmark suite (bench/run.sh).

    inventory.py inventory --url URL [--full] [--page-size N]
        the same lines as examples' vm-inventory: a ContainerView of VirtualMachine,
        RetrievePropertiesEx / ContinueRetrievePropertiesEx, one line per VM
        `name<TAB>powerState<TAB>numCpu<TAB>extraConfigCount`, sorted by name
    inventory.py decode --file RESPONSE.xml [--rounds N]
        deserializes a captured RetrievePropertiesEx response with pyVmomi's
        SoapAdapter deserializer, as its stub does, and prints MB/s

The URL carries the credentials (https://user:pass@host:port/sdk); certificates
are not verified (like --insecure). A summary goes to stderr.
"""

import argparse
import io
import sys
import time
from urllib.parse import unquote, urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import SoapAdapter, vim, vmodl

FOUR = ["name", "runtime.powerState", "summary.config.numCpu", "config.extraConfig"]
FULL = ["config", "summary", "runtime"]


def connect(raw_url):
    u = urlsplit(raw_url)
    return SmartConnect(
        host=u.hostname,
        port=u.port or 443,
        user=unquote(u.username or ""),
        pwd=unquote(u.password or ""),
        path=u.path or "/sdk",
        disableSslCertValidation=True,
    )


def line(props, full):
    name = power = cpus = ""
    extra = 0
    if full:
        config = props.get("config")
        summary = props.get("summary")
        runtime = props.get("runtime")
        if config is not None:
            name = config.name
        elif summary is not None and summary.config is not None:
            name = summary.config.name or ""
        if runtime is not None and runtime.powerState is not None:
            power = str(runtime.powerState)
        if summary is not None and summary.config is not None and summary.config.numCpu is not None:
            cpus = str(summary.config.numCpu)
        if config is not None:
            extra = len(config.extraConfig or [])
    else:
        name = props.get("name") or ""
        p = props.get("runtime.powerState")
        power = "" if p is None else str(p)
        n = props.get("summary.config.numCpu")
        cpus = "" if n is None else str(n)
        extra = len(props.get("config.extraConfig") or [])
    return name, "%s\t%s\t%s\t%d" % (name, power, cpus, extra)


def inventory(args):
    started = time.monotonic()
    si = connect(args.url)
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    pc = content.propertyCollector
    PC = vmodl.query.PropertyCollector
    spec = PC.FilterSpec(
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=FULL if args.full else FOUR)],
        objectSet=[
            PC.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)],
            )
        ],
    )
    lines = []
    pages = 0
    try:
        result = pc.RetrievePropertiesEx(specSet=[spec], options=PC.RetrieveOptions(maxObjects=args.page_size))
        while result is not None:
            pages += 1
            for obj in result.objects:
                props = {p.name: p.val for p in obj.propSet}
                lines.append(line(props, args.full))
            if not result.token:
                break
            result = pc.ContinueRetrievePropertiesEx(token=result.token)
    finally:
        view.DestroyView()
    lines.sort()
    out = sys.stdout
    out.write("".join(text + "\n" for _, text in lines))
    out.flush()
    print(
        "pyvmomi inventory: %d VMs, %d pages, %.2f s" % (len(lines), pages, time.monotonic() - started),
        file=sys.stderr,
    )
    Disconnect(si)


def decode(args):
    with open(args.file, "rb") as f:
        data = f.read()
    # A stub that is never connected: the deserializer only needs its version.
    stub = SoapAdapter.SoapStubAdapter(host="127.0.0.1", port=443, version="vim.version.version11")
    result_type = vmodl.query.PropertyCollector.RetrieveResult

    def once():
        d = SoapAdapter.SoapResponseDeserializer(stub)
        return d.Deserialize(io.BytesIO(data), result_type)

    r = once()  # warm up, and check
    if r is None or not r.objects:
        raise SystemExit("decode: no objects in %s" % args.file)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        r = once()
    secs = (time.perf_counter() - t0) / args.rounds
    print("typed RetrieveResult\t%.1f MB/s\t%.1f ms\t%d objects" % (len(data) / 1e6 / secs, secs * 1e3, len(r.objects)))


def main():
    ap = argparse.ArgumentParser(prog="inventory.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    inv = sub.add_parser("inventory")
    inv.add_argument("--url", required=True)
    inv.add_argument("--full", action="store_true")
    inv.add_argument("--insecure", action="store_true", help="accepted for symmetry; never verified")
    inv.add_argument("--page-size", type=int, default=1000)
    dec = sub.add_parser("decode")
    dec.add_argument("--file", required=True)
    dec.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if args.cmd == "inventory":
        inventory(args)
    else:
        decode(args)


if __name__ == "__main__":
    main()
