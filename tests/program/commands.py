"""Reading the commands the program registers: the NAME='value' parameters at their
top (script_command), a staged script's own parameters, a node's manifest."""

from __future__ import annotations

import shlex

import pulumi


def script_body(command: str) -> str:
    """The script of ``sudo bash -c '<script>'``."""
    return shlex.split(command)[-1]


def params_of(command: str) -> dict[str, str]:
    """The NAME='value' lines script_command sets at the top of a command."""
    lines = [ln for ln in script_body(command).splitlines() if not ln.startswith("#")]
    assert lines[0] == "set -euo pipefail"  # the preamble (templates/scripts/preamble.sh)
    return header_params("\n".join(lines[1:]))


def header_params(text: str) -> dict[str, str]:
    """The NAME='value' lines at the top of a script (a staged one: after its comment
    lines); a quoted value may span lines (the activation's manifest)."""
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    out: dict[str, str] = {}
    pending = ""
    for line in lines:
        pending = f"{pending}\n{line}" if pending else line
        name, eq, value = pending.partition("=")
        if not (eq and name.isidentifier() and name.isupper()):
            break  # the script body starts
        try:
            words = shlex.split(value) if value else [""]
        except ValueError:
            continue  # a quoted value goes on on the next line
        out[name] = words[0]
        pending = ""
    return out


def uploaded(run, name: str) -> str:
    """The text a CopyToRemote step uploads."""
    source = run.named(name).inputs["source"]
    assert isinstance(source, pulumi.StringAsset)
    return source.text


def manifest(run, node: str) -> list[tuple[str, str, str, str, str, str]]:
    """The node's activation manifest: (kind, target, staged, mode, action, owner) per
    item."""
    text = params_of(run.named(f"{node}-activate").inputs["create"])["MANIFEST"]
    return [tuple(line.split("\t")) for line in text.splitlines()]  # type: ignore[misc]
