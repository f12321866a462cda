"""keepalived's command line in the unit and the no-systemd start: no ``--vrrp``.

A keepalived built with --disable-lvs (the default here) has no ``--vrrp`` option, and
getopt_long reads it as an abbreviation of ``--vrrp_pid``, which swallows the next
argument: in the first real `pulumi up` the VRRP child died in a loop on "pidfile_write
: Cannot open --use-file=/etc/keepalived/keepalived.conf pidfile" and no node took the
VIP (docs/e2e.md)."""

from __future__ import annotations

import re

from nginx_ha.config import parse_settings
from nginx_ha.render import script
from nginx_ha.render.parts import keepalived_unit
from nginx_ha.topology import build_topology, vm_layout
from support import stacks


def unit_execstart(**overrides) -> str:
    topo = build_topology(parse_settings(stacks.raw_config("dev", **overrides)))
    unit = keepalived_unit(topo, topo.master, vm_layout(topo))
    (execstart,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    return execstart


def test_the_unit_passes_no_vrrp_option_and_the_config_file():
    for lvs in ({}, {"lvs": {"enabled": True}}):  # without and with IPVS
        execstart = unit_execstart(**lvs).split()
        assert "--vrrp" not in execstart
        assert execstart[0].startswith("/opt/nginx-ha/keepalived/")  # the build's own binary
        assert execstart[1:] == [
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--use-file=/etc/keepalived/keepalived.conf",
        ]


def test_the_direct_start_passes_no_vrrp_option():
    """Without systemd the activation starts keepalived itself: the same command line
    as the unit's, with nothing spliced in."""
    (start,) = re.findall(r'^\s*"\$KEEPALIVED_BIN" (.*)$', script("activate.sh"), re.M)
    assert "--vrrp" not in start.split()
    assert set(re.findall(r"\$\{?(\w+)", start)) == {"KEEPALIVED_CONF"}
    assert start == '--use-file="$KEEPALIVED_CONF"'
