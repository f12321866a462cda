"""``python -m nginx_ha.render --stack dev --out DIR [--project-dir DIR]``: every file
the program would install, rendered offline under ``DIR/<node name>/<absolute path on
the node>``. The stack file is read from the Pulumi project folder (default: the
working directory, as ``pulumi`` itself).

Secrets come from NGINX_HA_SSH_PRIVATE_KEY and NGINX_HA_VRRP_AUTH_PASS, else from
placeholders that pass validation (see nginx_ha/config/stackfiles.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nginx_ha import render
from nginx_ha.config import SettingsError, parse_settings, stackfiles
from nginx_ha.topology import build_topology, vm_layout


def write_stack_files(
    stack: str,
    out: Path,
    env: dict[str, str] | None = None,
    project_dir: str | Path | None = None,
) -> list[Path]:
    """Render every node's files of ``stack`` (``Pulumi.<stack>.yaml`` in ``project_dir``,
    default the working directory) under ``out``; return the paths written."""
    raw = stackfiles.raw_config_from_file(stack, project_dir or Path.cwd(), env)
    settings = parse_settings(raw, stack=stack)
    topo = build_topology(settings)
    layout = vm_layout(settings)
    secrets = {}
    if settings.vrrp_auth_pass is not None:
        secrets["vrrpAuthPass"] = settings.vrrp_auth_pass.get_secret_value()
    written = []
    for node in topo.nodes:
        for path, text in render.node_files(topo, node, layout, secrets).items():
            target = out / node.name / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            os.chmod(target, int(render.file_mode(layout, path), 8))
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nginx_ha.render",
        description="Render every file the program installs, per node, without Pulumi.",
    )
    parser.add_argument("--stack", default="dev", help="stack name (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=None,
        help="the Pulumi project folder holding the stack files (default: the working directory)",
    )
    args = parser.parse_args(argv)
    try:
        written = write_stack_files(args.stack, args.out, project_dir=args.project_dir)
    except FileNotFoundError as e:
        print(f"no stack file for '{args.stack}': {e}", file=sys.stderr)
        return 2
    except SettingsError as e:
        print(e, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
