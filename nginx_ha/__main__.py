"""``python -m nginx_ha COMMAND ...``: the operator's commands.

| command | what | module |
|---|---|---|
| ``render`` | every file each node gets, offline (no Pulumi, no network) | ``nginx_ha.ops.render`` |
| ``status`` | the live view of a deployed stack, over SSH with pinned host keys | ``nginx_ha.ops.status`` |
| ``up``, ``preview``, ``destroy`` | Pulumi operations with phase lines and a live count | ``nginx_ha.ops.run`` |

``python -m nginx_ha COMMAND --help`` for each one's options.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

USAGE = __doc__ or ""


def _render(argv: list[str]) -> int:
    from nginx_ha.ops.render import main

    return main(argv)


def _status(argv: list[str]) -> int:
    from nginx_ha.ops.status import main

    return main(argv)


def _run(command: str) -> Callable[[list[str]], int]:
    def go(argv: list[str]) -> int:
        from nginx_ha.ops.run import main

        return main([command, *argv])

    return go


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "render": _render,
    "status": _status,
    "up": _run("up"),
    "preview": _run("preview"),
    "destroy": _run("destroy"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE.strip())
        return 0 if args else 2
    command = COMMANDS.get(args[0])
    if command is None:
        print(f"unknown command {args[0]!r}: one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return command(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
