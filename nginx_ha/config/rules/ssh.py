"""SSH rules: the secret the nodes' host keys derive from."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from nginx_ha.config.errors import Problem
from nginx_ha.config.rules.base import config_key, rule


@rule("ssh_host_key_seed")
def _host_key_seed_rule(s: dict[str, Any]) -> Iterable[Problem]:
    seed: SecretStr | None = s["ssh_host_key_seed"]
    if seed is None:
        return
    value = seed.get_secret_value()
    if not re.fullmatch(r"[!-~]{32,512}", value):
        yield Problem(
            config_key("sshHostKeySeed"),
            "must be 32 to 512 printable characters without spaces (every node's SSH "
            "host key is derived from it): `openssl rand -hex 32 | pulumi config set "
            "--secret sshHostKeySeed`",
        )
