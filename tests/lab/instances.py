"""Lab instance names for the tests, unique per checkout.

Namespaces are machine-wide: two checkouts (worktrees, a CI clone beside a
developer's) running the lab tests at once must not share a namespace name, so the
name carries a short hash of the checkout's path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKOUT = hashlib.sha256(str(Path(__file__).resolve().parents[2]).encode()).hexdigest()[:6]


def instance(name: str) -> str:
    """``name`` made unique to this checkout, e.g. 'test-dev-3fa2c1'."""
    return f"{name}-{CHECKOUT}"
