"""The lab's `status` shows the same live view as `python -m nginx_ha status` on a
deployed stack (nginx_ha/view/status.py): keepalived's own state per VIP, the VIP's
holder, the units and the watcher's verdict; after a failover, the new holder."""

from __future__ import annotations

import pytest

from lab import failover, scenarios
from lab.lab import Lab
from lab.live import live_status
from nginx_ha.view.status import format_status
from tests.lab.instances import instance
from tests.lab.test_failover import _skip_unless_lab_can_run

pytestmark = [pytest.mark.slow, pytest.mark.root]


def test_status_shows_the_live_holder_before_and_after_a_failover():
    _skip_unless_lab_can_run()
    lab = Lab("dev", "ours", instance=instance("test-live"))
    try:
        lab.up(log=print)
        before = live_status(lab)
        assert before.vips[0].holders == ("nginx-master",), format_status(before)
        assert before.vips[0].verdict == "as configured"
        assert before.healthy, format_status(before)
        failover.run(lab, scenarios.SCENARIOS["nginx-dead"], restore=False)
        after = live_status(lab)
        text = lab.status()
        print(text)
        assert after.vips[0].holders == ("nginx-backup",), text
        assert after.vips[0].verdict == "failed over"
        master = next(n for n in after.nodes if n.name == "nginx-master")
        assert master.vrrp["VI_121"].state == "FAULT" and master.health == "down"
        assert master.units["nginx"] == "inactive"
        assert [(t.node, t.state) for t in after.transitions][-1] == ("nginx-backup", "MASTER")
        assert "failed over" in text
    finally:
        lab.down(log=print)
