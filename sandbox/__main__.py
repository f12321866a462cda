"""``python -m sandbox up|down|status|image|smoke|uri`` (run as root from the checkout)."""

from __future__ import annotations

import argparse
import json
import sys

from sandbox import config, daemons
from support import netns


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the sandbox libvirt (builds the base image if needed)")
    up.add_argument(
        "--no-image",
        action="store_true",
        help="do not build the base image (daemons and pool only)",
    )
    down = sub.add_parser("down", help="stop and remove everything the sandbox made")
    down.add_argument("--purge", action="store_true", help="remove the base image too")
    st = sub.add_parser("status", help="what runs; exit 0 when libvirtd answers, 3 when not")
    st.add_argument("--json", action="store_true")
    img = sub.add_parser("image", help="build the Debian 12 base image (skipped when current)")
    img.add_argument("--force", action="store_true", help="rebuild even when current")
    smoke = sub.add_parser("smoke", help="boot one throwaway VM, SSH into it, destroy it")
    smoke.add_argument("--timeout", type=float, default=360, help="seconds to wait for SSH")
    sub.add_parser("uri", help="print the sandbox's libvirt URI")
    args = p.parse_args(argv)

    paths = config.Paths.for_checkout()
    try:
        if args.command == "uri":
            print(config.libvirt_uri(paths.socket))
        elif args.command == "up":
            times = daemons.up(paths, with_image=not args.no_image)
            for k, v in times.items():
                print(f"  {k}: {v:.1f} s")
        elif args.command == "down":
            daemons.down(paths, purge=args.purge)
        elif args.command == "status":
            info = daemons.status(paths)
            if args.json:
                print(json.dumps(info, indent=2))
            else:
                for k, v in info.items():
                    print(f"{k}: {v}")
            return 0 if info["up"] else 3
        elif args.command == "image":
            from sandbox import image

            m = image.build(paths, force=args.force)
            image.fetch_keepalived_source(paths)
            print(
                f"{paths.images / config.BASE_VOLUME}: {m['image_bytes'] / 1e6:.0f} MB, "
                f"apt cache {m['apt_cache_debs']} packages {m['apt_cache_bytes'] / 1e6:.0f} MB, "
                f"build {m['seconds']}"
            )
        elif args.command == "smoke":
            from sandbox import smoke as smoke_mod

            result = smoke_mod.run(paths, ssh_timeout=args.timeout)
            print(json.dumps(result, indent=2))
            return 0 if result["ok"] else 1
    except netns.NetnsError as e:  # a SandboxError, or a namespace command that failed
        print(f"sandbox: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
