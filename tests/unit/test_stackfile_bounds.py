"""Issue 27: no file beside a stack, however odd, hangs or breaks it. Real files of each
kind (deep nesting, alias bombs, a FIFO, links to /dev/zero and out of the project, a
file over the size bound, one without read permission, invalid UTF-8): as a sibling,
one warning naming the file and why, the file left out and the rest compared; as the
stack's own file, a clear error naming it (the offline render: exit 2, no traceback).
Every test here runs under a 10 s guard (tests/conftest.py ``within_seconds``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nginx_ha.config import parse_settings, stackfiles, stackread
from nginx_ha.config.collisions import stack_conflicts
from nginx_ha.ops import render as render_cli
from support import stacks

pytestmark = pytest.mark.usefixtures("within_seconds")

ROOT = stacks.ROOT
ODD = "Pulumi.odd.yaml"


def bomb() -> str:
    """Billion laughs: nine levels of nine aliases, 9^9 values once expanded."""
    text, prev = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n', "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


def write(content: str | bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return make


def fifo(path: Path) -> None:
    os.mkfifo(path)


def link_to(target: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        os.symlink(target, path)

    return make


def link_to_fifo_inside(path: Path) -> None:
    os.mkfifo(path.parent / "pipe")
    os.symlink("pipe", path)


def link_out_of_the_project(path: Path) -> None:
    outside = path.parent.parent / "elsewhere"
    outside.mkdir(exist_ok=True)
    shutil.copy(ROOT / "Pulumi.dev.yaml", outside / "Pulumi.dev.yaml")  # a valid file
    os.symlink(outside / "Pulumi.dev.yaml", path)


def over_the_size_bound(path: Path) -> None:
    with path.open("wb") as f:  # sparse: no MiB written to the disk
        f.truncate(stackread.MAX_BYTES + 1)


def without_read_permission(path: Path) -> None:
    path.write_text((ROOT / "Pulumi.dev.yaml").read_text())
    path.chmod(0)


def a_directory(path: Path) -> None:
    path.mkdir()


# case -> (how the file is made, what the warning or error says of it)
BAD: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep nesting (100000 [)": (write("[" * 100_000), "nests deeper than 32 levels"),
    "deep nesting (block)": (
        write("".join("  " * i + "a:\n" for i in range(200))),
        "nests deeper than 32 levels",
    ),
    "an alias bomb": (write(bomb()), "holds more than 10000 values"),
    "an alias repeating a long text": (
        write("- &a " + "x" * 100_000 + "\n" + "- *a\n" * 20),
        "holds more than 1 MiB of text once its aliases are expanded",
    ),
    "an alias cycle": (write("config: &c {nginx-ha:x: *c}\n"), "(a cycle)"),
    "a FIFO": (fifo, "is a FIFO (named pipe), not a regular file"),
    "a link to /dev/zero": (
        link_to("/dev/zero"),
        "is a link to /dev/zero, outside the project folder",
    ),
    "a link out of the project": (link_out_of_the_project, "outside the project folder"),
    "a link to a FIFO inside": (link_to_fifo_inside, "a FIFO (named pipe), not a regular file"),
    "a dangling link": (link_to("nowhere.yaml"), "is a link to nowhere.yaml, which cannot be"),
    "a directory": (a_directory, "is a directory, not a regular file"),
    "over the size bound": (over_the_size_bound, "is larger than 1 MiB"),
    "no read permission": (without_read_permission, "cannot be read (Permission denied)"),
    "invalid UTF-8": (
        write(b"config:\n  a: \xff\xfe\n"),
        "is not UTF-8 text (byte 0xff at offset 13)",
    ),
    "an integer Python will not convert": (
        write("config:\n  nginx-ha:x: " + "9" * 5000 + "\n"),
        "not readable as YAML (Exceeds the limit (4300 digits)",
    ),
}
NO_PERMISSION = "no read permission"


@pytest.fixture(scope="module")
def dev():
    return parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)


@pytest.fixture
def project(tmp_path, request) -> Iterator[Path]:
    """A project folder with Pulumi.yaml. For the permission case under root (whom no
    file mode stops), one that user nobody can walk: the read then runs as nobody."""
    case = request.node.callspec.params.get("case") if hasattr(request.node, "callspec") else None
    if case == NO_PERMISSION and os.geteuid() == 0:
        folder = Path(tempfile.mkdtemp(prefix="nginx-ha-perm-", dir="/tmp"))
        folder.chmod(0o755)
        (folder / "project").mkdir(mode=0o755)
        root = folder / "project"
    else:
        folder, root = None, tmp_path / "project"
        root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.yaml").chmod(0o644)
    yield root
    if folder is not None:
        shutil.rmtree(folder)


@contextlib.contextmanager
def reading_as(case: str) -> Iterator[None]:
    """As this user; for the permission case under root, as nobody (seteuid, every
    thread: glibc), back to root after."""
    if case != NO_PERMISSION or os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.parametrize("case", BAD)
def test_an_odd_sibling_is_one_warning_naming_it_and_is_left_out(project, dev, case):
    make, reason = BAD[case]
    make(project / ODD)
    # A twin of dev beside it: the check goes on past the odd file and still compares.
    shutil.copy(ROOT / "Pulumi.dev.yaml", project / "Pulumi.twin.yaml")
    notes: list[str] = []
    with reading_as(case):
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
    with reading_as(case):
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
