"""The systemd units the program writes, checked by the real `systemd-analyze verify`
(support/systemd_verify.py): keepalived's unit for each kind of build and the nginx
health watcher's, as a VM gets them. The LVS real-server unit is written by its script
at run time: tests/scripts/test_lvs_realserver.py verifies the one the script wrote."""

from __future__ import annotations

import posixpath

import pytest

from nginx_ha.config import parse_settings
from nginx_ha.render import node_plan
from nginx_ha.render.parts import keepalived_unit
from nginx_ha.topology import build_topology, vm_layout
from support import stacks, systemd_verify

pytestmark = pytest.mark.skipif(
    not systemd_verify.available(), reason="systemd-analyze is not installed"
)

VARIANTS = {
    "vrrp-only": {},
    "with-lvs": {
        "vip": None,
        "vips": ["192.168.159.110", "192.168.159.111"],
        "lvs": {"enabled": True, "scheduler": "rr", "persistenceTimeout": 120},
    },
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_unit_a_vm_gets_passes_systemd_analyze_verify(variant):
    topo = build_topology(parse_settings(stacks.raw_config("dev", **VARIANTS[variant])))
    layout = vm_layout(topo)
    for node in topo.load_balancers:
        units = {
            posixpath.basename(a.target): a.text
            for a in node_plan(topo, node, layout).artefacts
            if a.kind == "unit"
        }
        assert set(units) == {"keepalived.service", "nginx-ha-watch.service"}
        assert "RuntimeDirectory=" in units["keepalived.service"]
        assert systemd_verify.verify(units, built=[layout.keepalived_builds]) == [], node.name


def test_the_check_finds_what_systemd_would_complain_about():
    """A test that cannot fail is a defect: the verifier itself on broken units."""
    topo = build_topology(parse_settings(stacks.raw_config("dev")))
    layout = vm_layout(topo)
    node = topo.load_balancers[0]
    good = keepalived_unit(topo, node, layout)
    typo = good.replace("Restart=on-failure", "Restrat=on-failure")
    assert any("Restrat" in p for p in systemd_verify.verify({"keepalived.service": typo}))
    missing = good.replace("ExecReload=/bin/kill", "ExecReload=/usr/bin/no-such-kill")
    assert any("no-such-kill" in p for p in systemd_verify.verify({"keepalived.service": missing}))
    # The build's binary is not on this machine: without ``built`` it is a problem.
    assert systemd_verify.verify({"keepalived.service": good})
    bad_type = good.replace("Type=simple", "Type=simplest")
    assert systemd_verify.verify({"keepalived.service": bad_type}, built=[layout.keepalived_builds])
