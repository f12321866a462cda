"""Every decision lives in the home docs/architecture.md names, where a test can see it:
node kinds in their table, file modes in render/files.py, Tomcat's default port in the
settings model, scripts' parameters in the core (no component builds any), and no
shell told which kind of node it runs on."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests import pyast

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("nginx_ha", "lab", "sandbox", "bench", "support")
TEMPLATES = (ROOT / "nginx_ha/templates", ROOT / "lab/templates", ROOT / "sandbox/templates")
KINDS_TABLE = "nginx_ha/topology/kinds.py"

# Branching on what a node is: its kind compared with a kind or a kind's name, the old
# boolean, a kind's name or label spelled out as a string.
KIND_BRANCH = re.compile(
    r"is_load_balancer"
    r"|\.kind\.(name|label)\s*(==|!=|in\b)"
    r"|\.kind\s*(==|!=|is\b)\s*(LOAD_BALANCER|BACKEND|KINDS)"
    r"""|["']load_balancer["']|(==|!=)\s*["']lb["']|["']lb["']\s+if\b"""
)
# A shell script told which kind of node it runs on (KIND=lb), and branching on it.
SHELL_KIND = re.compile(r"\$\{?KIND\b|\bKIND=(lb|backend)\b")
MODE = re.compile(r"""["']0[0-7]{3}["']""")


def python_files(*packages: str) -> list[Path]:
    return [
        p
        for pkg in packages or PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if "__pycache__" not in p.parts
    ]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def hits(pattern: re.Pattern[str], files: list[Path], allowed: set[str]) -> list[str]:
    return [
        f"{rel(p)}:{n}: {line.strip()}"
        for p in files
        if rel(p) not in allowed
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]


def test_no_node_kind_branching_outside_the_kind_table():
    found = hits(KIND_BRANCH, python_files(), {KINDS_TABLE})
    assert not found, "ask the node's kind (topology/kinds.py) instead:\n" + "\n".join(found)


def test_no_script_is_told_which_kind_of_node_it_runs_on():
    scripts = [p for d in TEMPLATES if d.is_dir() for p in sorted(d.rglob("*")) if p.is_file()]
    assert scripts
    found = hits(SHELL_KIND, scripts, set())
    assert not found, "pass what to do (VRRP, GATE, UNITS), not the kind:\n" + "\n".join(found)


def test_file_modes_are_written_in_one_place():
    found = hits(MODE, python_files("nginx_ha"), {"nginx_ha/render/files.py"})
    assert not found, "take the mode from nginx_ha/render/files.py:\n" + "\n".join(found)


def test_tomcat_s_default_port_and_unit_are_written_once():
    files = python_files("nginx_ha")
    port = hits(re.compile(r"\b8080\b"), files, {"nginx_ha/config/models.py"})
    # A message may name it as advice; no code may default to it.
    port = [h for h in port if "use 8080" not in h]
    assert not port, "the port comes from the settings (Backend.port):\n" + "\n".join(port)
    unit = hits(re.compile(r"""["']tomcat10["']"""), files, {KINDS_TABLE})
    assert not unit, "the unit comes from topology/kinds.py:\n" + "\n".join(unit)


def script_parameter_dicts(path: Path) -> list[str]:
    """Dict literals whose keys are a script's parameters (upper-case names)."""
    out = []
    for node in ast.walk(pyast.parse(path.read_text())):
        if isinstance(node, ast.Dict) and any(
            isinstance(k, ast.Constant) and isinstance(k.value, str) and k.value.isupper()
            for k in node.keys
        ):
            out.append(f"{rel(path)}:{node.lineno}")
    return out


def test_no_component_builds_a_script_s_parameters():
    found = [d for p in python_files("nginx_ha/components") for d in script_parameter_dicts(p)]
    assert not found, "build them in nginx_ha/render (params.py, parts.py):\n" + "\n".join(found)


def test_the_checks_can_fail(tmp_path):
    """A test that cannot fail is a defect: each pattern finds what it is for."""
    assert KIND_BRANCH.search('    if node.kind.name == "backend":')
    assert KIND_BRANCH.search("    if node.kind is LOAD_BALANCER:")
    assert not KIND_BRANCH.search('    if a.kind == "run":')  # an artefact's kind
    assert KIND_BRANCH.search("    role = 'lb' if lb else node.role")
    assert KIND_BRANCH.search("if n.is_load_balancer:")
    assert not KIND_BRANCH.search("    if node.kind.vrrp:")
    assert SHELL_KIND.search("if [[ $KIND == lb ]]; then") and SHELL_KIND.search("KIND=lb")
    assert not SHELL_KIND.search('kinds+=("$kind")')
    assert MODE.search('mode="0755"') and not MODE.search("mode=files.SCRIPT")
    planted = tmp_path / "component.py"
    planted.write_text('x = {"ACTION": "install", "x": 1}\ny = {"a": 1}\n')
    assert len(script_parameter_dicts(planted)) == 1
