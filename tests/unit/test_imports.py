"""Who may import whom: the installed package stands alone, and the benchmarks and the
support package do not reach into the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from support.stacks import ROOT
from tests import pyast


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute imports; relative ones are the package's own)."""
    out: set[str] = set()
    for node in ast.walk(pyast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def offenders(folder: str, forbidden: tuple[str, ...]) -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        bad = {m for m in imported_modules(path) if m.split(".")[0] in forbidden}
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("bench", ("tests",)),
        ("support", ("tests", "bench")),
        # What `pip install` ships: nothing outside the package.
        ("nginx_ha", ("tests", "support", "bench", "lab", "sandbox", "scripts")),
    ],
)
def test_folder_imports_nothing_it_must_not(folder, forbidden):
    assert list((ROOT / folder).rglob("*.py")), f"no Python files under {folder}"
    assert offenders(folder, forbidden) == {}


def test_the_check_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from tests.golden import x\n    import tests.stacks\n")
    assert imported_modules(probe) == {"tests.golden", "tests.stacks"}
