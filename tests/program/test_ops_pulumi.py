"""The operator commands against a real Pulumi CLI (where the toolchain is built:
scripts/pulumi-toolchain.sh, or NGINX_HA_PULUMI_BIN naming its folder; skipped with
the reason otherwise). Everything lives in a temporary folder: a file backend, a
throwaway passphrase, its own PULUMI_HOME.

- ``python -m nginx_ha up``: previews, asks, applies with progress lines and records
  the steps; a "no" changes nothing.
- ``status``'s reading of a stack: the outputs the program exports and the config with
  its secrets decrypted, parsed into the same settings the program uses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nginx_ha.ops import run as ops_run
from nginx_ha.ops.stackinfo import StackError, read_stack
from nginx_ha.view.progress import Reporter
from support import stacks

ROOT = stacks.ROOT


def pulumi_bin() -> Path | None:
    for folder in (
        os.environ.get("NGINX_HA_PULUMI_BIN", ""),
        str(ROOT / ".toolchain" / "bin"),
        str(ROOT.parent / "main" / ".toolchain" / "bin"),
    ):
        if folder and all(
            (Path(folder) / b).exists()
            for b in ("pulumi", "pulumi-language-python", "pulumi-resource-command")
        ):
            return Path(folder)
    return None


@pytest.fixture
def pulumi_env(tmp_path, monkeypatch):
    bin_dir = pulumi_bin()
    if bin_dir is None:
        pytest.skip(
            "no Pulumi toolchain (pulumi, pulumi-language-python, pulumi-resource-command): "
            "build it with scripts/pulumi-toolchain.sh or name its folder in NGINX_HA_PULUMI_BIN"
        )
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "test-only")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    return tmp_path


PROGRAM = """\
import pulumi
from pulumi_command import local

first = local.Command("first", create="sleep 1; echo one")
second = local.Command(
    "second", create="echo two", opts=pulumi.ResourceOptions(depends_on=[first])
)
pulumi.export("out", second.stdout)
"""


def test_up_previews_asks_and_applies_with_progress(pulumi_env):
    from pulumi import automation as auto

    project = pulumi_env / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: progress-probe\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / 'venv'}\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    auto.create_stack("probe", work_dir=str(project))
    lines: list[str] = []

    class Lines(Reporter):
        def line(self, text: str) -> None:
            lines.append(text)

    events = pulumi_env / "events.jsonl"
    rc = ops_run.run("up", "probe", project, reporter=Lines(live=False), answer=lambda q: "no")
    assert rc == 3
    assert "preview: 3 to create" in lines, lines  # the stack itself, first and second
    assert "declined: nothing was changed" in lines
    lines.clear()
    rc = ops_run.run(
        "up", "probe", project, yes=True, events=events, reporter=Lines(live=False, heartbeat=0)
    )
    assert rc == 0, "\n".join(lines)
    assert any(ln.startswith("  ✔ [2/2] create second") for ln in lines), lines
    assert any(ln.startswith("✔ pulumi up probe") for ln in lines)
    done = [json.loads(x) for x in events.read_text().splitlines()]
    assert [(e["event"], e["name"]) for e in done] == [
        ("start", "first"),
        ("done", "first"),
        ("start", "second"),
        ("done", "second"),
    ]
    lines.clear()
    assert ops_run.run("up", "probe", project, yes=True, reporter=Lines(live=False)) == 0
    assert "probe is up to date: nothing to do" in lines


def test_status_reads_the_outputs_and_the_decrypted_config(pulumi_env):
    """An inline program exports what the real one does; the config holds the dev
    stack's values with its secrets set as Pulumi secrets."""
    from pulumi import automation as auto

    from nginx_ha.components.stack import _node_output, vip_outputs
    from nginx_ha.config import parse_settings
    from nginx_ha.topology import build_topology

    raw = stacks.raw_config("dev")
    topo = build_topology(parse_settings(raw, stack="dev", secret_keys=stacks.SECRET_KEYS))

    def program() -> None:
        import pulumi

        pulumi.export("vips", vip_outputs(topo))
        pulumi.export("nodes", {n.name: _node_output(n) for n in topo.nodes})

    project = pulumi_env / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: nginx-ha\nruntime: python\n")
    stack = auto.create_stack(
        "dev",
        project_name="nginx-ha",
        program=program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(project)),
    )
    stack.set_all_config(
        {k: auto.ConfigValue(v, secret=k in stacks.SECRET_KEYS) for k, v in raw.items()}
    )
    assert "secure:" in (project / "Pulumi.dev.yaml").read_text()  # encrypted in the file
    with pytest.raises(StackError):  # no outputs yet: not deployed
        from nginx_ha.ops.status import collect

        collect(read_stack("dev", project))
    stack.up()
    view = read_stack("dev", project)
    assert view.outputs["vips"] == [
        {"vip": "192.168.159.110", "vrid": 121, "master": "nginx-master"}
    ]
    assert view.outputs["nodes"]["tomcat-backup"]["ip"] == "192.168.159.132"
    assert view.secret_keys == {k for k in stacks.SECRET_KEYS if k in raw}  # those set
    settings = view.settings()
    assert settings.ssh_host_key_seed is not None
    assert settings.ssh_host_key_seed.get_secret_value() == stacks.TEST_HOST_KEY_SEED
    with pytest.raises(StackError, match="no-such"):
        read_stack("no-such", project)
