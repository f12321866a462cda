"""Pulumi's CI flow (docs/operations.md): a preview on each pull request, `pulumi up`
on each push to main one stack at a time, a scheduled drift check; every one gives the
stack its secrets on the fresh checkout first (scripts/ci-stack-secrets.sh). actionlint
and GitHub's schema check all workflows (tests/unit/test_schemas.py)."""

from __future__ import annotations

from typing import Any

import yaml

from support.stacks import ROOT
from tests.unit.test_schemas import previewable_stacks

WORKFLOWS = ROOT / ".github" / "workflows"
SECRET_VARS = {
    "NGINX_HA_SSH_PRIVATE_KEY": "SSH_PRIVATE_KEY",
    "NGINX_HA_SSH_HOST_KEY_SEED": "SSH_HOST_KEY_SEED",
    "NGINX_HA_VRRP_AUTH_PASS": "VRRP_AUTH_PASS",
}


def load(name: str) -> Any:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def job(name: str) -> dict[str, Any]:
    (only,) = load(name)["jobs"].values()
    return only


def pulumi_steps(j: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in j["steps"] if s.get("uses", "").startswith("pulumi/actions@")]


def assert_secrets_before_pulumi(j: dict[str, Any]) -> None:
    steps = j["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    secrets = next(s for s in steps if s.get("run", "").strip() == "./scripts/ci-stack-secrets.sh")
    cli = next(s for s in pulumi_steps(j) if "command" not in s.get("with", {}))
    command = next(s for s in pulumi_steps(j) if "command" in s.get("with", {}))
    assert steps.index(cli) < steps.index(secrets) < steps.index(command), names
    env = secrets["env"]
    assert env["STACK"] == "${{ matrix.stack }}"
    for var, suffix in SECRET_VARS.items():
        assert env[var] == f"${{{{ secrets[format('NGINX_HA_{{0}}_{suffix}', matrix.stack)] }}}}"
    assert set(j["strategy"]["matrix"]["stack"]) == previewable_stacks()


def test_preview_deploy_and_drift_workflows_exist():
    assert {"preview.yml", "deploy.yml", "drift.yml"} <= {p.name for p in WORKFLOWS.glob("*.yml")}


def test_every_pulumi_workflow_gives_the_stack_its_secrets_first():
    for name in ("preview.yml", "deploy.yml", "drift.yml"):
        assert_secrets_before_pulumi(job(name))


def test_deploy_runs_up_on_pushes_to_main_one_stack_at_a_time():
    wf = load("deploy.yml")
    assert wf[True]["push"] == {"branches": ["main"]}  # YAML 1.1 reads `on` as True
    j = job("deploy.yml")
    assert j["strategy"]["max-parallel"] == 1 and j["strategy"]["fail-fast"] is True
    assert j["strategy"]["matrix"]["stack"][0] == "dev"  # the lab stack first
    assert j["environment"] == "${{ matrix.stack }}"  # its protection rules
    assert j["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    (up,) = [s for s in pulumi_steps(j) if s["with"].get("command")]
    assert up["with"]["command"] == "up" and up["with"]["stack-name"] == "${{ matrix.stack }}"
    steps = j["steps"]
    status = next(s for s in steps if "nginx_ha status" in s.get("run", ""))
    assert steps.index(up) < steps.index(status)
    assert wf["permissions"] == {"contents": "read"}


def test_drift_is_a_scheduled_preview_with_refresh_that_expects_no_changes():
    wf = load("drift.yml")
    assert wf[True]["schedule"][0]["cron"]
    j = job("drift.yml")
    (check,) = [s for s in pulumi_steps(j) if s["with"].get("command")]
    w = check["with"]
    assert (w["command"], w["refresh"], w["expect-no-changes"]) == ("preview", True, True)
    # Never beside an up of the same stack (it would see the update as drift).
    assert j["concurrency"]["group"] == job("deploy.yml")["concurrency"]["group"]
    assert wf["permissions"] == {"contents": "read"}
