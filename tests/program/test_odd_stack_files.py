"""Issue 27 where the stack files are read: the program under Pulumi mocks builds a valid
stack beside siblings of every odd kind (one warning each, naming the file). Every test
here runs under a 10 s guard (tests/conftest.py ``within_seconds``)."""

from __future__ import annotations

import pulumi
import pytest

from support import stacks
from support.mocks import run_program
from tests.odd_files import BAD, project_folder, reading_as

pytestmark = pytest.mark.usefixtures("within_seconds")

DOMAIN = "libvirt:index/domain:Domain"


def test_a_valid_stack_builds_beside_every_kind_of_odd_sibling(tmp_path, monkeypatch):
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warned.append(msg))
    with project_folder(tmp_path, nobody_reads=True) as root:
        odd = {f"Pulumi.odd{i}.yaml": case for i, case in enumerate(BAD)}
        for name, case in odd.items():
            BAD[case][0](root / name)
        monkeypatch.chdir(root)
        with reading_as(True):  # root reads a file of mode 000: the program runs as nobody
            run = run_program(stacks.raw_config("dev"), stack="dev")
    assert len(run.of_type(DOMAIN)) == len(run.exports["nodes"]) == 4  # dev: 2 + 2
    notes = {w.partition(": ")[0]: w for w in warned if w.startswith("Pulumi.")}
    assert sorted(notes) == sorted(odd), warned
    for name, case in odd.items():
        assert BAD[case][1] in notes[name], (case, notes[name])
        assert notes[name].endswith(f"stack '{name[7:-5]}' is not compared for collisions")
