"""End to end: ``pulumi up --stack sandbox`` on the sandbox libvirt, then the checks
(docs/e2e.md) from inside the namespace, then ``pulumi destroy`` and ``sandbox down``.

``up`` and ``destroy`` run through ``python -m nginx_ha up|destroy`` (Pulumi's
Automation API): their progress streams as they go (phase lines, each resource step as
it starts and ends with a live count, a line naming what still runs every 30 s), and
the phase times come from the engine's events.

Run through ``scripts/e2e.sh`` (root). Every Pulumi command runs in a throwaway copy
of the project (``.run/e2e/project``: symlinks to the program, a copy of
``Pulumi.sandbox.yaml``) so the generated key and secrets never touch a tracked file,
with a local file backend and a throwaway passphrase under ``.run/e2e``. Whatever
fails, the stack is destroyed and the sandbox taken down (unless it was up before).

Writes ``.run/e2e/summary.json`` (phases, checks, ok) and prints the phase and check
tables; exits 1 when a check failed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable

from sandbox import config, e2e_driver
from sandbox.e2e_changes import Changes
from sandbox.e2e_checks import Checks
from sandbox.e2e_driver import LIMITS
from sandbox.e2e_report import Report, print_tables
from sandbox.e2e_stack import StackLife


class E2E(StackLife, Checks, Changes, Report):
    """One end-to-end run, put together from its parts: the driver (``e2e_driver.py``:
    the environment, bounded commands, the record), the stack's life (``e2e_stack.py``),
    the checks (``e2e_checks.py``), the changes (``e2e_changes.py``) and the report
    (``e2e_report.py``); :func:`_session` runs them in order."""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sandbox.e2e", description=__doc__)
    p.add_argument("--keep", action="store_true", help="leave the stack and the sandbox up")
    p.add_argument(
        "--checks-only",
        action="store_true",
        help="only the checks, against the stack a --keep run left up (keeps it up)",
    )
    p.add_argument(
        "--parallel",
        type=int,
        metavar="N",
        help="pulumi up/destroy --parallel=N (default: Pulumi's own, as a user gets it)",
    )
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        type=_limit,
        metavar="CALL=SECONDS",
        help=f"the time limit of a pulumi call ({', '.join(f'{k}={v:.0f}' for k, v in LIMITS.items())})",
    )
    args = p.parse_args(argv)
    if args.checks_only:
        args.keep = True
    if os.geteuid() != 0:
        print("e2e: needs root (network namespace, libvirtd)", file=sys.stderr)
        return 2
    e2e_driver.WORK.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    e = E2E(out=log, limits=dict(args.limit), parallel=args.parallel)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # Ctrl-C and TERM end the run the same way: the running command is interrupted, the
    # stack destroyed, the sandbox taken down. SIGINT is taken even when it came in
    # ignored (scripts/e2e.sh runs this in the background, where bash ignores it).
    handler = _Interrupts()
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    try:
        return _session(e, args, log)
    finally:
        for sig, h in saved.items():
            signal.signal(sig, h)


def _session(e: E2E, args: argparse.Namespace, log: Callable[[str], None]) -> int:
    from sandbox import daemons

    paths = config.Paths.for_checkout()
    was_up = daemons.status(paths)["up"]
    if not was_up and not args.checks_only:
        shutil.rmtree(e.work / "state", ignore_errors=True)  # a down sandbox has no resources
    error = None
    t_all = time.monotonic()
    try:
        if args.checks_only:
            e.outputs = json.loads(e.pulumi("stack", "output", "--json").stdout)
        else:
            e.prepare()
            e.sandbox_up()
            e.bootstrap()
            if was_up:
                e.cleanup()  # a previous run's resources in a sandbox that stayed up
                e.stack_made = True
            e.up()
        e.check_vip()
        e.check_https()
        e.check_status(
            next(n for n, v in e.outputs["nodes"].items() if v.get("role") == "MASTER"), "after up"
        )
        e.check_clones()
        e.check_no_changes()
        e.check_nginx_change()
        e.check_broken_change()
        e.check_app_deploy()
        e.check_failover()
        if not args.keep:
            e.destroy()
    except Exception as exc:  # noqa: BLE001 - reported in the summary, then cleaned up
        error = str(exc)
        log(f"== error: {exc}")
    except KeyboardInterrupt:
        error = "interrupted (Ctrl-C or TERM)"
        log(f"== {error}: cleaning up")
    finally:
        ok = error is None and bool(e.checks) and all(c[1] for c in e.checks)
        interrupted = bool(error and error.startswith("interrupted"))
        if not ok and not interrupted and e.outputs and not e.diagnosed:
            e.diagnose()  # before the stack goes (not on Ctrl-C: that wants out)
        if not args.keep:
            try:
                e.cleanup()
            except Exception as exc:  # noqa: BLE001 - sandbox down removes what is left
                log(f"== cleanup: {exc}; sandbox down removes what is left")
            if not was_up:
                t = time.monotonic()
                daemons.down(paths, out=log)
                e.phase("sandbox down", time.monotonic() - t)
        e.phase("e2e total", time.monotonic() - t_all)
        summary = e.summary(ok, error)
        (e.work / "summary.json").write_text(json.dumps(summary, indent=2))
        print_tables(summary)
    if error and error.startswith("interrupted"):
        return 130
    return 0 if ok else 1


class _Interrupts:
    """SIGINT/TERM handler: KeyboardInterrupt, once per Ctrl-C. A Ctrl-C in the
    terminal reaches this process and scripts/e2e.sh, which passes it on: the second
    copy, within a second or two, would cut the cleanup short."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.last: float | None = None

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.window:
            return
        self.last = now
        raise KeyboardInterrupt


def _limit(text: str) -> tuple[str, float]:
    call, _, seconds = text.partition("=")
    if call not in LIMITS or not seconds:
        raise argparse.ArgumentTypeError(
            f"{text}: expected CALL=SECONDS, CALL one of {', '.join(LIMITS)}"
        )
    return call, float(seconds)


if __name__ == "__main__":
    sys.exit(main())
