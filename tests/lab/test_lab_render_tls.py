"""`python -m lab render --out DIR` of the https profile (pure: no root, writes only
DIR): a session ticket key is written as the 80 bytes nginx reads, the TLS key
root-only, as the lab's own `up` writes them (lab/files.py: ``plan.on_disk``)."""

from __future__ import annotations

import functools
import stat

import pytest

from lab import __main__ as lab_main
from lab.lab import Lab

pytestmark = pytest.mark.pure  # runs by default (tests/conftest.py)


def test_the_https_profile_renders_ticket_keys_as_bytes_and_the_key_root_only(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    monkeypatch.setattr("lab.lab.Lab", functools.partial(Lab, run_root=tmp_path / "run"))
    out = tmp_path / "out"
    argv = ["--stack", "dev", "--profile", "https", "--instance", "unit", "render"]
    assert lab_main.main([*argv, "--out", str(out)]) == 0
    tickets = sorted(out.rglob("ticket-*.key"))
    keys = sorted(out.rglob("server.key"))
    assert tickets and keys
    for ticket in tickets:
        assert len(ticket.read_bytes()) == 80, ticket
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
