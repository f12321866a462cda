"""python -m lab up|down|status|failover SCENARIO|render (see docs/lab.md)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lab.config import PROFILES
from nginx_ha.config import stackfiles
from support import netns


def main(argv: Sequence[str] | None = None) -> int:
    from lab import failover, observation, scenarios

    p = argparse.ArgumentParser(
        prog="python -m lab",
        description="The nginx-ha lab: a stack's nodes as network namespaces with real "
        "keepalived, nginx and Tomcat (root needed, except for render).",
    )
    p.add_argument("--stack", default="dev", help="stack file Pulumi.<stack>.yaml (default dev)")
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="timings for up: ours (the stack's settings; default), fast (0.1 s adverts), "
        "tutorial (the tutorial's keepalived.conf, for comparison); other commands use "
        "the profile the lab was started with",
    )
    p.add_argument(
        "--instance",
        help="name of the lab's run folder and namespaces (default: the stack), so two "
        "labs of one stack (two checkouts) do not meet",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="build the lab and wait until the VIP serves")
    sub.add_parser("down", help="remove every namespace, process and file of the lab")
    sub.add_parser("status", help="who holds the VIP and what each node runs")
    f = sub.add_parser("failover", help="inject a fault and measure through the VIP")
    f.add_argument("scenario", choices=list(scenarios.SCENARIOS))
    f.add_argument("--keep", action="store_true", help="leave the fault in place")
    f.add_argument(
        "--out",
        type=Path,
        help="folder of the timeline (JSON, PNG, SVG; default: the run folder's timelines/)",
    )
    r = sub.add_parser("render", help="write every node's rendered files (no root needed)")
    r.add_argument("--out", type=Path, help="folder (default: print paths and sizes)")
    a = p.parse_args(argv)

    from lab.errors import LabError
    from lab.lab import Lab, require_root

    lab = Lab(a.stack, a.profile, instance=a.instance)
    try:
        if a.cmd != "render":
            require_root(a.cmd)
        if a.cmd == "up":
            secs = lab.up()
            print(
                f"lab {a.stack}: serving {lab.url} after {secs:.2f} s (profile {lab.profile_name})"
            )
            print(lab.status())
        elif a.cmd == "down":
            lab.down()
        elif a.cmd == "status":
            print(lab.status())
        elif a.cmd == "failover":
            if not netns.exists(lab.switch):
                raise LabError(f"lab {a.stack} is not running: start it with `python -m lab up`")
            obs = failover.run(lab, scenarios.SCENARIOS[a.scenario], restore=not a.keep)
            print(observation.table([obs]))
            print(obs.describe())
            stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(obs.fault_wall))
            out = a.out or lab.run_dir / "timelines"
            paths = obs.write_timeline(out / f"{a.scenario}-{stamp}")
            print("timeline: " + ", ".join(str(p) for p in paths))
        elif a.cmd == "render":
            if a.out is None:
                for path, text in sorted(lab.render().items()):
                    print(f"{path} ({len(text)} bytes)")
            else:  # as `up` writes them: each file's bytes and mode
                for path in sorted(lab.write_render(a.out)):
                    print(f"{path} ({path.stat().st_size} bytes)")
    except netns.NetnsError as e:  # a LabError, or a namespace command that failed
        print(f"lab: {e}", file=sys.stderr)
        return 2
    except stackfiles.StackFileError as e:  # the stack's own file, read within bounds
        print(f"lab: stack file of '{a.stack}' is broken: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
