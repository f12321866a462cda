"""``python -m nginx_ha render --stack dev --out DIR [--project-dir DIR]``: every file
a node gets, rendered offline from its plan (render/plan.py) under
``DIR/<node name>/<absolute path on the node>``:

- the files the rollout installs (nginx.conf, keepalived.conf, the check, watcher and
  state scripts, the keepalived and watcher units, the secret file, the ROOT page);
- ``cloud-init/``: the NoCloud user-data, meta-data and network-config of the VM's
  cloud-init disk (the MAC match, the address, the host key);
- ``steps/``: what the program runs on the node rather than keeps there (wait-ready,
  the installs and the keepalived build, the firewall and Tomcat-port steps, the LVS
  real server, the activation with its manifest, the load balancers' handback), as
  the node receives them.

The stack file is read from the Pulumi project folder (default: the working directory,
as ``pulumi`` itself); an unknown stack is answered with the stacks that exist there.

Secrets are placeholders that pass validation (the files show where a secret goes,
never a secret: the VRRP secret file, ``tls.key``, the ticket keys; tls.selfSigned's
key, chain and CA are left out, since they would be derived from a placeholder seed),
unless ``--with-secrets`` asks for the real ones: then they come from
NGINX_HA_VRRP_AUTH_PASS, NGINX_HA_SSH_HOST_KEY_SEED, NGINX_HA_SSH_PRIVATE_KEY,
NGINX_HA_TLS_KEY and NGINX_HA_TLS_TICKET_KEYS (see nginx_ha/config/stackfiles.py), and
the output folder holds secrets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nginx_ha import render
from nginx_ha.config import SettingsError, parse_settings, stackfiles
from nginx_ha.render import files as modes
from nginx_ha.render.cloudinit import USER_DATA
from nginx_ha.topology import build_topology, vm_layout
from nginx_ha.topology.hostkeys import host_key


def write_stack_files(
    stack: str,
    out: Path,
    env: dict[str, str] | None = None,
    project_dir: str | Path | None = None,
    *,
    real_secrets: bool = False,
) -> list[Path]:
    """Render every node's files of ``stack`` (``Pulumi.<stack>.yaml`` in ``project_dir``,
    default the working directory) under ``out``; return the paths written. Secrets
    are placeholders unless ``real_secrets`` (then from ``env``)."""
    raw = stackfiles.raw_config_from_file(
        stack, project_dir or Path.cwd(), env, real_secrets=real_secrets
    )
    settings = parse_settings(raw, stack=stack)
    topo = build_topology(settings)
    layout = vm_layout(topo)
    seed = settings.ssh_host_key_seed
    secrets = {
        key: value.get_secret_value()
        for key, value in (
            ("vrrpAuthPass", settings.vrrp_auth_pass),
            ("tls.key", settings.tls.key if settings.tls else None),
            ("tlsTicketKeys", settings.tls_ticket_keys),
            # The files derived from the seed (tls.selfSigned's key, chain and CA) only
            # with the real seed: from the placeholder they would be a private key in
            # the output that no node has.
            ("sshHostKeySeed", seed if real_secrets else None),
        )
        if value is not None
    }
    written = []
    for name, plan in render.plans(topo, lambda _: layout).items():
        files = {path: (text, plan.mode(path)) for path, text in plan.rendered(secrets).items()}
        if seed is not None:
            key = host_key(seed.get_secret_value(), topo.project, topo.stack, name)
            for path, text in render.cloud_init_files(topo, plan.node, key).items():
                files[path] = (text, modes.USER_DATA_MODE if path == USER_DATA else modes.CONFIG)
        for path, (text, mode) in files.items():
            target = out / name / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(plan.on_disk(path, text))
            os.chmod(target, int(mode, 8))
            written.append(target)
    return written


def existing_stacks(project_dir: Path) -> list[str]:
    """The stacks with a stack file in ``project_dir``."""
    return sorted(
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in project_dir.glob("Pulumi.*.yaml")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nginx_ha render",
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
    parser.add_argument(
        "--with-secrets",
        action="store_true",
        help="render the real secrets from NGINX_HA_VRRP_AUTH_PASS, NGINX_HA_SSH_HOST_KEY_SEED, "
        "NGINX_HA_SSH_PRIVATE_KEY, NGINX_HA_TLS_KEY and NGINX_HA_TLS_TICKET_KEYS instead of "
        "placeholders (the output then holds secrets)",
    )
    args = parser.parse_args(argv)
    try:
        written = write_stack_files(
            args.stack, args.out, project_dir=args.project_dir, real_secrets=args.with_secrets
        )
    except FileNotFoundError as e:
        known = existing_stacks(args.project_dir or Path.cwd())
        print(
            f"no stack file for '{args.stack}': {e}; "
            + (f"stacks here: {', '.join(known)}" if known else "no stack file here at all"),
            file=sys.stderr,
        )
        return 2
    except stackfiles.StackFileError as e:
        print(f"stack file of '{args.stack}' is broken: {e}", file=sys.stderr)
        return 2
    except SettingsError as e:
        print(e, file=sys.stderr)
        return 1
    for path in written:
        print(path)
    if args.with_secrets:
        print(f"note: {args.out} holds the stack's secrets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
