"""The pyVmomi (Python) peer of the benchmark suite (bench/run.sh).

    inventory.py inventory --url URL [--full] [--page-size N]
        the same lines as examples' vm-inventory: a ContainerView of VirtualMachine,
        RetrievePropertiesEx / ContinueRetrievePropertiesEx, one line per VM
        `name<TAB>powerState<TAB>numCpu<TAB>extraConfigCount`, sorted by name
    inventory.py decode --file RESPONSE.xml [--rounds N]
        deserializes a captured RetrievePropertiesEx response with pyVmomi's
        SoapAdapter deserializer, as its stub does, and prints MB/s
    inventory.py encode [--count 10000] [--rounds 5] --out FILE
        builds a VirtualMachineConfigSpec with `count` deviceChange entries
        (VirtualDisk / VirtualVmxnet3, alternating) and serializes the
        ReconfigVM_Task request on VirtualMachine:vm-42 with the stub's own
        SerializeRequest (a stub that never connects, newest vim version pyVmomi
        knows), `rounds` times after one warm-up; writes one envelope to FILE
    inventory.py concurrent --url URL [--calls 256] [--rounds 3]
        lists the VMs (ContainerView, RetrievePropertiesEx of `name`), keeps the
        first `calls` by name, then per round runs `calls` RetrieveContents
        (RetrieveProperties) of `summary`, one per VM, all at once from a
        ThreadPoolExecutor on the one ServiceInstance; prints, from the last
        round, `name<TAB>powerState<TAB>numCpu<TAB>memorySizeMB` sorted by name
    inventory.py watch --url URL [--seconds 10]
        a new PropertyCollector with one filter on
        summary.quickStats.overallCpuUsage of every VM (through a ContainerView),
        WaitForUpdatesEx with maxWaitSeconds 1 in a loop for `seconds`; counts
        the changes and how old each is on arrival (the simulator's -churn
        writes unix ms % 1e9 as the value); prints `vms<TAB>N`

The URL carries the credentials (https://user:pass@host:port/sdk); certificates
are not verified (like --insecure). A summary goes to stderr; encode, concurrent
and watch end stderr with one `STATS key=value ...` line (for bench/run.sh)
and exit non-zero on any error.
"""

import argparse
import concurrent.futures
import io
import statistics
import sys
import time
from urllib.parse import unquote, urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import SoapAdapter, VmomiSupport, vim, vmodl

FOUR = ["name", "runtime.powerState", "summary.config.numCpu", "config.extraConfig"]
FULL = ["config", "summary", "runtime"]
CPU_USAGE = "summary.quickStats.overallCpuUsage"


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


def view_filter(view, paths):
    """A FilterSpec for `paths` of every VirtualMachine in a ContainerView."""
    PC = vmodl.query.PropertyCollector
    return PC.FilterSpec(
        propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=paths)],
        objectSet=[
            PC.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[PC.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)],
            )
        ],
    )


def stats(**fields):
    """The last stderr line of encode, concurrent and watch."""
    print("STATS " + " ".join("%s=%s" % kv for kv in fields.items()), file=sys.stderr)


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
    spec = view_filter(view, FULL if args.full else FOUR)
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


def reconfig_spec(count):
    """The encode scenario's VirtualMachineConfigSpec: `count` devices to add."""
    Device = vim.vm.device
    DeviceSpec = Device.VirtualDeviceSpec
    changes = []
    for i in range(count):
        if i % 2 == 0:
            disk = Device.VirtualDisk(
                key=-(i + 1),
                controllerKey=1000,
                unitNumber=i % 16,
                capacityInKB=1048576 + i,
                backing=Device.VirtualDisk.FlatVer2BackingInfo(
                    fileName="[LocalDS_0] bench/disk-%d.vmdk" % i,
                    diskMode="persistent",
                    thinProvisioned=True,
                ),
            )
            changes.append(
                DeviceSpec(
                    operation=DeviceSpec.Operation.add,
                    fileOperation=DeviceSpec.FileOperation.create,
                    device=disk,
                )
            )
        else:
            nic = Device.VirtualVmxnet3(
                key=-(i + 1),
                controllerKey=100,
                addressType="generated",
                backing=Device.VirtualEthernetCard.NetworkBackingInfo(deviceName="VM Network"),
                connectable=Device.VirtualDevice.ConnectInfo(
                    startConnected=True, allowGuestControl=True, connected=False
                ),
            )
            changes.append(DeviceSpec(operation=DeviceSpec.Operation.add, device=nic))
    return vim.vm.ConfigSpec(deviceChange=changes)


def encode(args):
    spec = reconfig_spec(args.count)
    # A stub that is never connected, at the newest vim version this pyVmomi
    # knows: InvokeMethod serializes with SerializeRequest before it connects.
    version = VmomiSupport.newestVersions.GetName("vim")
    stub = SoapAdapter.SoapStubAdapter(host="127.0.0.1", port=443, version=version)
    vm = vim.VirtualMachine("vm-42", stub)
    method = vim.VirtualMachine.ReconfigVM_Task.info

    def once():
        return stub.SerializeRequest(vm, method, [spec])

    envelope = once()  # warm up
    with open(args.out, "wb") as f:
        f.write(envelope)
    t0 = time.perf_counter()
    for _ in range(args.rounds):
        envelope = once()
    secs = (time.perf_counter() - t0) / args.rounds
    print(
        "pyvmomi encode: ReconfigVM_Task, %d device specs, %s, %d bytes, %d rounds, %.1f ms each -> %s"
        % (args.count, version, len(envelope), args.rounds, secs * 1e3, args.out),
        file=sys.stderr,
    )
    stats(specs=args.count, bytes=len(envelope), ms="%.2f" % (secs * 1e3), mbps="%.2f" % (len(envelope) / 1e6 / secs))


def concurrent_calls(args):
    si = connect(args.url)
    content = si.RetrieveContent()
    pc = content.propertyCollector
    PC = vmodl.query.PropertyCollector
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    named = []
    try:
        result = pc.RetrievePropertiesEx(specSet=[view_filter(view, ["name"])], options=PC.RetrieveOptions())
        while result is not None:
            for obj in result.objects:
                props = {p.name: p.val for p in obj.propSet}
                named.append((props.get("name") or "", obj.obj))
            if not result.token:
                break
            result = pc.ContinueRetrievePropertiesEx(token=result.token)
    finally:
        view.DestroyView()
    if len(named) < args.calls:
        raise SystemExit("concurrent: %d VMs, fewer than --calls %d" % (len(named), args.calls))
    named.sort(key=lambda nv: nv[0].encode())  # byte order
    vms = [vm for _, vm in named[: args.calls]]

    def summary_of(vm):
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=vm)],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["summary"])],
        )
        contents = pc.RetrieveContents([spec])  # RetrieveProperties
        if len(contents) != 1 or contents[0].obj != vm:
            raise RuntimeError("RetrieveProperties of %s: %d objects" % (vm._moId, len(contents)))
        for prop in contents[0].propSet:
            if prop.name == "summary":
                return prop.val  # a vim.vm.Summary
        raise RuntimeError("RetrieveProperties of %s: no summary" % vm._moId)

    round_ms = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.calls) as pool:
        for r in range(args.rounds):
            t0 = time.perf_counter()
            summaries = list(pool.map(summary_of, vms))
            round_ms.append((time.perf_counter() - t0) * 1e3)
            print("pyvmomi concurrent: round %d: %d calls in %.1f ms" % (r + 1, args.calls, round_ms[-1]), file=sys.stderr)

    def text(value):
        return "" if value is None else str(value)

    lines = []
    for s in summaries:
        config = s.config
        name = config.name if config is not None else ""
        power = s.runtime.powerState if s.runtime is not None else None
        cpus = config.numCpu if config is not None else None
        memory = config.memorySizeMB if config is not None else None
        lines.append((name.encode(), "%s\t%s\t%s\t%s" % (name, text(power), text(cpus), text(memory))))
    lines.sort()
    sys.stdout.write("".join(t + "\n" for _, t in lines))
    sys.stdout.flush()
    Disconnect(si)
    stats(
        calls=args.calls,
        rounds=args.rounds,
        median_ms="%.1f" % statistics.median(round_ms),
        min_ms="%.1f" % min(round_ms),
    )


def percentile(ordered, q):
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not ordered:
        return 0
    return ordered[max(0, -(-len(ordered) * q // 100) - 1)]


def watch(args):
    si = connect(args.url)
    content = si.RetrieveContent()
    PC = vmodl.query.PropertyCollector
    modify = PC.ObjectUpdate.Kind.modify
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    pc = content.propertyCollector.CreatePropertyCollector()
    try:
        pc.CreateFilter(view_filter(view, [CPU_USAGE]), partialUpdates=True)
        options = PC.WaitOptions(maxWaitSeconds=1)
        update = pc.WaitForUpdatesEx("", options)
        first = last = time.monotonic()
        if update is None:
            raise SystemExit("watch: WaitForUpdatesEx returned no initial state")
        vms = sum(len(fs.objectSet) for fs in update.filterSet)
        version = update.version
        changes = waits = empty = 0
        lags = []
        while True:
            update = pc.WaitForUpdatesEx(version, options)
            now_ms = time.time_ns() // 1_000_000 % 1_000_000_000
            last = time.monotonic()
            if update is None:
                empty += 1
            else:
                waits += 1
                version = update.version
                for fs in update.filterSet:
                    for obj in fs.objectSet:
                        if obj.kind != modify:
                            continue
                        for change in obj.changeSet:
                            if change.name != CPU_USAGE:
                                continue
                            changes += 1
                            if change.val is not None:
                                lags.append((now_ms - change.val) % 1_000_000_000)
            if last - first >= args.seconds:
                break
    finally:
        pc.DestroyPropertyCollector()
        view.DestroyView()
    Disconnect(si)
    elapsed = last - first
    lags.sort()
    sys.stdout.write("vms\t%d\n" % vms)
    sys.stdout.flush()
    print(
        "pyvmomi watch: %d VMs, %d changes in %d answers (+%d empty) over %.2f s"
        % (vms, changes, waits, empty, elapsed),
        file=sys.stderr,
    )
    stats(
        vms=vms,
        changes=changes,
        seconds="%.2f" % elapsed,
        rate="%.1f" % (changes / elapsed if elapsed > 0 else 0.0),
        lag_p50_ms=percentile(lags, 50),
        lag_p99_ms=percentile(lags, 99),
        lag_max_ms=lags[-1] if lags else 0,
        waits=waits,
    )


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
    enc = sub.add_parser("encode")
    enc.add_argument("--count", type=int, default=10000)
    enc.add_argument("--rounds", type=int, default=5)
    enc.add_argument("--out", required=True)
    con = sub.add_parser("concurrent")
    con.add_argument("--url", required=True)
    con.add_argument("--insecure", action="store_true", help="accepted for symmetry; never verified")
    con.add_argument("--calls", type=int, default=256)
    con.add_argument("--rounds", type=int, default=3)
    wat = sub.add_parser("watch")
    wat.add_argument("--url", required=True)
    wat.add_argument("--insecure", action="store_true", help="accepted for symmetry; never verified")
    wat.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    commands = {
        "inventory": inventory,
        "decode": decode,
        "encode": encode,
        "concurrent": concurrent_calls,
        "watch": watch,
    }
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
