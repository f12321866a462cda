"""The figure files: ``docs/figures/<name>.json``, saved by a bench with when and where
it measured, loaded by the blocks that quote them; seconds as the docs write them."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.system()} {platform.release()}"


def save(name: str, data: dict[str, Any]) -> Path:
    """Write ``docs/figures/<name>.json`` with when and where it was measured."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.json"
    stamped = {"measured": time.strftime("%Y-%m-%d"), "machine": machine(), **data}
    path.write_text(json.dumps(stamped, indent=2) + "\n")
    return path


def load(name: str) -> dict[str, Any]:
    return json.loads((FIGURES / f"{name}.json").read_text())


def duration(seconds: float) -> str:
    """Seconds as the docs write them: 0.47 s, 7.9 s, 11.8 s, 95 s, 23 min 14 s."""
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{int(seconds) // 60} min {int(seconds) % 60} s"
