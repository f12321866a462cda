"""Progress of long work: phase lines as they start and end, and a live count
(the operator commands' Pulumi runs, nginx_ha/ops; the sandbox's image build).

Two outputs from the same calls:

- on a terminal, a rich progress bar (done/total, elapsed) with the steps running now,
  and the phase lines printed above it;
- elsewhere (CI logs, the e2e's log, a pipe), plain lines only: each phase and step as
  it starts and ends with ``[done/total]``, and every ``heartbeat`` seconds a line
  naming what is still running and for how long, so a silent minute never looks hung.

``nginx_ha.ops.events.StepCounter`` feeds it from Pulumi's engine events.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)


def _clock(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f} s"
    return f"{s // 60} min {s % 60:02d} s"


class Reporter:
    """Phase lines and a live count, on a terminal or as plain lines."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        live: bool | None = None,
        heartbeat: float = 30.0,
    ):
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self.heartbeat = heartbeat
        self._lock = threading.Lock()
        self._running: dict[str, tuple[str, float]] = {}  # key -> (label, started)
        self._done = 0
        self._total: int | None = None
        self._progress: Progress | None = None
        self._task: Any = None
        self._beat: threading.Thread | None = None
        self._stop = threading.Event()
        self._what = ""

    # ------------------------------------------------------------------ lines
    def line(self, text: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """``▶ name`` now, ``✔ name (time)`` or ``✘ name failed (time)`` at the end."""
        start = time.monotonic()
        self.line(f"▶ {name}")
        try:
            yield
        except BaseException:
            self.line(f"✘ {name} failed after {_clock(time.monotonic() - start)}")
            raise
        self.line(f"✔ {name} ({_clock(time.monotonic() - start)})")

    # ------------------------------------------------------------- the count
    def start_count(self, what: str, total: int | None) -> None:
        self._what, self._total, self._done = what, total, 0
        self._running.clear()
        self._stop.clear()
        if self.live:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[running]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(what, total=total, running="")
        elif self.heartbeat > 0:
            self._beat = threading.Thread(target=self._heartbeat, daemon=True)
            self._beat.start()

    def _count(self) -> str:
        return f"[{self._done}/{self._total}]" if self._total else f"[{self._done}]"

    def _running_text(self, limit: int = 3) -> str:
        now = time.monotonic()
        items = sorted(self._running.values(), key=lambda v: v[1])
        shown = ", ".join(f"{label} {_clock(now - t)}" for label, t in items[:limit])
        more = f" (+{len(items) - limit})" if len(items) > limit else ""
        return shown + more

    def _refresh(self) -> None:
        if self._progress is not None:
            self._progress.update(
                self._task,
                completed=self._done,
                total=self._total,
                running=self._running_text(2),
            )

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            with self._lock:
                running = self._running_text(4)
            if running:
                self.line(f"… {self._what} {self._count()} running: {running}")
            else:
                self.line(f"… {self._what} {self._count()}")

    def is_running(self, key: str) -> bool:
        with self._lock:
            return key in self._running

    def set_total(self, total: int | None) -> None:
        """A total learnt on the way (the image build reads it from apt)."""
        self._total = total
        self._refresh()

    def advance(self, label: str = "") -> None:
        """One more unit of work done that had no start of its own (a package set up)."""
        with self._lock:
            self._done += 1
        if label and not self.live and self._done % 25 == 0:
            self.line(f"  {self._count()} {label}")
        self._refresh()

    def step_started(self, key: str, label: str) -> None:
        with self._lock:
            self._running[key] = (label, time.monotonic())
        if not self.live:
            self.line(f"  ▶ {self._count()} {label}")
        self._refresh()

    def step_ended(self, key: str, label: str, ok: bool = True) -> None:
        with self._lock:
            _, started = self._running.pop(key, (label, time.monotonic()))
            if ok:
                self._done += 1
        took = _clock(time.monotonic() - started)
        self.line(f"  {'✔' if ok else '✘'} {self._count()} {label} ({took})")
        self._refresh()

    def stop_count(self) -> None:
        self._stop.set()
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._beat is not None:
            self._beat.join(timeout=1)
            self._beat = None
