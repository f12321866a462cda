"""keepalived's command line in the unit and the no-systemd start: no ``--vrrp``.

A keepalived built with --disable-lvs (the default here) has no ``--vrrp`` option, and
getopt_long reads it as an abbreviation of ``--vrrp_pid``, which swallows the next
argument: in the first real `pulumi up` the VRRP child died in a loop on "pidfile_write
: Cannot open --use-file=/etc/keepalived/keepalived.conf pidfile" and no node took the
VIP (docs/e2e.md)."""

from __future__ import annotations

import re
from pathlib import Path

from nginx_ha.components import keepalived

SCRIPT = (
    Path(__file__).resolve().parents[2]
    / "nginx_ha"
    / "templates"
    / "scripts"
    / "install_keepalived.sh"
)


def test_the_unit_passes_no_vrrp_option_and_the_config_file():
    (execstart,) = re.findall(r"^ExecStart=(.*)$", SCRIPT.read_text(), re.M)
    assert "--vrrp" not in execstart.split()
    # and none spliced in through a variable (as "${daemons}" did)
    assert set(re.findall(r"\$\{?(\w+)", execstart)) == {"PREFIX", "KEEPALIVED_CONF"}
    assert "--use-file=$KEEPALIVED_CONF" in execstart


def test_the_direct_start_passes_no_vrrp_option():
    """Without systemd the service step starts keepalived itself: the same command
    line as the unit's, with nothing spliced in."""
    (start,) = re.findall(r'^\s*"\$KEEPALIVED_BIN" (.*)$', keepalived.SERVICE_SCRIPT, re.M)
    assert "--vrrp" not in start.split()
    assert set(re.findall(r"\$\{?(\w+)", start)) == {"KEEPALIVED_CONF"}
    assert start == '--use-file="$KEEPALIVED_CONF"'
