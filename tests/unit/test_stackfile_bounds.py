"""Issue 27: no file beside a stack, however odd, hangs or breaks it. Real files of each
kind (deep nesting, alias bombs, a FIFO, links to /dev/zero and out of the project, a
file over the size bound, one without read permission, invalid UTF-8): as a sibling,
one warning naming the file and why, the file left out and the rest compared; as the
stack's own file, a clear error naming it (the offline render: exit 2, no traceback).
Every test here runs under a 10 s guard (tests/conftest.py ``within_seconds``)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nginx_ha.config import parse_settings, stackfiles, stackread
from nginx_ha.config.collisions import stack_conflicts
from nginx_ha.ops import render as render_cli
from support import stacks
from tests.odd_files import BAD, NO_PERMISSION, project_folder, reading_as

pytestmark = pytest.mark.usefixtures("within_seconds")

ROOT = stacks.ROOT
ODD = "Pulumi.odd.yaml"


@pytest.fixture(scope="module")
def dev():
    return parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)


@pytest.fixture
def project(tmp_path, request) -> Iterator[Path]:
    """A project folder with Pulumi.yaml (for the permission case under root, one that
    user nobody can walk: the read then runs as nobody)."""
    case = request.node.callspec.params.get("case") if hasattr(request.node, "callspec") else None
    with project_folder(tmp_path, nobody_reads=case == NO_PERMISSION) as root:
        yield root


@pytest.mark.parametrize("case", BAD)
def test_an_odd_sibling_is_one_warning_naming_it_and_is_left_out(project, dev, case):
    make, reason = BAD[case]
    make(project / ODD)
    # A twin of dev beside it: the check goes on past the odd file and still compares.
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "Pulumi.twin.yaml")
    notes: list[str] = []
    with reading_as(case == NO_PERMISSION):
        problems = stack_conflicts(dev, project, notes)
    assert [(p.key, "stack 'twin'" in p.message) for p in problems] == [
        ("nginx-ha:network.cidr", True)
    ]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"{ODD}: ") and reason in notes[0], notes[0]
    assert notes[0].endswith("stack 'odd' is not compared for collisions")


@pytest.mark.parametrize("case", BAD)
def test_an_odd_own_stack_file_is_a_clear_error_naming_it(project, case, tmp_path, capsys):
    """The offline render reads the stack's own file (stackfiles.read_config) and says
    which file is broken and why: a StackFileError, exit 2."""
    make, reason = BAD[case]
    make(project / ODD)
    argv = ["--stack", "odd", "--out", str(tmp_path / "out"), "--project-dir", str(project)]
    with reading_as(case == NO_PERMISSION):
        assert render_cli.main(argv) == 2
    out = capsys.readouterr().err
    assert out.startswith(f"stack file of 'odd' is broken: {ODD}: ") and reason in out, out
    assert "Traceback" not in out and not (tmp_path / "out").exists()


def test_a_link_to_a_regular_file_inside_the_project_is_followed(project):
    (project / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "stacks" / "dev.yaml")
    os.symlink("stacks/dev.yaml", project / "Pulumi.dev.yaml")
    assert stackfiles.read_config("dev", project) == stackfiles.read_config("dev", ROOT)


def test_a_broken_project_file_is_one_warning_and_the_stacks_still_compared(project, dev):
    (project / "Pulumi.yaml").unlink()
    os.mkfifo(project / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "Pulumi.twin.yaml")
    notes: list[str] = []
    assert [p.key for p in stack_conflicts(dev, project, notes)] == ["nginx-ha:network.cidr"]
    assert notes == [
        "Pulumi.yaml: is a FIFO (named pipe), not a regular file; only regular files are "
        "read; its config defaults are not used in the collision check"
    ]


def test_the_committed_files_are_well_within_every_bound():
    for path in sorted(ROOT.glob("Pulumi*.yaml")):
        text = path.read_text()
        assert len(text.encode()) * 100 < stackread.MAX_BYTES, path.name
        stackfiles.load_stack_document(path)


def test_a_read_that_hangs_is_abandoned_in_seconds(project, monkeypatch):
    """A stalled network file system, stood in for by a read that never returns."""
    release = threading.Event()
    monkeypatch.setattr(stackread, "READ_SECONDS", 0.05)
    monkeypatch.setattr(stackread, "_read", lambda path, root: release.wait(30))
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "Pulumi.dev.yaml")
    try:
        with pytest.raises(stackfiles.StackFileError, match=r"not read within 0.05 s"):
            stackfiles.read_config("dev", project)
    finally:
        release.set()


@settings(max_examples=150, derandomize=True, database=None, deadline=None)
@given(st.text(alphabet="[]{}-:,&*!?|>'\"#%@ \n\tabc0192.~", max_size=60))
def test_any_text_is_values_or_a_stack_file_error(text):
    with contextlib.suppress(stackfiles.StackFileError):
        stackfiles.load_yaml(text, "Pulumi.x.yaml")


def test_the_lab_names_a_broken_own_stack_file(project, tmp_path, monkeypatch, capsys):
    from lab import __main__ as lab_main
    from lab.lab import Lab

    monkeypatch.setattr("lab.config.ROOT", project)
    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    monkeypatch.setattr("lab.lab.Lab", functools.partial(Lab, run_root=tmp_path / "run"))
    os.mkfifo(project / ODD)
    assert lab_main.main(["--stack", "odd", "--instance", "unit", "render"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lab: stack file of 'odd' is broken: {ODD}: is a FIFO (named pipe)")
    assert "Traceback" not in err
