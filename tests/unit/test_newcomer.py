"""A newcomer's first commands: `make` alone lists the targets and runs nothing, `make up`
takes the README's path (no STACK: bootstrap chooses dev or the sandbox), `--yes` only
for lab stacks, and the test command's default leaves the machine alone."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from support.stacks import ROOT
from tests.conftest import OPT_IN_LAYERS, opted_in

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@needs_make
def test_make_alone_prints_the_targets_and_runs_nothing():
    dry = make("-n")
    assert dry.returncode == 0
    assert "bootstrap.sh" not in dry.stdout and "pulumi" not in dry.stdout
    shown = make()
    assert shown.returncode == 0
    for target in ("up", "preview", "destroy", "status", "render", "test", "lab-up"):
        assert f"  {target} " in shown.stdout, shown.stdout


@needs_make
def test_make_up_follows_the_readme_fallback_unless_a_stack_is_named():
    assert make("-n", "up").stdout.strip() == "./scripts/bootstrap.sh"
    assert make("-n", "up", "STACK=prod").stdout.strip() == "STACK=prod ./scripts/bootstrap.sh"
    assert "--netns nginx-ha-sandbox" in make("-n", "status", "STACK=sandbox").stdout
    assert "--netns" not in make("-n", "status", "STACK=dev").stdout


def test_no_confirmation_is_skipped_but_for_lab_stacks():
    """bootstrap.sh and destroy.sh pass --yes only where nginx_ha.config.is_lab_stack
    says the stack is a throwaway lab."""
    for script in ("bootstrap.sh", "destroy.sh"):
        text = (ROOT / "scripts" / script).read_text()
        assert "is_lab_stack" in text and "CONFIRM=(--yes)" in text, script
        runs = [
            ln
            for ln in text.splitlines()
            if not ln.lstrip().startswith("#") and re.search(r"pulumi (up|destroy)|nginx_ha up", ln)
        ]
        assert runs and not any("--yes" in ln for ln in runs), runs
    assert (
        'nginx_ha up --stack "$STACK" "${CONFIRM[@]}"'
        in (ROOT / "scripts/bootstrap.sh").read_text()
    )


def test_the_test_command_installs_the_test_tools_into_a_venv_bootstrap_made():
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert "pip install -q -r requirements-dev.txt" in text
    assert "venv/.requirements-dev.txt" in text  # reinstalled when a pin changes
    assert "requirements.txt" in (ROOT / "requirements-dev.txt").read_text()


@pytest.mark.parametrize(
    ("env", "layers"),
    [
        ({}, set()),
        ({"CI": "true"}, set(OPT_IN_LAYERS)),
        ({"CI": "false", "NGINX_HA_TESTS": "all"}, set(OPT_IN_LAYERS)),
        ({"NGINX_HA_TESTS": "lab, scripts"}, {"lab", "scripts"}),
        ({"NGINX_HA_TESTS": "unit"}, set()),
    ],
)
def test_layers_that_change_the_machine_run_only_when_asked(env, layers):
    assert {layer for layer in OPT_IN_LAYERS if opted_in(layer, env)} == layers
    assert set(OPT_IN_LAYERS) == {"scripts", "lab", "sandbox"}
