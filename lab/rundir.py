"""A lab's run folder, ``.run/lab/<instance>/``, and what it keeps of a run: the state
``up`` writes (``lab.json``: stack, profile, namespaces, keepalived), the ``pids`` of
every process started; ``down`` from it alone (also after a crash), which keeps the
run's logs readable in ``<instance>.last/``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from lab import network
from lab.config import ROOT
from support import netns

RUN_ROOT = ROOT / ".run" / "lab"
STATE = "lab.json"
PIDS = "pids"


def saved(run_dir: Path, key: str) -> str | None:
    """What ``up`` recorded under ``key`` (None: no lab there, or not that)."""
    try:
        return json.loads((run_dir / STATE).read_text()).get(key)
    except (OSError, ValueError):
        return None


def leftovers(run_dir: Path, prefix: str) -> bool:
    """An earlier run left namespaces or its state behind."""
    return bool(netns.listed(prefix)) or (run_dir / STATE).exists()


def make(run_dir: Path, state: dict) -> None:
    """The run folder, made for a new run, with its state."""
    run_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(run_dir, 0o755)  # noqa: S103 - keepalived: scripts' folders root-only writable
    (run_dir / STATE).write_text(json.dumps(state, indent=2) + "\n")


def last_dir(run_dir: Path) -> Path:
    """Where `down` keeps the last run's folder."""
    return run_dir.with_name(run_dir.name + ".last")


def down(run_dir: Path, prefix: str, keep_logs: bool) -> tuple[set[str], set[int], Path | None]:
    """Every namespace named with ``prefix`` or recorded in the state, their processes
    and the recorded ones ended; the run folder kept as it is (``keep_logs``) or moved
    to ``last_dir``. The namespaces, the pids ended and where the folder went."""
    namespaces = set(netns.listed(prefix))
    state = run_dir / STATE
    if state.exists():
        with contextlib.suppress(ValueError):
            namespaces |= set(json.loads(state.read_text()).get("namespaces", []))
    namespaces = {n for n in namespaces if netns.exists(n)}
    removed = network.teardown(namespaces, run_dir / PIDS)
    kept = None
    if keep_logs:
        for f in (STATE, PIDS):
            (run_dir / f).unlink(missing_ok=True)
    elif run_dir.exists():
        # The last run's logs, configs, state files and timelines stay readable in
        # <instance>.last/ (replacing the run before it) until the next `down`.
        kept = last_dir(run_dir)
        if kept.exists():
            shutil.rmtree(kept)
        for f in (STATE, PIDS):
            (run_dir / f).unlink(missing_ok=True)
        run_dir.rename(kept)
    return namespaces, removed, kept
