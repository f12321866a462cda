"""The one reader of the project's stack files (``Pulumi.yaml``, ``Pulumi.<stack>.yaml``):
bounded, so that no file beside a stack, however odd, can hang or crash a run.

The program reads every sibling stack file for the collision check, and the offline
render, ``status``, the operator commands and the lab read their stack's own file: a
colleague's FIFO, link to a device, huge or deeply nested file must cost a warning (a
sibling) or a clear error (the stack's own file), never a hang or a traceback.

Every read is bounded:

- **kind**: only a regular file is opened. A link is followed only when its resolved
  target is a regular file inside the project folder (a link to ``/dev/zero`` or out of
  the checkout is refused unopened); the kind is checked with ``lstat``/``stat`` before
  opening (opening a device can have effects of its own) and again with ``fstat`` on
  the descriptor, opened ``O_NONBLOCK | O_NOFOLLOW``, so a FIFO swapped in meanwhile
  still cannot block;
- **size**: at most :data:`MAX_BYTES` (1 MiB). The committed stack files are 1-5 KiB
  and one with an inline certificate chain, an encrypted key and dozens of nodes a few
  tens of KiB: 1 MiB is about 200 times the largest here, read in milliseconds, and
  small enough that parsing it is bounded by the node bound below;
- **time**: the read runs in a helper thread given :data:`READ_SECONDS` (5 s); a read
  that hangs anyway (a stalled network file system) is abandoned with an error;
- **text**: strict UTF-8 (what the engine reads);
- **depth**: at most :data:`MAX_DEPTH` (32) collections inside each other (the
  committed files nest 4 deep). The YAML composer and the project's own walks of the
  values recurse per level: the bound keeps them far from Python's recursion limit,
  which is never raised;
- **values**: at most :data:`MAX_NODES` (10,000) values and :data:`MAX_BYTES` of
  scalar text, an alias counted as every value (and character) it stands for (the
  committed files hold 40-120 values): a "billion laughs" alias bomb stops within its
  first few hundred values, an alias repeating a long text within a few thousand, and
  a file whose sheer number of values would take seconds to parse stops too; an alias
  inside the value it names (a cycle) is refused. Within the bounds a parse takes
  under a second (the worst file we could write: about 0.6 s).

The depth and value bounds are checked on the parser's event stream as the composer
consumes it (:class:`BoundedParser`), and the depth of flow collections also by the
scanner as it meets them (:class:`BoundedScanner`), so a bad file is refused where it
breaks a bound, before the rest is scanned. Everything wrong is a
:class:`StackFileError` whose message starts with the file's name and says what to do.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    ScalarEvent,
)
from ruamel.yaml.parser import Parser
from ruamel.yaml.scanner import Scanner

MAX_BYTES = 1 << 20  # 1 MiB
READ_SECONDS = 5.0
MAX_DEPTH = 32
MAX_NODES = 10_000

_OPEN_FLAGS = (
    os.O_RDONLY
    | os.O_NONBLOCK
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class StackFileError(ValueError):
    """A stack file that cannot be read as one (its name and what is wrong)."""


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _too_large(name: str) -> StackFileError:
    return StackFileError(
        f"{name}: is larger than {MAX_BYTES // (1 << 20)} MiB, the bound for a stack file "
        "(they are a few KiB); not read"
    )


def _target(path: Path, root: Path) -> tuple[Path, os.stat_result, str]:
    """The file to open for ``path`` (itself, or the target of its link), its stat and
    how to describe it; StackFileError when it is not a regular file inside ``root``."""
    name = path.name
    st = os.lstat(path)
    what = ""
    target = path
    if stat.S_ISLNK(st.st_mode):
        try:
            target = Path(os.path.realpath(path, strict=True))
        except (OSError, RuntimeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise StackFileError(
                f"{name}: is a link to {os.readlink(path)}, which cannot be followed ({reason})"
            ) from None
        what = f"is a link to {target}, "
        base = Path(os.path.realpath(root))
        if not target.is_relative_to(base):
            raise StackFileError(
                f"{name}: {what}outside the project folder {base}; a stack file may be a "
                "link only to a regular file inside it"
            )
        st = os.stat(target)
    if not stat.S_ISREG(st.st_mode):
        if what:
            raise StackFileError(f"{name}: {what}{_kind(st.st_mode)}, not a regular file")
        raise StackFileError(
            f"{name}: is {_kind(st.st_mode)}, not a regular file; only regular files are read"
        )
    return target, st, what


def _read(path: Path, root: Path) -> bytes:
    """At most MAX_BYTES of a regular file, never blocking on a FIFO or a device."""
    target, st, _ = _target(path, root)
    if st.st_size > MAX_BYTES:
        raise _too_large(path.name)
    fd = os.open(target, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped since the stat above
            raise StackFileError(f"{path.name}: is no longer a regular file; not read")
        chunks: list[bytes] = []
        left = MAX_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_BYTES:
        raise _too_large(path.name)
    return data


def read_bytes(path: Path, root: Path | None = None) -> bytes:
    """The bytes of the stack file ``path`` (in the project folder ``root``, default its
    folder), within every bound above; StackFileError naming the file otherwise."""
    root = path.parent if root is None else root
    outcome: list[bytes | BaseException] = []

    def work() -> None:
        try:
            outcome.append(_read(path, root))
        except BaseException as e:  # handed to the caller's thread, raised there
            outcome.append(e)

    reader = threading.Thread(target=work, name=f"read {path.name}", daemon=True)
    reader.start()
    reader.join(READ_SECONDS)
    if not outcome:
        raise StackFileError(
            f"{path.name}: not read within {READ_SECONDS:g} s (a stalled network file "
            "system?); left unread"
        )
    result = outcome[0]
    if isinstance(result, StackFileError):
        raise result
    if isinstance(result, OSError):
        raise StackFileError(
            f"{path.name}: cannot be read ({result.strerror or result}); check that the "
            "file exists and is readable by this user"
        ) from None
    if isinstance(result, BaseException):
        raise result
    return result


def read_text(path: Path, root: Path | None = None) -> str:
    """The stack file's text: :func:`read_bytes`, then strict UTF-8."""
    data = read_bytes(path, root)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise StackFileError(
            f"{path.name}: is not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
            f"{e.start}); stack files are UTF-8"
        ) from None


class _Bound(Exception):
    """A bound the document broke (the message says which, and where)."""


class BoundedParser(Parser):
    """ruamel's parser, counting what the composer takes: the nesting depth, and the
    values and their text with each alias as what it stands for (an anchor's size is
    kept as its value closes). Stops at the first event past a bound."""

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        self.nodes = 0
        self.chars = 0  # scalar text, aliases expanded
        # collections open: (anchor, nodes and chars before it)
        self.open: list[tuple[str | None, int, int]] = []
        self.sizes: dict[str, tuple[int, int]] = {}  # anchor -> (values, chars) it stands for

    def _count(self, nodes: int, chars: int, event: Any) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > MAX_NODES:
            raise _Bound(
                f"holds more than {MAX_NODES} values{_at(event)} (an alias counts as every "
                "value it stands for), the bound for a stack file (they hold a few hundred)"
            )
        if self.chars > MAX_BYTES:
            raise _Bound(
                f"holds more than {MAX_BYTES // (1 << 20)} MiB of text once its aliases are "
                f"expanded{_at(event)}, the bound for a stack file (they are a few KiB)"
            )

    def get_event(self) -> Any:
        event = super().get_event()
        if isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _, _ in self.open):
                raise _Bound(
                    f"the alias *{event.anchor}{_at(event)} is inside the value it names (a cycle)"
                )
            self._count(*self.sizes.get(event.anchor, (1, 0)), event)
        elif isinstance(event, ScalarEvent):
            self._count(1, len(event.value), event)
            if event.anchor is not None:
                self.sizes[event.anchor] = (1, len(event.value))
        elif isinstance(event, CollectionStartEvent):
            self.open.append((event.anchor, self.nodes, self.chars))
            self._count(1, 0, event)
            if len(self.open) > MAX_DEPTH:
                raise _too_deep(_at(event))
        elif isinstance(event, CollectionEndEvent) and self.open:
            anchor, nodes, chars = self.open.pop()
            if anchor is not None:
                self.sizes[anchor] = (self.nodes - nodes, self.chars - chars)
        return event


def _at(event: Any) -> str:
    return _at_mark(getattr(event, "start_mark", None))


def _at_mark(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _too_deep(where: str) -> _Bound:
    return _Bound(
        f"nests deeper than {MAX_DEPTH} levels{where}, the bound for a stack file (they "
        "nest a few levels)"
    )


class BoundedScanner(Scanner):
    """ruamel's scanner, stopping at a flow collection (``[``, ``{``) opened inside
    MAX_DEPTH others. The parser's depth check would refuse it too, but later: at every
    open level the scanner looks up to 1,024 characters ahead for a possible key, work
    that grows with the square of the depth (100,000 ``[`` took a third of a second
    before the parser saw the 33rd)."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise _too_deep(_at_mark(self.reader.get_mark()))
        super().fetch_flow_collection_start(TokenClass, to_push)


def parse(text: str, name: str) -> Any:
    """YAML 1.2 (the engine's reading) into plain Python values, within the depth and
    value bounds; StackFileError starting with ``name`` otherwise."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner = BoundedScanner
    yaml.Parser = BoundedParser
    yaml.max_depth = MAX_DEPTH + 2  # ruamel's own bound, behind ours (it counts scalars)
    try:
        return yaml.load(text)
    except _Bound as e:
        raise StackFileError(f"{name}: {e}; not read") from None
    except (YAMLError, ValueError, TypeError, OverflowError) as e:
        # ValueError etc.: a scalar the constructor cannot make (an integer of more
        # digits than Python converts, a date that is not one).
        raise StackFileError(f"{name}: not readable as YAML ({e})") from None
