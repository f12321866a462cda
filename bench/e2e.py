"""End to end on the sandbox libvirt, phase by phase, printed as a markdown table.

    sudo venv/bin/python -m bench.e2e [--rebuild-image] [--keep-up]
    sudo venv/bin/python -m bench.e2e --pulumi

Phases: base image (built, or reused when current: its recorded build time is shown),
sandbox up (daemons, pool), one VM booted (define, SSH answering, cloud-init done, the
offline apt checks), sandbox down. Needs root; prints why when it cannot run. The
sandbox is always taken down (unless --keep-up, or it was already up before), also on
errors.

With --pulumi, the phases a user of the whole stack waits for: toolchain build (from
the build logs of scripts/pulumi-toolchain.sh), base image build, then one run of
scripts/e2e.sh (`pulumi up --stack sandbox` to the first domain, the first VM booted,
the remote steps done, the VIP serving; the checks; `pulumi destroy`; sandbox down).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import figures_e2e, figures_files  # noqa: E402
from sandbox import config, daemons, image, smoke  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    p.add_argument("--rebuild-image", action="store_true", help="build the base image anew")
    p.add_argument("--keep-up", action="store_true", help="leave the sandbox up at the end")
    p.add_argument("--ssh-timeout", type=float, default=360)
    p.add_argument("--pulumi", action="store_true", help="the whole stack: scripts/e2e.sh's phases")
    p.add_argument(
        "--save",
        action="store_true",
        help="with --pulumi: write docs/figures/e2e.json (if it passed)",
    )
    p.add_argument("--rows", action="store_true", help="print the README's rows and exit")
    args = p.parse_args(argv)
    if args.rows:
        print(figures_e2e.e2e_summary(figures_files.load("e2e")))
        print("\n".join(figures_e2e.e2e_phases()))
        return 0
    if os.geteuid() != 0:
        print("bench.e2e: needs root (network namespace, libvirtd)")
        return 0
    missing = daemons.missing_tools()
    if missing:
        print(f"bench.e2e: missing {sorted(set(missing.values()))}: run scripts/sandbox-prereqs.sh")
        return 0

    paths = config.Paths.for_checkout()
    if args.pulumi:
        return pulumi_phases(paths, rebuild_image=args.rebuild_image, save=args.save)
    rows: list[tuple[str, str, str]] = []
    log = lambda m: print(f"  {m}", file=sys.stderr)  # noqa: E731
    was_up = daemons.status(paths)["up"]
    ok = False
    try:
        t = time.monotonic()
        m = image.build(paths, force=args.rebuild_image, out=log)
        image.fetch_keepalived_source(paths, out=log)
        spent = time.monotonic() - t
        built = m.get("seconds", {})
        rows.append(
            (
                "base image",
                f"{spent:.1f} s" if spent > 5 else "current (reused)",
                f"recorded build: mmdebstrap {built.get('mmdebstrap')} s, mkfs "
                f"{built.get('mkfs')} s, qcow2 {built.get('qcow2')} s; "
                f"{m['image_bytes'] / 1e6:.0f} MB, apt cache {m['apt_cache_debs']} debs "
                f"{m['apt_cache_bytes'] / 1e6:.0f} MB",
            )
        )
        t = time.monotonic()
        up_times = daemons.up(paths, with_image=False, out=log)
        rows.append(
            (
                "sandbox up",
                f"{time.monotonic() - t:.1f} s",
                ", ".join(f"{k} {v:.1f} s" for k, v in up_times.items()) or "already up",
            )
        )
        r = smoke.run(paths, ssh_timeout=args.ssh_timeout, out=log)
        s = r["seconds"]
        rows.append(
            (
                "VM define+start",
                f"{s.get('define_start', float('nan')):.1f} s",
                "type qemu (TCG), 1 vCPU, 1 GiB",
            )
        )
        rows.append(("VM boot to SSH", f"{s.get('boot_to_ssh', float('nan')):.1f} s", "from start"))
        rows.append(
            (
                "VM boot to cloud-init done",
                f"{s.get('boot_to_cloud_init_done', float('nan')):.1f} s",
                f"cloud-init rc {r.get('cloud_init_rc')}, apt-get update rc {r.get('apt_update_rc')}, "
                f"debs to download {r.get('debs_to_download')}",
            )
        )
        rows.append(
            ("VM smoke total", f"{s.get('total', float('nan')):.1f} s", "incl. checks and destroy")
        )
        ok = bool(r["ok"])
    finally:
        if not was_up and not args.keep_up:
            t = time.monotonic()
            daemons.down(paths, out=log)
            rows.append(("sandbox down", f"{time.monotonic() - t:.1f} s", ""))
        print("| phase | time | notes |")
        print("|---|---|---|")
        for phase, spent_s, notes in rows:
            print(f"| {phase} | {spent_s} | {notes} |")
        print(f"\nsmoke ok: {ok}")
    return 0 if ok else 1


def toolchain_rows() -> list[tuple[str, str, str]]:
    """The last toolchain build, per binary, from .toolchain/logs ("go build took N s")."""
    rows = []
    total = 0
    for log in sorted((ROOT / ".toolchain" / "logs").glob("*.log")):
        took = re.findall(r"go build took (\d+) s", log.read_text(errors="replace"))
        if took:
            total += int(took[-1])
            rows.append((f"toolchain: {log.stem}", f"{took[-1]} s", "go build, last build log"))
    if rows:
        rows.append(
            (
                "toolchain build (go build sum)",
                f"{total} s",
                "plus go mod tidy/generate: 425 s wall in docs/toolchain.md's cold run",
            )
        )
    else:
        rows.append(("toolchain build", "n/a", "no .toolchain/logs: scripts/pulumi-toolchain.sh"))
    return rows


def pulumi_phases(paths: config.Paths, *, rebuild_image: bool, save: bool = False) -> int:
    rows = toolchain_rows()
    t = time.monotonic()
    m = image.build(paths, force=rebuild_image, out=lambda m: print(f"  {m}", file=sys.stderr))
    image.fetch_keepalived_source(paths)
    spent = time.monotonic() - t
    built = m.get("seconds", {})
    rows.append(
        (
            "base image build",
            f"{spent:.1f} s" if spent > 5 else f"{sum(built.values()):.0f} s (recorded)",
            "built now" if spent > 5 else f"current, reused; recorded {built}",
        )
    )
    rc = subprocess.call([str(ROOT / "scripts" / "e2e.sh")], cwd=ROOT)
    summary_file = ROOT / ".run" / "e2e" / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    for ph in summary.get("phases", []):
        rows.append((ph["phase"], f"{ph['seconds']:.1f} s", ph["notes"]))
    print("| phase | time | notes |")
    print("|---|---|---|")
    for phase, spent_s, notes in rows:
        print(f"| {phase} | {spent_s} | {notes} |")
    failed = [c["check"] for c in summary.get("checks", []) if not c["ok"]]
    print(f"\ne2e rc {rc}; checks failed: {failed or 'none'}; error: {summary.get('error')}")
    if save and rc == 0 and summary.get("ok"):
        phases = [
            {"phase": p, "text": t, "notes": n} for p, t, n in rows[: -len(summary["phases"])]
        ]
        phases += [
            {"phase": ph["phase"], "seconds": ph["seconds"], "notes": ph["notes"]}
            for ph in summary["phases"]
        ]
        figures_files.save("e2e", {"phases": phases, "checks": len(summary.get("checks", []))})
        print(figures_e2e.e2e_summary(figures_files.load("e2e")))
    return rc


if __name__ == "__main__":
    sys.exit(main())
