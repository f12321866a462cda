"""Issue 27 where the stack files are read: the program under Pulumi mocks builds a valid
stack beside siblings of every odd kind (one warning each, naming the file); the
operator commands (up/preview/destroy, status) name a broken own stack file or
Pulumi.yaml before Pulumi's CLI, which has no bounds of its own, is asked. Every test
here runs under a 10 s guard (tests/conftest.py ``within_seconds``)."""

from __future__ import annotations

import os

import pulumi
import pytest

from nginx_ha.ops import run as ops_run
from nginx_ha.ops import status as ops_status
from nginx_ha.view.progress import Reporter
from support import stacks
from support.mocks import run_program
from tests.odd_files import BAD, project_folder, reading_as

pytestmark = pytest.mark.usefixtures("within_seconds")

DOMAIN = "libvirt:index/domain:Domain"
FIFO_ERROR = "Pulumi.odd.yaml: is a FIFO (named pipe), not a regular file"


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


class Lines(Reporter):
    def __init__(self) -> None:
        super().__init__(live=False)
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


@pytest.mark.parametrize("broken", ["Pulumi.odd.yaml", "Pulumi.yaml"])
@pytest.mark.parametrize("command", ["preview", "up", "destroy"])
def test_the_pulumi_commands_name_a_broken_stack_file_before_pulumi_reads_it(
    tmp_path, monkeypatch, command, broken
):
    from pulumi import automation as auto

    def no_pulumi(*args, **kwargs):
        raise AssertionError("Pulumi was asked about a stack whose file is broken")

    monkeypatch.setattr(auto, "select_stack", no_pulumi)
    with project_folder(tmp_path) as root:
        (root / "Pulumi.odd.yaml").write_text("config: {}\n")
        (root / broken).unlink()
        os.mkfifo(root / broken)
        rep = Lines()
        assert ops_run.run(command, "org/nginx-ha/odd", root, reporter=rep) == 2
    assert rep.lines == [
        f"cannot use stack org/nginx-ha/odd: {broken}: is a FIFO (named pipe), not a "
        "regular file; only regular files are read"
    ]


def test_status_names_a_broken_stack_file_before_pulumi_reads_it(tmp_path, monkeypatch, capsys):
    applied: list[object] = []
    monkeypatch.setattr(ops_status.pulumi_env, "apply", applied.append)
    monkeypatch.setattr(ops_status, "read_stack", lambda *a: pytest.fail("Pulumi was asked"))
    with project_folder(tmp_path) as root:
        os.mkfifo(root / "Pulumi.odd.yaml")
        assert ops_status.main(["--stack", "odd", "--project-dir", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"status: {FIFO_ERROR}") and "Traceback" not in err
    assert applied == []
