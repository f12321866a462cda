"""The architecture contract (pyproject.toml, [tool.importlinter]) holds, and it can fail.

``./scripts/test.sh`` runs ``lint-imports`` on the checkout; here the same contracts
run on a copy where a core module imports Pulumi, or the topology imports the
renderer, and must be broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("nginx_ha", "lab", "sandbox", "bench", "support")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_checkout_keeps_every_contract(copy):
    result = lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_core_module_importing_pulumi_breaks_the_contract(copy):
    naming = copy / "nginx_ha" / "topology" / "naming.py"
    naming.write_text(naming.read_text() + "\nimport pulumi  # noqa\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "nginx_ha.topology is not allowed to import pulumi" in result.stdout


def test_an_upward_import_breaks_the_layers(copy):
    model = copy / "nginx_ha" / "topology" / "model.py"
    model.write_text(model.read_text() + "\nfrom nginx_ha.render import templates  # noqa\n")
    result = lint(copy)
    assert result.returncode != 0
    assert "nginx_ha.topology.model -> nginx_ha.render.templates" in result.stdout
