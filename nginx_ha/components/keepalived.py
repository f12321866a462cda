"""KeepalivedNode: keepalived on a load balancer, one remote step per concern.

wait-ready → build (verified source, idempotent) → VRRP firewall → secret file →
check script, watcher script and its service → keepalived.conf (staged, ``keepalived -t``, swapped, reloaded) →
service enabled and running. Each step re-runs only when what it installs changes: a
changed keepalived setting re-renders keepalived.conf and re-runs only the
``-keepalived-conf`` steps. The VRRP secret travels on stdin into a root-only file;
keepalived.conf references that file and never holds the secret.
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from nginx_ha import render
from nginx_ha.components.remote import (
    STAGING_DIR,
    NodeStepArgs,
    ValidatedFile,
    script_command,
    secret_file,
)
from nginx_ha.config.models import Keepalived
from nginx_ha.render import script
from nginx_ha.topology import Layout, Node, Topology

INSTALL_SCRIPT = "install_keepalived.sh"
FIREWALL_SCRIPT = "firewall.sh"
UNIT_PATH = "/etc/systemd/system/keepalived.service"
# VRRP only unless nginx-ha:lvs is on: keepalived is built without IPVS then.
CONFIGURE_OPTIONS = "--disable-lvs"
# With nginx-ha:lvs (issue 8): IPVS support, and the checker process that runs the
# virtual servers' health checks besides the VRRP one.
CONFIGURE_OPTIONS_LVS = "--enable-lvs"
LVS_SCRIPT = "lvs_realserver.sh"
LVS_SYSCTL_FILE = "/etc/sysctl.d/90-nginx-ha-lvs.conf"
LVS_NFT_FILE = "/etc/nginx-ha/lvs.nft"
LVS_UNIT_PATH = "/etc/systemd/system/nginx-ha-lvs.service"
# The fast health path (docs/keepalived.md): nginx_watch.sh, kept running by systemd.
WATCH_UNIT = "nginx-ha-watch.service"
WATCH_UNIT_PATH = f"/etc/systemd/system/{WATCH_UNIT}"


@dataclass
class KeepalivedNodeArgs(NodeStepArgs):
    # The stack's VRRP secret as a secret Output (None: adverts unauthenticated).
    auth_secret: pulumi.Output[str] | None = None


def build_params(
    source: Keepalived, ipvs: bool, layout: Layout, uploaded: str | None
) -> dict[str, str]:
    """The install script's parameters (set at the top of its command): build
    ``source`` with or without IPVS into the prefix of ``layout.keepalived_bin``."""
    prefix = posixpath.dirname(posixpath.dirname(layout.keepalived_bin))
    params = {
        "KEEPALIVED_VERSION": source.version,
        "PREFIX": prefix,
        "CONFIGURE_OPTIONS": configure_options(ipvs),
        "KEEPALIVED_CONF": layout.keepalived_conf,
        "UNIT_PATH": UNIT_PATH,
    }
    if source.git:
        params |= {"SOURCE_KIND": "git", "SOURCE": source.git, "GIT_COMMIT": source.commit or ""}
    elif source.url:
        params |= {"SOURCE_KIND": "url", "SOURCE": source.url, "SHA256": source.sha256 or ""}
    else:
        assert uploaded is not None, "a path source is uploaded first"
        params |= {"SOURCE_KIND": "file", "SOURCE": uploaded, "SHA256": source.sha256 or ""}
    return params


def configure_options(ipvs: bool) -> str:
    """./configure options: IPVS only where the node's keepalived needs it (a changed
    choice changes the build's stamp, so the step rebuilds)."""
    return CONFIGURE_OPTIONS_LVS if ipvs else CONFIGURE_OPTIONS


def lvs_params(topo: Topology, node: Node, action: str) -> dict[str, str]:
    """lvs_realserver.sh's parameters (docs/active-active-lvs.md)."""
    return {
        "ACTION": action,
        "LVS_VIPS": " ".join(str(i.vip) for i in topo.instances),
        "LVS_MARKS": " ".join(str(render.lvs_fwmark(i.vrid)) for i in topo.instances),
        "LVS_PORT": str(topo.lvs.port if topo.lvs else topo.nginx.port),
        "LVS_PEER_MACS": " ".join(lb.mac for lb in topo.load_balancers if lb.name != node.name),
        "SYSCTL_FILE": LVS_SYSCTL_FILE,
        "NFT_FILE": LVS_NFT_FILE,
        "UNIT_PATH": LVS_UNIT_PATH,
    }


def uploaded_tarball_path(source: Keepalived) -> str:
    return posixpath.join(STAGING_DIR, f"keepalived-{source.version}-{source.sha256}.tar.gz")


def firewall_params(topo: Topology, node: Node) -> dict[str, str]:
    """VRRP (IP protocol 112) from the other load balancers: unicast adverts come from
    their addresses, and so do multicast ones (to 224.0.0.18), so one rule serves both."""
    peers = topo.peers[node.name].unicast_peers
    return {
        "FW_NAME": "vrrp",
        "FW_PROTO": "vrrp",
        "FW_PORT": "",
        "FW_SOURCES": " ".join(str(p) for p in peers),
    }


def keepalived_validate(layout: Layout) -> str:
    """Validate the staged copy (``$STAGED``) with the keepalived that will read it."""
    return f'{shlex.quote(layout.keepalived_bin)} -t -f "$STAGED"'


def keepalived_reload(layout: Layout) -> str:
    """After the swap: reload a running keepalived (SIGHUP); the service step starts it."""
    return (
        "if [ -d /run/systemd/system ]; then "
        "if systemctl is-active --quiet keepalived.service; then "
        "systemctl reload keepalived.service; fi; "
        "else pid=$(cat /run/keepalived.pid 2>/dev/null || true); "
        'if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -HUP "$pid"; fi; fi'
    )


def watch_unit(layout: Layout) -> str:
    """nginx-ha-watch.service: the watcher, restarted whenever it stops (a dead
    watcher leaves its last verdict in the file; the check script still fails over),
    started before keepalived, with the health file's folder made first (keepalived
    watches that folder from its start)."""
    health_dir = posixpath.dirname(layout.health_file)
    return (
        "# Generated by nginx-ha: the fast health path (docs/keepalived.md).\n"
        "[Unit]\n"
        "Description=nginx-ha: nginx health watcher for keepalived (track_file)\n"
        "After=network.target\n"
        "Before=keepalived.service\n"
        "\n"
        "[Service]\n"
        f"ExecStartPre=/bin/mkdir -p {health_dir}\n"
        f"ExecStart=/bin/bash {layout.watch_script}\n"
        "Restart=always\n"
        "RestartSec=1\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def watch_params(layout: Layout) -> dict[str, str]:
    return {
        "WATCH_SCRIPT": layout.watch_script,
        "HEALTH_FILE": layout.health_file,
        "UNIT_NAME": WATCH_UNIT,
        "UNIT_PATH": WATCH_UNIT_PATH,
        "UNIT_TEXT": watch_unit(layout),
        # Without systemd as PID 1 only: the watcher started directly.
        "PID_FILE": posixpath.join(posixpath.dirname(layout.health_file), "nginx-watch.pid"),
    }


# Parameters: WATCH_SCRIPT HEALTH_FILE UNIT_NAME UNIT_PATH UNIT_TEXT PID_FILE. Installs
# and (re)starts the watcher: a changed script or unit takes effect at once.
WATCH_SERVICE_SCRIPT = r"""
mkdir -p "$(dirname "$HEALTH_FILE")"
if [ -d /run/systemd/system ]; then
  if ! printf '%s' "$UNIT_TEXT" | cmp -s - "$UNIT_PATH"; then
    printf '%s' "$UNIT_TEXT" >"$UNIT_PATH.tmp"
    mv -f "$UNIT_PATH.tmp" "$UNIT_PATH"
    systemctl daemon-reload
  fi
  systemctl enable --quiet "$UNIT_NAME"
  systemctl restart "$UNIT_NAME"
  sleep 1
  if ! systemctl is-active --quiet "$UNIT_NAME"; then
    journalctl -u "$UNIT_NAME" -n 30 --no-pager >&2 || true
    echo "nginx-ha: $UNIT_NAME is not running" >&2
    exit 1
  fi
else
  echo "nginx-ha: systemd is not running here; starting the watcher directly"
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  if [ -n "$pid" ] && grep -qF "$WATCH_SCRIPT" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
  fi
  setsid nohup /bin/bash "$WATCH_SCRIPT" </dev/null >/dev/null 2>&1 &
  echo "$!" >"$PID_FILE"
  sleep 1
  if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    echo "nginx-ha: the watcher $WATCH_SCRIPT exited at once" >&2
    exit 1
  fi
fi
echo "watcher running: $WATCH_SCRIPT -> $HEALTH_FILE"
"""


# Parameters: KEEPALIVED_BIN KEEPALIVED_CONF. Enables and starts keepalived; a running
# one is reloaded, or restarted when its binary was replaced by a new build.
SERVICE_SCRIPT = r"""
if [ -d /run/systemd/system ]; then
  systemctl enable --quiet keepalived.service
  pid=$(systemctl show -p MainPID --value keepalived.service)
  if [ "${pid:-0}" = 0 ]; then
    systemctl start keepalived.service
  elif [ "$(readlink "/proc/$pid/exe")" != "$KEEPALIVED_BIN" ]; then
    systemctl restart keepalived.service  # a new build replaced the binary
  elif [ -e /run/nginx-ha/keepalived-unit-changed ]; then
    systemctl restart keepalived.service  # a new unit: a reload keeps the old command line
  else
    systemctl reload keepalived.service
  fi
  sleep 1
  if ! systemctl is-active --quiet keepalived.service; then
    journalctl -u keepalived.service -n 30 --no-pager >&2 || true
    echo "nginx-ha: keepalived is not running" >&2
    exit 1
  fi
  rm -f /run/nginx-ha/keepalived-unit-changed
else
  echo "nginx-ha: systemd is not running here; starting keepalived directly"
  pid=$(cat /run/keepalived.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -HUP "$pid"
  else
    # No --vrrp: a --disable-lvs build has no such option, and getopt reads it as an
    # abbreviation of --vrrp_pid, which swallows the next argument (docs/e2e.md).
    "$KEEPALIVED_BIN" --use-file="$KEEPALIVED_CONF"
  fi
fi
echo "keepalived running: $("$KEEPALIVED_BIN" --version 2>&1 | head -n 1)"
"""


class KeepalivedNode(pulumi.ComponentResource):
    TYPE = "nginx-ha:index:KeepalivedNode"

    def __init__(
        self, name: str, args: KeepalivedNodeArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(self.TYPE, name, None, opts)
        topo, node, layout = args.topo, args.node, args.layout
        source = topo.keepalived.source

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[args.ready, *deps])

        # -- build: from a URL, a git tag, or a tarball uploaded from the operator's machine
        build_deps: list[pulumi.Resource] = []
        uploaded = None
        if source.path:
            uploaded = uploaded_tarball_path(source)
            build_deps.append(
                remote.CopyToRemote(
                    f"{name}-keepalived-tarball",
                    connection=args.conn,
                    source=pulumi.FileAsset(source.path),
                    remote_path=uploaded,
                    triggers=[source.sha256],
                    opts=after(),
                )
            )
        install = script(INSTALL_SCRIPT)
        build_command = script_command(
            install, build_params(source, topo.keepalived.ipvs, layout, uploaded)
        )
        self.build_digest = render.sha256(build_command)
        self.build = remote.Command(
            f"{name}-keepalived-build",
            connection=args.conn,
            create=build_command,
            triggers=[self.build_digest],
            # A cold build on a small VM: dependencies, configure and make.
            opts=pulumi.ResourceOptions.merge(
                after(*build_deps),
                pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="30m")),
            ),
        )

        # -- firewall: VRRP from the peers
        firewall_command = script_command(script(FIREWALL_SCRIPT), firewall_params(topo, node))
        self.firewall = remote.Command(
            f"{name}-vrrp-firewall",
            connection=args.conn,
            create=firewall_command,
            triggers=[render.sha256(firewall_command)],
            opts=after(),
        )

        # -- the VRRP secret, in the root-only file keepalived.conf references
        conf_deps: list[pulumi.Resource] = [self.build]
        service_triggers: list[pulumi.Input[str]] = [self.build_digest]
        self.auth: remote.Command | None = None
        auth_path = render.vrrp_auth_path(topo, layout)
        if auth_path is not None:
            if args.auth_secret is None:
                raise ValueError(f"{name}: VRRP authentication is on but no secret was given")
            text = pulumi.Output.secret(
                args.auth_secret.apply(lambda secret: render.vrrp_auth_file_text(topo, secret))
            )
            self.auth = secret_file(
                f"{name}-keepalived-auth",
                conn=args.conn,
                secret=text,
                target=auth_path,
                opts=pulumi.ResourceOptions(parent=self),
                depends_on=[args.ready],
            )
            conf_deps.append(self.auth)
            # A new secret needs a reload even when keepalived.conf is unchanged.
            service_triggers.append(text.apply(render.sha256))  # secret, like its source

        # -- scripts keepalived runs (root-owned, 0755, syntax-checked before the swap)
        def script_file(role: str, text: str, target: str) -> ValidatedFile:
            return ValidatedFile(
                f"{name}-{role}",
                conn=args.conn,
                text=text,
                target=target,
                validate='bash -n "$STAGED"',
                reload="true",
                mode=render.file_mode(layout, target),
                depends_on=[args.ready],
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.check_script = script_file(
            "check-script", render.check_nginx_script(topo, node, layout), layout.check_script
        )
        conf_deps.append(self.check_script)
        # -- the fast path: the watcher script, then its service (before keepalived,
        # which watches the health file's folder from its start)
        self.watch_script = script_file(
            "watch-script", render.nginx_watch_script(topo, node, layout), layout.watch_script
        )
        watch_command = script_command(WATCH_SERVICE_SCRIPT, watch_params(layout))
        self.watch_service = remote.Command(
            f"{name}-watch-service",
            connection=args.conn,
            create=watch_command,
            triggers=[self.watch_script.digest, render.sha256(watch_command)],
            opts=after(self.watch_script),
        )
        # A reload of a running keepalived (the conf step) drops a track file whose
        # folder is missing: the watcher's service makes it first.
        conf_deps.append(self.watch_service)
        self.notify_script: ValidatedFile | None = None
        if topo.notify.script:
            self.notify_script = script_file(
                "notify-script", render.notify_script(topo, node, layout), layout.notify_script
            )
            conf_deps.append(self.notify_script)

        # -- keepalived.conf: staged, validated by the built keepalived, swapped, reloaded
        self.conf = ValidatedFile(
            f"{name}-keepalived-conf",
            conn=args.conn,
            text=render.keepalived_conf(topo, node, layout),
            target=layout.keepalived_conf,
            validate=keepalived_validate(layout),
            reload=keepalived_reload(layout),
            depends_on=[args.ready, *conf_deps],
            opts=pulumi.ResourceOptions(parent=self),
        )

        # -- LVS real server (nginx-ha:lvs): VIPs on lo, arp sysctls, the fwmark rule.
        # Its delete command removes all of it, so turning LVS off (the resource goes
        # away) cleans the node; delete_before_replace: a changed setup is removed
        # before the new one is applied, never after it.
        self.lvs: remote.Command | None = None
        lvs_deps: list[pulumi.Resource] = []
        if topo.lvs is not None:
            lvs_script = script(LVS_SCRIPT)
            lvs_up = script_command(lvs_script, lvs_params(topo, node, "up"))
            self.lvs = remote.Command(
                f"{name}-lvs-realserver",
                connection=args.conn,
                create=lvs_up,
                delete=script_command(lvs_script, lvs_params(topo, node, "down")),
                triggers=[render.sha256(lvs_up)],
                opts=pulumi.ResourceOptions.merge(
                    after(), pulumi.ResourceOptions(delete_before_replace=True)
                ),
            )
            lvs_deps.append(self.lvs)

        # -- service: enabled and running (independent of nginx: the check fails until
        # nginx answers, which keeps this node out of MASTER, as it should)
        self.service = remote.Command(
            f"{name}-keepalived-service",
            connection=args.conn,
            create=script_command(
                SERVICE_SCRIPT,
                {
                    "KEEPALIVED_BIN": layout.keepalived_bin,
                    "KEEPALIVED_CONF": layout.keepalived_conf,
                },
            ),
            triggers=service_triggers,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[args.ready, self.conf, self.firewall, self.watch_service, *lvs_deps],
            ),
        )
        self.conf_digest = self.conf.digest
        self.register_outputs({"confDigest": self.conf_digest, "buildDigest": self.build_digest})
