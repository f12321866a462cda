"""docs/architecture.md stays true: every module of the project has its line there, and
every module named there exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nginx_ha", "lab", "sandbox", "bench", "support")


def modules() -> set[str]:
    return {
        str(p.relative_to(ROOT))
        for pkg in PACKAGES
        for p in (ROOT / pkg).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }


def named_in_doc() -> set[str]:
    text = (ROOT / "docs/architecture.md").read_text()
    return set(re.findall(r"^\| `([\w/]+\.py)` \|", text, re.M))


def test_every_module_has_its_line_in_the_architecture_doc():
    missing = modules() - named_in_doc()
    assert not missing, (
        f"add a line for each to docs/architecture.md (## Modules): {sorted(missing)}"
    )


def test_the_architecture_doc_names_no_module_that_is_gone():
    gone = named_in_doc() - modules()
    assert not gone, f"docs/architecture.md names modules that do not exist: {sorted(gone)}"
