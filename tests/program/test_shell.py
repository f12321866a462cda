"""shellcheck on every piece of shell this project runs, as it runs it.

Not the template files alone: the scripts exactly as the program registers them under
Pulumi mocks (preamble, parameters and the script; the activation with its manifest and
the VRRP library), the files it uploads, the lab's start scripts, the sandbox's libvirt
start script and the repository's own scripts. Every shell template on disk (the
package's, the lab's, the sandbox's and the support's folders) must be among what was checked (each
rendered file names its template in its header), so a new template without a caller
here fails this test instead of going unchecked."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lab.files import TEMPLATES as LAB_TEMPLATES
from nginx_ha.render.templates import TEMPLATES, Templates
from sandbox.config import TEMPLATES as SANDBOX_TEMPLATES
from support import stacks
from support.mocks import run_program
from support.shell import TEMPLATES as SUPPORT_TEMPLATES
from tests.program.commands import script_body

ROOT = Path(__file__).resolve().parents[2]
HEADER = re.compile(
    r"^# [Gg]enerated by (?:the )?nginx-ha(?: lab)? from (?:templates/)?(\S+?)[;:, ]", re.M
)
# A parameter line of render.params.param_header: NAME=value, the value shlex-quoted
# (possibly over several lines, embedded quotes as '"'"').
PARAM = re.compile(r"""^([A-Z_][A-Z0-9_]*)=(?:'[^']*'(?:"'"'[^']*')*|[^\s'"]*)$""", re.M)
# Shell templates that are never a script of their own: the preamble starts every
# command (checked as part of each), stop_own is included by the lab's start scripts.
PARTIALS = {"scripts/preamble.sh", "lab/templates/stop_own.sh.j2"}
# The stacks whose scripts differ: one VIP; two VIPs with LVS (real-server steps, the
# IPVS build); the notify script with e-mail; the application.
STACKS: dict[str, dict[str, Any]] = {
    "dev": {},
    "notify": {
        "notify": {
            "script": True,
            "emailTo": ["ops@example.com"],
            "smtpServer": "192.168.159.1",
        }
    },
    # The application fetched by the backends (its stage step, its JVM options).
    "app": {
        "app": {
            "url": "https://repo.example.com/shop-1.4.2.war",
            "sha256": "3f5a" * 16,
            "healthPath": "/health",
            "javaOpts": "-Xmx512m -XX:+UseG1GC",
        }
    },
    "active-active-lvs": {
        "vip": None,
        "vips": ["192.168.159.110", "192.168.159.111"],
        "lvs": {"enabled": True, "scheduler": "rr", "persistenceTimeout": 120},
    },
}


def shellcheck() -> str:
    venv = ROOT / "venv/bin/shellcheck"
    found = str(venv) if venv.exists() else shutil.which("shellcheck")
    if found is None:
        pytest.skip("shellcheck not installed (venv/bin/shellcheck or the Debian package)")
    return found


def asset_text(source: Any) -> str | None:
    text = getattr(source, "text", None)
    if text is None and isinstance(source, dict):
        text = source.get("text")
    return text if isinstance(text, str) else None


def program_scripts() -> dict[str, str]:
    """Every command and every uploaded script the program registers, per stack."""
    out: dict[str, str] = {}
    for stack, overrides in STACKS.items():
        result = run_program(stacks.raw_config("dev", **overrides), stack="dev")
        for r in result.resources:
            if r.typ == "command:remote:Command":
                for when in ("create", "update", "delete"):
                    command = r.inputs.get(when)
                    if isinstance(command, str) and command:
                        body = (
                            script_body(command) if command.startswith("sudo bash -c") else command
                        )
                        out[f"{stack}/{r.name}.{when}"] = body
            elif r.typ == "command:remote:CopyToRemote":
                text = asset_text(r.inputs.get("source"))
                if text is not None and text.startswith("#!"):
                    out[f"{stack}/{r.name}.upload"] = text
    return out


def lab_scripts(tmp_path: Path, monkeypatch) -> dict[str, str]:
    from lab.lab import Lab

    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    lab = Lab("dev", "ours", run_root=tmp_path / "lab", instance="shell")
    lab.load()
    out = {}
    for ln in lab.nodes.values():
        for path, text in lab.node_files(ln).items():
            if text.startswith("#!"):
                out[f"lab/{ln.node.name}{path}"] = text
    from lab.live import served_certificate_script

    out["lab/served_certificate.sh"] = served_certificate_script(443, "www.nginx-ha.test")
    return out


def sandbox_scripts(tmp_path: Path) -> dict[str, str]:
    from sandbox import config, daemons, e2e_changes, e2e_checks, e2e_report, labvm

    return {
        "sandbox/start_libvirt.sh": daemons._start_script(config.Paths(root=tmp_path / "sb")),
        "sandbox/lab_vm_setup.sh": labvm.setup_script(),
        "sandbox/lab_logs.sh": labvm.logs_script(),
        "sandbox/diagnose.sh": e2e_report.diagnose_script(),
        "sandbox/clone_facts.sh": e2e_checks.clone_facts_script(),
        "sandbox/lb_facts.sh": e2e_changes.lb_facts_script(),
    }


def support_scripts(tmp_path: Path) -> dict[str, str]:
    """What the support's validators run: the stub of a unit's binary, nginx -t as a
    node sees the file."""
    from support import nginx_validate, shell

    return {
        "support/exec_stub.sh": shell.TEMPLATES.file("exec_stub.sh"),
        "support/nginx_as_node.sh": nginx_validate.as_node_script(
            tmp_path / "etc-nginx", "/etc/nginx/nginx.conf"
        ),
    }


def status_scripts() -> dict[str, str]:
    """`python -m nginx_ha status`'s probe, as a load balancer and a backend run it."""
    from nginx_ha.topology import KINDS, Layout
    from nginx_ha.view import status

    return {f"status/{k.label}": status.probe_script(k, Layout()) for k in KINDS.values()}


def repository_scripts() -> dict[str, str]:
    paths = [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci/run"]
    return {str(p.relative_to(ROOT)): p.read_text() for p in paths}


# Every folder of templates, as a rendered header names its files: the package's own
# (``scripts/activate.sh``), the lab's, the sandbox's and the support's
# (``lab/templates/...``).
FOLDERS = (Templates(TEMPLATES), LAB_TEMPLATES, SANDBOX_TEMPLATES, SUPPORT_TEMPLATES)


def shell_templates() -> set[str]:
    names = {
        folder.origin + str(p.relative_to(folder.root))
        for folder in FOLDERS
        for pattern in ("*.sh", "*.sh.j2")
        for p in folder.root.rglob(pattern)
    }
    return names - PARTIALS


def test_every_script_as_it_runs_passes_shellcheck(tmp_path, monkeypatch):
    sc = shellcheck()
    program = program_scripts()
    sources = {
        **program,
        **lab_scripts(tmp_path, monkeypatch),
        **sandbox_scripts(tmp_path),
        **support_scripts(tmp_path),
        **status_scripts(),
        **repository_scripts(),
    }
    covered = {m.group(1) for text in sources.values() for m in HEADER.finditer(text)}
    missing = shell_templates() - covered
    assert not missing, f"shell templates no check here renders: {sorted(missing)}"
    assert len(sources) > 150, len(sources)  # a harvest that finds little is a broken test
    # Each distinct script once: parameter values (shlex-quoted by render.params, one
    # home) become a placeholder, so the same command on several nodes or stacks is
    # checked once, its parameter names kept; two shellcheck processes side by side.
    folder = tmp_path / "scripts"
    folder.mkdir()
    first: dict[str, str] = {}
    for name, text in sorted(sources.items()):
        first.setdefault(PARAM.sub(r"\1=x", text) if name in program else text, name)
    paths = []
    for i, (text, name) in enumerate(first.items()):
        path = folder / f"{i:03d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"
        path.write_text(text)
        paths.append(str(path))
    halves = [paths[0::2], paths[1::2]]
    runs = [
        subprocess.Popen(
            [sc, "--shell=bash", "--format=gcc", *half], stdout=subprocess.PIPE, text=True
        )
        for half in halves
    ]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "".join(outputs)[-6000:]
