"""The LVS scenarios' own logic, without IPVS: reading /proc/net/ip_vs, what counts as
recovered, the JSON a run brings back. The scenarios themselves run where the kernel
has IPVS: in a sandbox VM (tests/sandbox/test_lvs_vm.py, `python -m bench.lvs`)."""

from __future__ import annotations

import pytest

from lab import ipvs
from lab.config import lab_settings
from lab.lvs_observation import VipRun
from lab.lvs_scenarios import node_events, took_over_at
from lab.probe import Request
from nginx_ha.render.keepalived import lvs_fwmark

pytestmark = pytest.mark.pure  # no daemon, no namespace: runs by default (tests/conftest.py)

# /proc/net/ip_vs of a director with both virtual services (fwmark 0x4E480079 = VI_121's
# and 0x4E48007A = VI_122's), as kernel 6.1 prints it.
PROC_IP_VS = """\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
FWM  4E480079 rr
  -> C0A89F82:0000      Route   1      0          3
  -> C0A89F81:0000      Local   1      0          2
FWM  4E48007A rr persistent 30 FFFFFFFF
  -> C0A89F82:0000      Route   1      0          0
TCP  C0A89F6E:0050 rr
  -> C0A89F83:1F90      Masq    1      0          0
"""


def test_the_ipvs_table_is_read_per_fwmark():
    assert ipvs.parse_ipvs(PROC_IP_VS) == {
        lvs_fwmark(121): ["192.168.159.130", "192.168.159.129"],
        lvs_fwmark(122): ["192.168.159.130"],
    }
    assert ipvs.parse_ipvs("IP Virtual Server version 1.2.1 (size=4096)\n") == {}


def test_the_persistence_profile_sets_the_timeout_on_top_of_lvs():
    s = lab_settings("dev", "lvs-persistence", (2, 2, 7)).settings
    assert s.lvs.enabled and s.lvs.scheduler == "rr"
    assert s.lvs.persistence_timeout == 30
    assert lab_settings("dev", "lvs", (2, 2, 7)).settings.lvs.persistence_timeout == 0


def _req(t0: float, lb: str | None, ok: bool = True) -> Request:
    return Request(
        t0,
        t0 + 0.01,
        200 if ok else 0,
        lb if ok else None,
        "tomcat-primary",
        None if ok else "ConnectionRefusedError",
    )


def test_recovered_once_only_the_survivor_answers():
    run = VipRun("nginx-dead", "192.168.159.110", "nginx-master", "nginx-backup", fault_at=1.0)
    run.requests = [
        _req(0.5, "nginx-master"),
        _req(0.52, "nginx-backup"),
        _req(1.1, "nginx-master", ok=False),  # the victim's share fails
        _req(1.2, "nginx-backup"),
        _req(1.3, "nginx-master", ok=False),
        _req(1.4, "nginx-backup"),  # from here only the survivor
        _req(1.5, "nginx-backup"),
    ]
    assert abs((run.recovered_at or 0) - 0.41) < 1e-9
    assert run.counts() == {"nginx-master": 1, "nginx-backup": 4}
    assert run.counts(only_after=True) == {"nginx-backup": 3}
    j = run.as_json()
    assert j["failed"] == 2 and j["errors"] == {"ConnectionRefusedError": 2}
    assert j["requests"] == 7


def test_what_went_wrong_after_the_fault_is_kept_per_half_second():
    run = VipRun("nginx-dead", "192.168.159.111", "nginx-backup", "nginx-backup", fault_at=1.0)
    run.requests = [
        _req(0.9, "nginx-master", ok=False),  # before the fault: not counted
        _req(1.1, "nginx-master", ok=False),
        _req(1.2, "nginx-master", ok=False),
        _req(1.3, "nginx-backup"),
        _req(1.7, "nginx-master"),  # answered, but by the victim
        _req(23.9, "nginx-master", ok=False),  # a late one
    ]
    assert run.bad_after_fault() == [
        [0.0, "ConnectionRefusedError", 2],
        [0.5, "answered by nginx-master", 1],
        [22.5, "ConnectionRefusedError", 1],
    ]
    assert run.as_json()["bad_after_fault"] == run.bad_after_fault()


def test_a_run_without_a_fault_has_no_recovery_and_counts_every_request():
    run = VipRun("share", "192.168.159.110", "nginx-master", None)
    run.requests = [_req(100.0, "nginx-master"), _req(100.02, "nginx-backup")]
    assert run.recovered_at is None and run.bad_after_fault() == []
    assert run.counts(only_after=True) == {"nginx-master": 1, "nginx-backup": 1}
    j = run.as_json()
    assert j["recovered_at"] is None and j["director_moved_at"] is None


def test_never_recovered_while_the_victim_still_answers():
    run = VipRun("nginx-dead", "192.168.159.110", "nginx-master", "nginx-backup", fault_at=1.0)
    run.requests = [_req(1.1, "nginx-backup"), _req(1.2, "nginx-master")]
    assert run.recovered_at is None


def test_the_probe_starts_on_the_standard_library_alone_and_knows_the_marker():
    import subprocess
    import sys

    from lab import probe
    from nginx_ha.topology.naming import PAGE_MARKER_KEY

    assert probe.DEFAULT_MARKER == PAGE_MARKER_KEY
    code = "import sys, lab.probe; print(sorted(m for m in sys.modules if m.startswith(('nginx_ha.', 'pydantic'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_events_of_a_fault_are_the_vips_transitions_and_the_watchers_lines(tmp_path):
    from types import SimpleNamespace

    def lb(name: str, lines: list[str], watch: list[str]) -> SimpleNamespace:
        d = tmp_path / name
        (d / "vrrp").mkdir(parents=True)
        (d / "vrrp" / "transitions").write_text("".join(f"{x}\n" for x in lines))
        (d / "keepalived").mkdir()
        (d / "keepalived" / "nginx_watch.log").write_text("".join(f"{x}\n" for x in watch))
        layout = SimpleNamespace(
            vrrp_state_dir=str(d / "vrrp"), keepalived_conf=str(d / "keepalived" / "k.conf")
        )
        return SimpleNamespace(node=SimpleNamespace(name=name), layout=layout)

    fault = 1000.0
    lab = SimpleNamespace(
        topo=SimpleNamespace(
            instances=[
                SimpleNamespace(name="VI_121", vip="192.168.159.110"),
                SimpleNamespace(name="VI_122", vip="192.168.159.111"),
            ]
        ),
        lbs=[
            lb("nginx-master", ["990.0 VI_121 MASTER 150", "1004.5 VI_121 FAULT 0"], []),
            lb(
                "nginx-backup",
                ["990.0 VI_121 BACKUP 100", "990.0 VI_122 MASTER 150", "1005.25 VI_121 MASTER 100"],
                ["998.0 verdict ok", "1003.0 hold on", "1003.5 some other line"],
            ),
        ],
    )
    events = node_events(lab, "192.168.159.110", fault)  # type: ignore[arg-type]
    assert events == [
        [-10.0, "nginx-master", "vrrp", "MASTER"],  # the state each was in at the fault
        [-10.0, "nginx-backup", "vrrp", "BACKUP"],
        [3.0, "nginx-backup", "watch", "hold on"],
        [4.5, "nginx-master", "vrrp", "FAULT"],
        [5.25, "nginx-backup", "vrrp", "MASTER"],
    ]
    assert took_over_at(events, "nginx-backup") == 5.25
    assert took_over_at(events, "nginx-master") is None  # MASTER before the fault only
