"""The one way of rendering templates (:class:`Templates`: one Jinja2 environment per
template folder, all built alike, with per-context escaping) and the one loader of
template files (scripts and systemd units included).

The package's own folder (``nginx_ha/templates``, located from this package, so an
installed nginx-ha renders the same files as a checkout) is rendered through
:func:`render_template`, :func:`template_file` and :func:`script`. The lab and the
sandbox keep their scripts beside them (``lab/templates``, ``sandbox/templates``) and
render them through instances of their own."""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# ----------------------------------------------------------- escaping, per context
# The settings check every value against its grammar; these filters make a value that
# a rule missed harmless where it lands anyway. Every interpolated value passes
# ``_finalize``: one holding a control character (a newline would start a line of its
# own: a directive, a YAML key, a shell command) stops the render. Then each context
# has its filter:
#   keepalived.conf  ``kw`` (one bare word) and ``kq`` (inside "...")
#   nginx.conf       ``nw`` (one bare word)
#   shell            ``sh`` (shlex.quote)
#   YAML             ``tojson`` (a JSON string is a YAML scalar)
# ``kw``/``kq``/``nw`` refuse what they cannot write safely: neither keepalived nor
# nginx has an escape that would keep a brace, quote or ';' in a value inert everywhere.

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# One keepalived word: what addresses, names, paths and e-mail addresses use. No
# '#'/'!' (comments), quotes, braces or whitespace.
KEEPALIVED_WORD = re.compile(r"[A-Za-z0-9_.:/@%+=,-]+")
# Inside keepalived's double quotes: anything printable but the quote itself.
KEEPALIVED_QUOTED = re.compile(r"[^\"\x00-\x1f\x7f-\x9f]*")
# One nginx word: no whitespace, quotes, braces, ';', '$' (variables) or '#' ('*': a
# wildcard server name).
NGINX_WORD = re.compile(r"[A-Za-z0-9_.:/@%+=,~*\[\]-]+")


class UnsafeValue(ValueError):
    """A value that cannot be written safely in the context it would land in."""


def _finalize(value: object) -> object:
    if isinstance(value, str) and CONTROL.search(value):
        raise UnsafeValue(
            f"refusing to render {value!r}: a control character (a newline?) would add "
            "lines of its own to the file"
        )
    return value


def _word(pattern: re.Pattern[str], context: str):
    def check(value: object) -> str:
        text = str(value)
        if not pattern.fullmatch(text):
            raise UnsafeValue(f"refusing to render {text!r} as one {context} word")
        return text

    return check


def _keepalived_quoted(value: object) -> str:
    text = str(value)
    if not KEEPALIVED_QUOTED.fullmatch(text):
        raise UnsafeValue(f"refusing to render {text!r} inside keepalived's quotes")
    return text


def _environment(root: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - config files and shell, not HTML
        finalize=_finalize,
    )
    env.filters.update(
        kw=_word(KEEPALIVED_WORD, "keepalived.conf"),
        kq=_keepalived_quoted,
        nw=_word(NGINX_WORD, "nginx.conf"),
        sh=lambda value: shlex.quote(str(value)),
    )
    return env


class Templates:
    """One folder of templates, every one rendered the same way: strict undefined
    values, the control-character guard and the escaping filters above.

    ``origin`` is how a rendered file's generated-by header names the folder: a
    template gets ``template`` = ``origin + name`` (the package's own: ``""``, e.g.
    ``keepalived/keepalived.conf.j2``; the lab's: ``"lab/templates/"``)."""

    def __init__(self, root: Path, origin: str = ""):
        self.root = root
        self.origin = origin
        self._env = _environment(root)
        self._files: dict[str, str] = {}

    def render(self, name: str, **values: object) -> str:
        """Render one template; every file starts with a generated-by header."""
        return self._env.get_template(name).render(template=self.origin + name, **values)

    def file(self, name: str) -> str:
        """The text of a plain template file (a script or a unit used as it is), read
        once."""
        if name not in self._files:
            self._files[name] = (self.root / name).read_text()
        return self._files[name]


_package = Templates(TEMPLATES)


def render_template(name: str, **values: object) -> str:
    """Render one of the package's templates; every file starts with a generated-by
    header."""
    return _package.render(name, **values)


def template_file(name: str) -> str:
    """The text of a plain template file of the package (a script or a unit used as it
    is), e.g. ``scripts/firewall.sh``."""
    return _package.file(name)


def script(name: str) -> str:
    """The text of templates/scripts/<name>."""
    return template_file(f"scripts/{name}")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
