"""End to end on the sandbox libvirt, phase by phase, printed as a markdown table.

    sudo venv/bin/python -m bench.e2e [--rebuild-image] [--keep-up]

Phases: base image (built, or reused when current: its recorded build time is shown),
sandbox up (daemons, pool), one VM booted (define, SSH answering, cloud-init done, the
offline apt checks), sandbox down. The Pulumi phases (`pulumi up --stack sandbox`,
remote steps, `destroy`) are to be added after the VM boot. Needs root; prints why
when it cannot run. The sandbox is always taken down (unless --keep-up, or it was
already up before), also on errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import config, daemons, image, smoke  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    p.add_argument("--rebuild-image", action="store_true", help="build the base image anew")
    p.add_argument("--keep-up", action="store_true", help="leave the sandbox up at the end")
    p.add_argument("--ssh-timeout", type=float, default=360)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.e2e: needs root (network namespace, libvirtd)")
        return 0
    missing = daemons.missing_tools()
    if missing:
        print(f"bench.e2e: missing {sorted(set(missing.values()))}: run scripts/sandbox-prereqs.sh")
        return 0

    paths = config.Paths.for_checkout()
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


if __name__ == "__main__":
    sys.exit(main())
