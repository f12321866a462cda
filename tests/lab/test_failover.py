"""Failover in the network-namespace lab: real keepalived, nginx and Tomcat (root).

One lab (the dev stack, our default timings) is shared by the module; each scenario
heals it back to the normal state first. Assertions are about behaviour: who holds
the VIP, which load balancer and which Tomcat answer, and that failures stop within
what the configured timings allow (detection + takeover, with a fixed slack for a
loaded host). How fast it is measured by bench/failover.py, not asserted here.

Skipped, with the reason printed, where namespaces cannot be made (not root, no
`ip netns`, daemons missing); under CI=true that is a failure instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lab import actions, baseline, failover, observation, scenarios
from lab.daemons import CATALINA_HOME, keepalived_binary
from lab.errors import LabError
from lab.lab import Lab
from nginx_ha.render import keepalived as render_keepalived
from support import netns
from tests.lab.instances import instance

pytestmark = [pytest.mark.slow, pytest.mark.root]

# Process start-up and scheduling on a busy 2-core host: added to every time bound.
SLACK = 1.0


def lab_unavailable() -> str | None:
    """Why the lab cannot run here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, daemons)"
    for tool in ("ip", "curl", "iptables", "nginx", "java"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"{tool} is not installed"
    if not (CATALINA_HOME / "bin" / "catalina.sh").exists():
        return "Tomcat 10 is not installed (apt-get install tomcat10)"
    try:
        keepalived_binary()
    except LabError as e:
        return str(e)
    probe = f"nha-probe-{os.getpid()}"
    res = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if res.returncode != 0:
        return f"`ip netns add` fails: {res.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def _skip_unless_lab_can_run() -> None:
    """Skip with the reason printed on a developer's machine; fail in CI (CI=true),
    which runs as root with the daemons installed by .ci/run."""
    reason = lab_unavailable()
    if reason:
        print(f"lab tests skipped: {reason}")
        if os.environ.get("CI") == "true":
            pytest.fail(f"the lab must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def lab():
    _skip_unless_lab_can_run()
    lab = Lab("dev", "ours", instance=instance("test-dev"))
    try:
        lab.up(log=print)
        yield lab
    finally:
        # Daemons and namespaces go; the logs stay in .run/lab/test-dev for a failure's
        # diagnosis (the next run overwrites the configs and appends to the logs).
        lab.down(log=print, keep_logs=True)


def timings(lab: Lab) -> tuple[float, float]:
    """(detection, takeover) allowed by the settings, in seconds.

    detection: a fault just after a check is seen by the next one (one interval), and
    `fall` failures in a row, the last one bounded by the check's timeout.
    takeover: a BACKUP declares the MASTER down after 3 missed adverts plus its skew
    (less than one advert)."""
    v = lab.topo.vrrp
    detection = float(v.check.interval) * v.check.fall + float(v.check.timeout)
    takeover = 4 * float(v.advert_interval)
    return detection, takeover


def run(lab: Lab, name: str) -> observation.Observation:
    obs = failover.run(lab, scenarios.SCENARIOS[name])
    print(obs.describe())
    print(observation.table([obs]))
    return obs


def last_answer(obs: observation.Observation) -> tuple[str | None, str | None]:
    la = obs.last_answer
    assert la is not None, "nothing answered through the VIP"
    return la


# --------------------------------------------------------------------------- normal


def test_up_serves_the_primary_tomcat_through_the_master(lab):
    holder = baseline.baseline(lab)
    assert holder.node.name == lab.master.node.name
    assert lab.vip_holders() == [lab.master.node.name]
    res = subprocess.run(
        netns.in_ns(lab.client, "curl", "-fsS", "-i", "--max-time", "3", lab.url),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert f"X-Served-By: {lab.master.node.name}" in res.stdout
    assert f"nginx-ha-backend={lab.primary.node.name}" in res.stdout
    status = lab.status()
    assert f"held by: {lab.master.node.name}" in status
    # every node runs its daemons in its own namespace
    for ln in lab.lbs:
        names = {c for _, c, _ in netns.processes(ln.ns)}
        assert {"nginx", "keepalived"} <= names, (ln.node.name, names)
    for ln in lab.backends:
        assert "java" in {c for _, c, _ in netns.processes(ln.ns)}, ln.node.name


# ----------------------------------------------------------------------- the nginx tier


def test_nginx_killed_is_restarted_by_the_check_and_no_request_is_refused(lab):
    before = actions.nginx_pids(lab, lab.master)
    obs = run(lab, "nginx-killed")
    # Held, not refused: new connections wait one SYN retransmission (about 1 s)
    # while nothing listens, then reach nginx restarted or the VIP's new holder.
    assert not_refused(obs), (obs.describe(), failed_at(obs))
    assert obs.worst_latency <= 1.5 + SLACK, obs.describe()
    assert obs.recovered_at is not None
    after = actions.nginx_pids(lab, lab.master)
    assert after and not set(after) & set(before), "nginx was not restarted on the MASTER"
    assert last_answer(obs)[1] == lab.primary.node.name


def watch_detection(lab: Lab) -> float:
    """The watcher's detection (the fast path): `fall` rounds of at most one pause and
    one bounded probe."""
    c = lab.topo.vrrp.check
    probe = c.watch_interval * render_keepalived.WATCH_PROBE_TIMEOUT
    return float((c.watch_interval + probe) * c.fall)


@pytest.mark.parametrize("name", ["nginx-dead", "nginx-hung"])
def test_nginx_down_on_the_master_moves_the_vip(lab, name):
    log = Path(lab.master.layout.keepalived_conf).parent / "keepalived.log"
    seen = log.stat().st_size
    obs = run(lab, name)
    _, takeover = timings(lab)
    assert obs.holders_after == [lab.backup_lb.node.name]
    assert last_answer(obs) == (lab.backup_lb.node.name, lab.primary.node.name)
    assert obs.recovered_at is not None
    assert obs.failing_for <= watch_detection(lab) + takeover + SLACK, obs.describe()
    # The fast path put the MASTER in FAULT, before the check script failed even once.
    with open(log, "rb") as f:
        f.seek(seen)
        lines = f.read().decode(errors="replace").splitlines()
    fault = next(i for i, line in enumerate(lines) if "Entering FAULT STATE" in line)
    before = lines[: fault + 1]
    assert any("tracked file nginx_health now FAULT state" in line for line in before), lines
    assert not any("VRRP_Script(chk_nginx) failed" in line for line in before), lines
    # The timeline's lanes: the MASTER's FAULT and the BACKUP's MASTER, from the
    # transitions files the nodes wrote (in either order: each notify script stamps
    # its line when keepalived's fork of it runs, later on a loaded host).
    vrrp = [(e.node, e.what) for e in obs.events if e.kind == "vrrp" and e.t >= 0]
    master, backup = lab.master.node.name, lab.backup_lb.node.name
    assert {(master, "FAULT"), (backup, "MASTER")} <= set(vrrp), vrrp
    assert obs.vip_moved_at is not None
    watch = [e for e in obs.events if e.kind == "watch" and e.node == master and e.t >= 0]
    if name == "nginx-hung":
        # The hold came first: new connections were dropped before the verdict moved
        # the VIP, and no request started after the hold failed.
        held = next(e.t for e in watch if e.what.startswith("hold on"))
        down = next(e.t for e in watch if e.what.startswith("verdict down"))
        assert held < down, watch
        # Held on suspicion (a probe unanswered for 0.04 s, probes 0.04 s apart; more,
        # up to a whole probe's bound, after late answers on a loaded host): by the
        # bound plus the hold's own command. The curl watcher held 0.2-0.35 s in.
        c = lab.topo.vrrp.check
        bound = float(render_keepalived.watch_probe_timeout(c.watch_interval))
        assert held <= bound + 0.05, watch
        late = [r for r in obs.failed if r.t0 - obs.fault_at > held + 0.05]
        assert not late, obs.describe()
    else:
        # Nothing listened: the hold's socket rule dropped new connections by itself;
        # no request was refused, each waited at most one SYN retransmission.
        assert not_refused(obs), (obs.describe(), failed_at(obs))
        assert obs.worst_latency <= 1.5 + SLACK, obs.describe()


def failed_at(obs: observation.Observation) -> list[tuple[float, float, str | None]]:
    """(start, end, error) of each failed request, in seconds from the fault."""
    return [
        (round(r.t0 - obs.fault_at, 3), round(r.t1 - obs.fault_at, 3), r.error) for r in obs.failed
    ]


def not_refused(obs: observation.Observation) -> bool:
    """No request was refused (the hold's point), and none started after the outage
    failed. Lost, by nature, are those nginx was serving when it was killed (SIGKILL
    resets their connections); a held request can time out when its retransmitted SYN
    is answered late on a loaded host; and a race seen in about one run in six resets
    one: a connection the restarted nginx accepted on the old holder (from a client whose
    ARP entry still named it) while the client's next packet went to the new holder.
    On a quiet host the benchmark's median is 0 failed (docs/lab.md)."""
    moved = obs.vip_moved_at if obs.vip_moved_at is not None else obs.recovered_at or 0.0
    late = [r for r in obs.failed if r.t0 - obs.fault_at > moved + SLACK]
    refused = [r for r in obs.failed if r.error == "ConnectionRefusedError"]
    return not refused and not late


def test_status_shows_the_live_vrrp_state_after_a_failover(lab):
    """`status` reads each node's state files (what keepalived reported), not the
    configured roles: after nginx died on the MASTER (fault left in place), the BACKUP
    is MASTER and the MASTER is in FAULT."""
    master, backup = lab.master.node.name, lab.backup_lb.node.name
    obs = failover.run(lab, scenarios.SCENARIOS["nginx-dead"], restore=False)
    try:
        assert obs.holders_after == [backup]
        status = lab.status()
        assert f"{backup} MASTER since" in status, status
        assert f"{master} FAULT since" in status, status
        assert "(priority 100; configured backup, priority 100)" in status, status
    finally:
        baseline.heal(lab)


def only_in_flight_lost(lab: Lab, obs: observation.Observation) -> None:
    """A clean handover may lose only the requests in flight when the VIP leaves a
    node (the kernel cannot route their answers from an address it no longer has):
    nothing started after the handover fails, and at most a few requests in all."""
    _, takeover = timings(lab)
    assert obs.failing_for <= takeover + SLACK, obs.describe()
    assert len(obs.failed) <= 3, obs.describe()


def test_keepalived_stopped_cleanly_hands_over_at_once(lab):
    obs = run(lab, "keepalived-stopped")
    assert obs.holders_after == [lab.backup_lb.node.name]
    assert last_answer(obs) == (lab.backup_lb.node.name, lab.primary.node.name)
    only_in_flight_lost(lab, obs)


def test_master_cut_off_backup_takes_over_within_the_advert_timeout(lab):
    obs = run(lab, "host-cut")
    _, takeover = timings(lab)
    assert obs.holders_after == [lab.backup_lb.node.name]
    assert last_answer(obs) == (lab.backup_lb.node.name, lab.primary.node.name)
    # Only requests in flight on the cut host may be lost: none started later fails.
    assert obs.failing_for <= takeover + SLACK, obs.describe()


def test_master_back_preempts_at_once(lab):
    assert lab.topo.vrrp.preempt, "the dev stack preempts"
    obs = run(lab, "master-back")
    assert obs.holders_after == [lab.master.node.name]
    assert last_answer(obs) == (lab.master.node.name, lab.primary.node.name)
    assert any(r.lb == lab.backup_lb.node.name for r in obs.requests if r.ok), (
        "the backup served before the master came back"
    )
    only_in_flight_lost(lab, obs)


# ---------------------------------------------------------------------- the Tomcat tier


def test_primary_tomcat_stopped_backup_answers_without_failures(lab):
    obs = run(lab, "tomcat-stopped")
    assert obs.holders_after == [lab.master.node.name]
    assert last_answer(obs) == (lab.master.node.name, lab.backup_backend.node.name)
    assert len(obs.failed) == 0, obs.describe()


def test_primary_tomcat_black_holed_costs_one_connect_timeout_on_first_requests(lab):
    # The upstream's shared `zone`: the first timed-out connect marks the primary
    # failed for every worker; only requests already waiting on it are slow.
    obs = run(lab, "tomcat-blackholed")
    connect = float(lab.topo.nginx.connect_timeout)
    assert last_answer(obs) == (lab.master.node.name, lab.backup_backend.node.name)
    assert len(obs.failed) == 0, obs.describe()
    slow = [r for r in obs.requests if r.ok and r.latency > connect / 2]
    assert slow, "a black-holed primary must delay the requests that try it"
    assert max(r.latency for r in slow) <= connect + SLACK
    # only the first requests wait: none started well after the first connect timed
    # out (one more second: on a loaded host a slow health probe makes the watcher
    # hold new connections for a moment, which delays them by a SYN retransmission)
    late = [
        round(r.t0 - obs.fault_at, 2) for r in slow if r.t0 - obs.fault_at > 2 * connect + SLACK
    ]
    assert not late, f"delayed requests started {late} s after the fault; {obs.describe()}"
    assert any(r.ok and r.latency < connect / 2 for r in obs.after), (
        "the backup never answered at once"
    )


def test_primary_back_gets_the_traffic_again_after_fail_timeout(lab):
    obs = run(lab, "primary-back")
    ng = lab.topo.nginx
    assert last_answer(obs) == (lab.master.node.name, lab.primary.node.name)
    assert any(r.backend == lab.backup_backend.node.name for r in obs.requests if r.ok)
    assert len(obs.failed) == 0, obs.describe()
    assert obs.recovered_at is not None
    assert obs.recovered_at <= ng.fail_timeout + float(ng.connect_timeout) + SLACK


# ------------------------------------------------------------------------------ down


def test_down_after_a_crash_removes_namespaces_and_only_their_processes():
    _skip_unless_lab_can_run()
    crashed = Lab("dev", "ours", instance=instance("test-crash"))
    crashed.run_dir.mkdir(parents=True, exist_ok=True)
    ns = crashed.switch
    netns.add(ns)
    inside = netns.spawn(ns, ["sleep", "300"], crashed.run_dir / "sleep.log")
    stopped = netns.spawn(ns, ["sleep", "301"], crashed.run_dir / "sleep.log")
    outside = subprocess.Popen(["sleep", "302"])  # same command, root namespace
    try:
        time.sleep(0.2)
        os.kill(stopped, signal.SIGSTOP)
        (crashed.run_dir / "lab.json").write_text(json.dumps({"namespaces": [ns]}))
        crashed.down(log=print)
        assert not netns.exists(ns)
        assert not netns.pid_alive(inside)
        assert not netns.pid_alive(stopped)
        assert outside.poll() is None, "down killed a process outside the lab"
        assert not crashed.run_dir.exists()
        # The run's logs stay readable in <instance>.last/ (the lab's state files go).
        assert (crashed.last_dir / "sleep.log").exists()
        assert not (crashed.last_dir / "lab.json").exists()
        crashed.down(log=print)  # idempotent: nothing left, no error
        assert (crashed.last_dir / "sleep.log").exists()
    finally:
        outside.kill()
        outside.wait()
        netns.delete(ns)
        shutil.rmtree(crashed.last_dir, ignore_errors=True)
