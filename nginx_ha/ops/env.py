"""The environment of every Pulumi call the operator commands make: the same defaults
as ``scripts/bootstrap.sh`` (a local file backend ``.pulumi-state/`` and the passphrase
file ``.pulumi-passphrase`` of the project, where they exist and nothing else is set),
and the air-gapped toolchain's ``.toolchain/bin`` on PATH where it was built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def pulumi_env(project_dir: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the project's defaults."""
    env = dict(os.environ if base is None else base)
    state = project_dir / ".pulumi-state"
    if not env.get("PULUMI_BACKEND_URL") and state.is_dir():
        env["PULUMI_BACKEND_URL"] = f"file://{state}"
    passphrase = project_dir / ".pulumi-passphrase"
    if (
        not env.get("PULUMI_CONFIG_PASSPHRASE")
        and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        and passphrase.is_file()
    ):
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)
    toolchain = project_dir / ".toolchain" / "bin"
    if (toolchain / "pulumi").exists():
        env["PATH"] = f"{toolchain}:{env.get('PATH', '/usr/bin:/bin')}"
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    return env


def apply(env: Mapping[str, str]) -> None:
    """Make ``env`` this process's environment (the Automation API runs the CLI with
    the process environment)."""
    os.environ.update(env)
