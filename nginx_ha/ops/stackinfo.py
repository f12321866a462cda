"""A deployed stack as the operator commands see it: its outputs (what ``pulumi up``
made: nodes, VIPs) and its config with the secrets (the SSH user and key, the seed of
the nodes' host keys), read through Pulumi's Automation API."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nginx_ha.config import Settings, parse_settings


class StackError(RuntimeError):
    """The stack cannot be read (unknown, not deployed, wrong passphrase...)."""


@dataclass
class StackView:
    name: str
    outputs: dict[str, Any]
    config: dict[str, str]  # engine form: "nginx-ha:vip" -> text (structured: JSON)
    secret_keys: set[str] = field(default_factory=set)

    def settings(self) -> Settings:
        return parse_settings(self.config, stack=self.name, secret_keys=self.secret_keys)


def read_stack(stack: str, project_dir: Path) -> StackView:
    """The stack's outputs and config (secrets decrypted) from its backend."""
    from pulumi import automation as auto

    try:
        selected = auto.select_stack(stack_name=stack, work_dir=str(project_dir))
        outputs = {k: v.value for k, v in selected.outputs().items()}
        config = selected.get_all_config()
    except auto.CommandError as e:
        raise StackError(_first_error(str(e))) from None
    return StackView(
        stack,
        outputs,
        {k: v.value for k, v in config.items()},
        {k for k, v in config.items() if v.secret},
    )


def _first_error(text: str) -> str:
    """The CLI's first ``error:`` line out of a CommandError's text ("code: 6 / stdout:
    ... / stderr: error: no stack named 'x' found")."""
    lines = [ln.strip().removeprefix("stderr:").strip() for ln in text.splitlines()]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    return (errors or [ln for ln in lines if ln] or ["pulumi failed"])[0]
