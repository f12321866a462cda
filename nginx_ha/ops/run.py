"""``python -m nginx_ha up|preview|destroy --stack NAME``: Pulumi's operations through
its Automation API (``pulumi.automation``, the pinned SDK's), with progress.

The engine's events stream in as they happen: a phase line when the preview and the
update start and end, a line per resource step as it starts and ends with a live
``[done/total]`` count (the total is the preview's), the steps running now, and every
warning and error as it comes (``nginx_ha/ops/events.py``). ``--events FILE`` also
writes each step's start and end as JSON lines (the end-to-end run's phase table).

``up`` previews first and shows what would change; it then applies it after a
confirmation, or at once with ``--yes`` (``scripts/bootstrap.sh`` passes ``--yes``
for lab stacks only). ``destroy`` asks the same way. Pulumi runs in the project folder
(``--project-dir``, default the working directory) with the environment
``scripts/bootstrap.sh`` sets up (nginx_ha/ops/env.py).

Before Pulumi is asked anything, the project file and the stack's own file are read
through the project's bounded reader (``nginx_ha/config/stackread.py``): the CLI reads
them with no bound of its own, so a FIFO or a link to a device there would stall it;
such a file is named, with what is wrong, and the command stops (exit 2).

Exit status: 0 done (``preview``: also with changes), 1 the operation failed, 2 the
stack cannot be used, 3 declined at the confirmation.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nginx_ha.config import stackfiles
from nginx_ha.ops import env as pulumi_env
from nginx_ha.ops.events import QUIET_OPS, StepCounter, short_name
from nginx_ha.view.progress import Reporter


def _changes(summary: Mapping[Any, int]) -> dict[str, int]:
    return {
        getattr(k, "value", str(k)): v
        for k, v in summary.items()
        if getattr(k, "value", str(k)) not in QUIET_OPS and v
    }


def _describe(changes: dict[str, int]) -> str:
    return ", ".join(f"{n} to {op}" for op, n in sorted(changes.items())) or "no changes"


def _error_tail(err: BaseException, limit: int = 25) -> str:
    """The end of a CommandError's text (the CLI's stdout and stderr)."""
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    return "\n".join(lines[-limit:])


def confirm(question: str, answer: Callable[[str], str] | None = None) -> bool:
    if answer is None:
        if not sys.stdin.isatty():
            return False
        answer = input
    try:
        return answer(f"{question} [yes/no] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run(
    command: str,
    stack_name: str,
    project_dir: Path,
    *,
    yes: bool = False,
    parallel: int | None = None,
    events: Path | None = None,
    reporter: Reporter | None = None,
    answer: Callable[[str], str] | None = None,
) -> int:
    from pulumi import automation as auto

    rep = reporter or Reporter()
    try:
        stackfiles.check_stack_files(stack_name, project_dir)
    except stackfiles.StackFileError as e:
        rep.line(f"cannot use stack {stack_name}: {e}")
        return 2
    counter = StepCounter(rep, events)
    try:
        with rep.phase(f"select stack {stack_name} in {project_dir}"):
            stack = auto.select_stack(stack_name=stack_name, work_dir=str(project_dir))
    except auto.CommandError as e:
        rep.line(f"cannot use stack {stack_name}:\n{_error_tail(e)}")
        return 2

    def counted(what: str, total: int | None, call: Callable[[], Any]) -> Any:
        rep.start_count(what, total)
        try:
            return call()
        finally:
            rep.stop_count()

    try:
        if command in ("up", "preview"):
            with rep.phase(f"preview of {stack_name} (the program runs, nothing changes)"):
                counter.previewing = True
                try:
                    preview = stack.preview(on_event=counter, parallel=parallel, diff=False)
                finally:
                    counter.previewing = False
            changes = _changes(preview.change_summary)
            rep.line(f"preview: {_describe(changes)}")
            for urn, op in counter.planned.items():
                rep.line(f"  {op:<20} {short_name(urn)}")
            if command == "preview":
                return 0
            if not changes:
                rep.line(f"{stack_name} is up to date: nothing to do")
                return 0
            if not yes and not confirm(f"apply these changes to {stack_name}?", answer):
                rep.line("declined: nothing was changed")
                return 3
            total = len(counter.planned) or None
            start = time.monotonic()
            with rep.phase(f"pulumi up {stack_name}"):
                result = counted(
                    f"up {stack_name}",
                    total,
                    lambda: stack.up(on_event=counter, parallel=parallel),
                )
            done = _changes(result.summary.resource_changes or {})
            rep.line(
                f"up {stack_name}: {_describe(done)} in {time.monotonic() - start:.0f} s; "
                f"outputs: {', '.join(sorted(result.outputs))}"
            )
            return 0
        if command == "destroy":
            resources = [
                r
                for r in (stack.export_stack().deployment or {}).get("resources", [])
                if not str(r.get("type", "")).startswith("pulumi:")
            ]
            if not resources:
                rep.line(f"{stack_name} has no resources: nothing to destroy")
                return 0
            if not yes and not confirm(
                f"destroy {len(resources)} resources of {stack_name}?", answer
            ):
                rep.line("declined: nothing was destroyed")
                return 3
            with rep.phase(f"pulumi destroy {stack_name}"):
                counted(
                    f"destroy {stack_name}",
                    len(resources),
                    lambda: stack.destroy(on_event=counter, parallel=parallel),
                )
            return 0
    except auto.CommandError as e:
        rep.line(f"pulumi {command} {stack_name} failed:\n{_error_tail(e)}")
        return 1
    finally:
        counter.close()
    raise ValueError(f"unknown command {command}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m nginx_ha",
        description="Pulumi up/preview/destroy through the Automation API, with progress.",
    )
    p.add_argument("command", choices=("up", "preview", "destroy"))
    p.add_argument("--stack", required=True)
    p.add_argument("--yes", action="store_true", help="no confirmation (lab stacks)")
    p.add_argument("--parallel", type=int, help="at most this many resource operations at once")
    p.add_argument("--events", type=Path, help="append each step's start and end (JSON lines)")
    p.add_argument(
        "--project-dir",
        type=Path,
        default=Path.cwd(),
        help="the Pulumi project folder (default: the working directory)",
    )
    p.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    args = p.parse_args(argv)
    pulumi_env.apply(pulumi_env.pulumi_env(args.project_dir))
    reporter = Reporter(live=False if args.plain else None)
    return run(
        args.command,
        args.stack,
        args.project_dir,
        yes=args.yes,
        parallel=args.parallel,
        events=args.events,
        reporter=reporter,
    )
