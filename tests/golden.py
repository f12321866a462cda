"""Golden files: rendered output compared byte for byte with a reviewed copy.

Run with UPDATE_GOLDEN=1 to rewrite the copies, then review them in the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden copy {path}; run with UPDATE_GOLDEN=1 and review it"
    expected = path.read_text()
    assert text == expected, f"{name} differs from its golden copy (UPDATE_GOLDEN=1 to accept)"
