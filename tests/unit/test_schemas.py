"""Checked-in configuration against the schemas of the tools that read it.

- .github/workflows/*.yml: actionlint (built by scripts/dev-tools.sh from its Go module,
  shellcheck on every `run:` script) and the GitHub workflow schema vendored in
  check-jsonschema (`--builtin-schema vendor.github-workflows`).
- Pulumi.yaml: Pulumi's own project schema, project.json of the sdk/v3 Go module at the
  Python SDK's version (fetched into the Go module cache by scripts/dev-tools.sh).
- Pulumi.<stack>.yaml: tests/schemas/pulumi-stack.schema.json (Pulumi publishes none for
  stack files; see its description), and the project's typed config declarations as the
  CLI applies them (pkg/v3 workspace/config.go validateStackConfigValue).

Tools built from Go modules are skipped with the reason outside CI, and required in CI
(CI=true), where .ci/run builds them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from nginx_ha.config.parse import SECRET_KEYS
from support.stacks import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
STACK_SCHEMA = ROOT / "tests" / "schemas" / "pulumi-stack.schema.json"
CHECK_JSONSCHEMA = str(Path(sys.executable).parent / "check-jsonschema")


def _missing(what: str) -> None:
    """Skip with the reason on a developer's machine; fail in CI, which must have it."""
    hint = f"{what} is missing: run ./scripts/dev-tools.sh (needs Go 1.25+)"
    if os.environ.get("CI") == "true":
        pytest.fail(hint)
    pytest.skip(hint)


@pytest.fixture(scope="module")
def actionlint() -> str:
    local = ROOT / ".toolchain" / "bin" / "actionlint"
    found = str(local) if local.exists() else shutil.which("actionlint")
    if not found:
        _missing("actionlint")
    return str(found)


@pytest.fixture(scope="module")
def project_schema() -> Path:
    pin = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin, "requirements.txt pins pulumi=="
    cache = os.environ.get("GOMODCACHE")
    if not cache and shutil.which("go"):
        cache = subprocess.run(
            ["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=True
        ).stdout.strip()
    schema = (
        Path(cache or Path.home() / "go" / "pkg" / "mod")
        / f"github.com/pulumi/pulumi/sdk/v3@v{pin.group(1)}/go/common/workspace/project.json"
    )
    if not schema.is_file():
        _missing(f"Pulumi's project schema ({schema})")
    return schema


def run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


def check_jsonschema(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run([CHECK_JSONSCHEMA, "--no-cache", *map(str, args)])


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


BROKEN_WORKFLOW = """\
name: broken
on: [push]
jobs:
  build:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v6
        with:
          no-such-input: true
      - run: echo "${{ secret.NOT_A_CONTEXT }}"
"""


# ---------------------------------------------------------------------------- workflows


def test_there_are_a_test_and_a_preview_workflow():
    assert {p.name for p in WORKFLOWS} >= {"test.yml", "preview.yml"}


def test_workflows_pass_actionlint(actionlint):
    # From the project root actionlint reads .github/actionlint.yaml (runner labels).
    res = run([actionlint, "-no-color", *map(str, WORKFLOWS)])
    assert res.returncode == 0, res.stdout + res.stderr


def test_actionlint_rejects_a_broken_workflow(actionlint, tmp_path):
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "broken.yml").write_text(BROKEN_WORKFLOW)
    res = run([actionlint, "-no-color", str(wf / "broken.yml")], cwd=tmp_path)
    assert res.returncode == 1
    assert "no-such-input" in res.stdout and "secret" in res.stdout


def test_workflows_match_the_github_workflow_schema(tmp_path):
    res = check_jsonschema("--builtin-schema", "vendor.github-workflows", *WORKFLOWS)
    assert res.returncode == 0, res.stdout + res.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\non: [push]\njobs:\n  a:\n    steps: []\n")  # no runs-on
    assert check_jsonschema("--builtin-schema", "vendor.github-workflows", bad).returncode == 1


def previewable_stacks() -> set[str]:
    """Every committed stack but those on a private libvirtd of a developer's machine
    (a `socket=` URI, such as the sandbox's), which no runner can reach."""
    out = set()
    for path in STACK_FILES:
        uri = (load(path).get("config") or {}).get("libvirt:uri", "")
        if "socket=" not in uri:
            out.add(path.name.removeprefix("Pulumi.").removesuffix(".yaml"))
    return out


def test_test_workflow_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/test.sh" in readme
    steps = load(ROOT / ".github/workflows/test.yml")["jobs"]["test"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.strip() == "./scripts/test.sh" for r in runs)
    # The Go-built tools exist before the tests that need them in CI.
    assert runs.index("./scripts/dev-tools.sh") < runs.index("./scripts/test.sh")


def test_preview_workflow_previews_every_committed_stack_and_comments():
    wf = load(ROOT / ".github/workflows/preview.yml")
    assert set(wf[True]) == {"pull_request"}  # YAML 1.1 reads the key `on` as True
    assert wf["permissions"]["pull-requests"] == "write"
    job = wf["jobs"]["preview"]
    assert set(job["strategy"]["matrix"]["stack"]) == previewable_stacks()
    labels = set(load(ROOT / ".github/actionlint.yaml")["self-hosted-runner"]["labels"])
    assert "self-hosted" in job["runs-on"] and labels & set(job["runs-on"])
    assert "secrets.PULUMI_CONFIG_PASSPHRASE" in job["env"]["PULUMI_CONFIG_PASSPHRASE"]
    assert "secrets.PULUMI_BACKEND_URL" in job["env"]["PULUMI_BACKEND_URL"]
    (pulumi,) = [
        s
        for s in job["steps"]
        if s.get("uses", "").startswith("pulumi/actions@") and "command" in s.get("with", {})
    ]
    with_ = pulumi["with"]
    assert with_["command"] == "preview" and with_["diff"] is True
    assert with_["comment-on-pr"] is True
    assert with_["stack-name"] == "${{ matrix.stack }}"
    assert "secrets.PULUMI_BACKEND_URL" in with_["cloud-url"]
    key_step = next(s for s in job["steps"] if "LIBVIRT_SSH_KEY" in s.get("env", {}))
    assert "umask 077" in key_step["run"] and "ssh-add" in key_step["run"]


# ------------------------------------------------------------------------ Pulumi files


def test_pulumi_yaml_matches_pulumi_project_schema(project_schema, tmp_path):
    res = check_jsonschema("--schemafile", project_schema, ROOT / "Pulumi.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    broken = load(ROOT / "Pulumi.yaml")
    del broken["name"]  # the schema requires a name
    broken["config"]["vip"]["type"] = "ipv4"  # not one of Pulumi's config types
    bad = tmp_path / "Pulumi.yaml"
    bad.write_text(yaml.safe_dump(broken))
    assert check_jsonschema("--schemafile", project_schema, bad).returncode == 1


EXAMPLE_PROJECTS = sorted((ROOT / "examples").glob("*/Pulumi.yaml"))


def test_example_projects_match_pulumi_project_schema(project_schema):
    assert EXAMPLE_PROJECTS, "examples/*/Pulumi.yaml"
    res = check_jsonschema("--schemafile", project_schema, *EXAMPLE_PROJECTS)
    assert res.returncode == 0, res.stdout + res.stderr
    names = [load(p)["name"] for p in EXAMPLE_PROJECTS]
    assert load(ROOT / "Pulumi.yaml")["name"] not in names, "an example is a project of its own"


def test_stack_files_match_the_stack_schema(tmp_path):
    assert len(STACK_FILES) >= 2
    res = check_jsonschema("--schemafile", STACK_SCHEMA, *STACK_FILES)
    assert res.returncode == 0, res.stdout + res.stderr
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config:\n  vip: 10.0.0.1\n  nginx-ha:sshPrivateKey:\n    secure: 42\n")
    res = check_jsonschema("--schemafile", STACK_SCHEMA, bad)
    assert res.returncode == 1 and "vip" in res.stdout


def _as_engine_sees(value: Any) -> Any:
    """A stack file's scalar reaches the CLI as text (YAML true -> "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _matches(typ: str, value: Any, items: dict | None) -> bool:
    value = _as_engine_sees(value)
    if typ == "string":
        return isinstance(value, str)
    if typ == "integer":
        return isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value) is not None
    if typ == "boolean":
        return value in ("true", "false")
    if typ == "object":
        return isinstance(value, dict)
    if typ == "array":
        return (
            isinstance(value, list)
            and all(_matches(items["type"], v, items.get("items")) for v in value)
            if items
            else isinstance(value, list)
        )
    raise AssertionError(f"unknown config type {typ}")


def project_config_problems(project: dict, stack: str, config: dict) -> list[str]:
    """What `pulumi preview` would refuse in this stack file, by the project's declarations."""
    out = []
    for key, decl in (project.get("config") or {}).items():
        if not isinstance(decl, dict):
            continue  # a plain project-level value, e.g. libvirt:uri
        full = key if ":" in key else f"{project['name']}:{key}"
        if full not in config:
            if "default" not in decl and "value" not in decl and key not in SECRET_KEYS:
                out.append(f"{stack}: {full} is required by Pulumi.yaml and missing")
            continue
        value = config[full]
        secure = isinstance(value, dict) and set(value) == {"secure"}
        if decl.get("secret") and not secure:
            out.append(f"{stack}: {full} must be encrypted as it's secret")
        if "type" in decl and not secure and not _matches(decl["type"], value, decl.get("items")):
            out.append(f"{stack}: {full} must be of type {decl['type']}")
    return out


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_files_satisfy_the_project_config_declarations(path):
    project = load(ROOT / "Pulumi.yaml")
    stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert project_config_problems(project, stack, load(path).get("config") or {}) == []


def test_project_config_check_refuses_plain_secrets_and_wrong_types():
    project = load(ROOT / "Pulumi.yaml")
    problems = project_config_problems(
        project,
        "bad",
        {"nginx-ha:antiAffinity": "sometimes", "nginx-ha:sshPrivateKey": "-----BEGIN"},
    )
    assert problems == [
        "bad: nginx-ha:antiAffinity must be of type boolean",
        "bad: nginx-ha:sshPrivateKey must be encrypted as it's secret",
    ]
