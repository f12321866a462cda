"""Stack files of every odd kind (issue 27), made for real in a test's folder: deep
nesting, alias bombs, a FIFO, links to /dev/zero and out of the project, a file over
the size bound, one without read permission, invalid UTF-8... with what the bounded
reader (nginx_ha/config/stackread.py) says of each."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from nginx_ha.config import stackread
from support import stacks

ROOT = stacks.ROOT


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


@contextlib.contextmanager
def project_folder(tmp_path: Path, *, nobody_reads: bool = False) -> Iterator[Path]:
    """A project folder holding the repository's Pulumi.yaml. ``nobody_reads`` under
    root: one outside pytest's root-only tmp folders, which user nobody can walk, so
    that :func:`reading_as` can read in it as nobody (whom a file mode stops)."""
    if nobody_reads and os.geteuid() == 0:
        folder = Path(tempfile.mkdtemp(prefix="nginx-ha-perm-", dir="/tmp"))
        folder.chmod(0o755)
        root = folder / "project"
        root.mkdir(mode=0o755)
    else:
        folder, root = None, tmp_path / "project"
        root.mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "Pulumi.yaml").chmod(0o644)
    try:
        yield root
    finally:
        if folder is not None:
            shutil.rmtree(folder)


@contextlib.contextmanager
def reading_as(nobody: bool) -> Iterator[None]:
    """Run the block as this user or, when ``nobody`` and this is root (whom no file
    mode stops), as user nobody (``seteuid``: every thread, through glibc), then back."""
    if not nobody or os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
