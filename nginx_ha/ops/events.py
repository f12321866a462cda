"""Pulumi's engine events (Automation API) as progress: ``StepCounter`` turns them into
step starts and ends on a ``nginx_ha.view.progress.Reporter`` (one per resource whose
operation changes it), and optionally records them as JSON lines (the end-to-end
run's phase table)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nginx_ha.view.progress import Reporter

# Operations that are not a change of the resource (left out of the count).
QUIET_OPS = {"same", "read", "refresh", "discard", "discard-replaced"}
# Resources that are not the stack's own (the stack itself, providers): not counted.
UNCOUNTED_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")


def short_name(urn: str) -> str:
    """``urn:pulumi:dev::nginx-ha::...::nginx-master-domain`` → ``nginx-master-domain``."""
    return urn.rsplit("::", 1)[-1]


class StepCounter:
    """Engine events (pulumi.automation) → step starts and ends on a Reporter, and
    optionally one JSON line per start and end in ``record``."""

    def __init__(self, reporter: Reporter, record: Path | None = None):
        self.reporter = reporter
        self.record = record.open("a") if record else None
        self.previewing = False  # set while a preview runs: its steps are only planned
        self.planned: dict[str, str] = {}  # urn -> op (from a preview)
        self.changed: dict[str, str] = {}  # urn -> op (this run's)
        self.failed: list[str] = []
        self.diagnostics: list[str] = []
        self.summary: dict[str, int] = {}
        self._seen: set[str] = set()

    def close(self) -> None:
        if self.record:
            self.record.close()
            self.record = None

    def _write(self, **fields: object) -> None:
        if self.record:
            self.record.write(json.dumps(fields) + "\n")
            self.record.flush()

    def __call__(self, event: Any) -> None:
        """The on_event callback of Stack.up/preview/destroy."""
        pre = getattr(event, "resource_pre_event", None)
        out = getattr(event, "res_outputs_event", None)
        failed = getattr(event, "res_op_failed_event", None)
        diag = getattr(event, "diagnostic_event", None)
        summary = getattr(event, "summary_event", None)
        # When it reached us (the engine's own timestamp has whole seconds only).
        stamp = round(time.time(), 3)
        step = pre or out or failed
        if step is not None:
            m = step.metadata
            op = getattr(m.op, "value", str(m.op))
            if op in QUIET_OPS or m.type.startswith(UNCOUNTED_TYPES):
                return
            if self.previewing or getattr(pre, "planning", False):
                if pre is not None:
                    self.planned.setdefault(m.urn, op)
                return
        if pre is not None:
            m = pre.metadata
            op = getattr(m.op, "value", str(m.op))
            first = m.urn not in self.changed
            self.changed.setdefault(m.urn, op)
            self._write(
                t=stamp, event="start", op=op, urn=m.urn, type=m.type, name=short_name(m.urn)
            )
            if first:
                self.reporter.step_started(m.urn, f"{op} {short_name(m.urn)} ({m.type})")
        elif (ended := out if out is not None else failed) is not None:
            m = ended.metadata
            op = getattr(m.op, "value", str(m.op))
            ok = out is not None
            self._write(
                t=stamp,
                event="done" if ok else "failed",
                op=op,
                urn=m.urn,
                type=m.type,
                name=short_name(m.urn),
            )
            if not ok:
                self.failed.append(m.urn)
            label = f"{self.changed.get(m.urn, op)} {short_name(m.urn)} ({m.type})"
            if self.reporter.is_running(m.urn) or not ok:
                self.reporter.step_ended(m.urn, label, ok)
        elif diag is not None and diag.severity in ("error", "warning"):
            text = diag.message.strip()
            if text and text not in self._seen:  # e.g. each plugin's "using ... from $PATH"
                self._seen.add(text)
                where = f" {short_name(diag.urn)}" if getattr(diag, "urn", None) else ""
                self.diagnostics.append(f"{diag.severity}{where}: {text}")
                self.reporter.line(f"  {diag.severity}{where}: {text}")
        elif summary is not None:
            self.summary = {
                getattr(k, "value", str(k)): v for k, v in (summary.resource_changes or {}).items()
            }
