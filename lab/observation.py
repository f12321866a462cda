"""What a failover scenario saw: the requests through the VIP and the nodes' events
around the fault (each load balancer's VRRP transitions and its watcher's verdicts and
holds, read from the files the nodes write), read as the time to answer, failures and
latency, a summary, a timeline, and the scenarios' table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from lab import timeline
from lab.lab import Lab
from lab.probe import Request
from lab.scenarios import Scenario
from lab.timeline import Event


@dataclass
class Observation:
    scenario: Scenario
    profile: str
    holder: str  # held the VIP before the fault
    expected_lb: str | None
    expected_backend: str
    fault_at: float
    requests: list[Request] = field(default_factory=list)
    holders_after: list[str] = field(default_factory=list)
    fault_wall: float = 0.0  # the fault's wall-clock time, to find it in the logs
    primary_name: str = ""
    lbs: list[str] = field(default_factory=list)
    # What the nodes recorded meanwhile (VRRP transitions, the watcher's verdicts and
    # holds), in seconds from the fault: the timeline's lanes.
    events: list[Event] = field(default_factory=list)

    @property
    def after(self) -> list[Request]:
        return [r for r in self.requests if r.t1 >= self.fault_at]

    @property
    def failed(self) -> list[Request]:
        return [r for r in self.requests if not r.ok]

    def matches(self, r: Request) -> bool:
        return (
            r.ok
            and (self.expected_lb is None or r.lb == self.expected_lb)
            and r.backend == self.expected_backend
        )

    @property
    def recovered_at(self) -> float | None:
        """Seconds from the fault to the first answer from the expected nodes to a
        request started after the last request that failed or was answered by
        another node (None: never)."""
        after = self.after
        bad = [r.t0 for r in after if not self.matches(r)]
        since = max(bad) if bad else -1.0
        good = [r.t1 for r in after if self.matches(r) and r.t0 > since]
        return min(good) - self.fault_at if good else None

    @property
    def failing_for(self) -> float:
        """Seconds from the fault to the start of the last request that failed (0:
        none failed)."""
        if not self.failed:
            return 0.0
        return max(0.0, max(r.t0 for r in self.failed) - self.fault_at)

    @property
    def worst_latency(self) -> float:
        ok = [r.latency for r in self.requests if r.ok]
        return max(ok) if ok else 0.0

    @property
    def answered_by(self) -> dict[tuple[str | None, str | None], int]:
        out: dict[tuple[str | None, str | None], int] = {}
        for r in self.after:
            if r.ok:
                out[(r.lb, r.backend)] = out.get((r.lb, r.backend), 0) + 1
        return out

    @property
    def last_answer(self) -> tuple[str | None, str | None] | None:
        ok = sorted((r for r in self.requests if r.ok), key=lambda r: r.t1)
        return (ok[-1].lb, ok[-1].backend) if ok else None

    def role(self, lb: str | None) -> str:
        """MASTER: the load balancer that held the VIP when the scenario started."""
        if lb is None:
            return "either"
        return "MASTER" if lb == self.holder else "BACKUP"

    @property
    def expected_text(self) -> str:
        tomcat = "primary" if self.expected_backend == self.primary_name else "backup"
        return f"{self.role(self.expected_lb)} -> {tomcat} Tomcat"

    @property
    def recovery_text(self) -> str:
        if self.expected_lb is None and not self.failed and self.recovered_at is not None:
            return "no outage"
        return _secs(self.recovered_at)

    @property
    def vip_after_text(self) -> str:
        return " + ".join(self.role(h) for h in self.holders_after) or "nobody"

    @property
    def vip_moved_at(self) -> float | None:
        """Seconds from the fault to the first load balancer entering MASTER for the
        watched VIP after it (None: the VIP stayed where it was)."""
        moves = [e.t for e in self.events if e.kind == "vrrp" and e.what == "MASTER" and e.t >= 0]
        return min(moves) if moves else None

    @property
    def resumed_after(self) -> tuple[int, int] | None:
        """HTTPS: (resumed, answered) of the requests started after the fault, each
        offered the session of the connection before it (None: plain HTTP). With the
        ticket keys shared, a client resumes on the new holder too."""
        tls = [r for r in self.requests if r.ok and r.tls is not None and r.t0 >= self.fault_at]
        if not tls:
            return None
        return sum(1 for r in tls if r.resumed), len(tls)

    def summary(self) -> dict[str, object]:
        resumed = self.resumed_after
        return {
            **({"resumed_after": f"{resumed[0]} of {resumed[1]}"} if resumed else {}),
            "vip_moved": _secs(self.vip_moved_at) if self.vip_moved_at is not None else "-",
            "failed": len(self.failed),
            "requests": len(self.requests),
            "time_to_answer": self.recovery_text,
            "worst_latency": f"{self.worst_latency:.2f} s",
            "expected": self.expected_text,
            "vip_after": self.vip_after_text,
        }

    def timeline(self) -> dict[str, object]:
        """The scenario as plain data: raw requests and events (lab/timeline.py)."""
        return timeline.record(
            scenario=self.scenario.name,
            title=self.scenario.title,
            profile=self.profile,
            holder=self.holder,
            primary=self.primary_name,
            lbs=self.lbs,
            fault_at=self.fault_at,
            requests=self.requests,
            events=self.events,
            summary=self.summary(),
        )

    def write_timeline(self, base: Path) -> list[Path]:
        """``base``.json (raw requests, events), ``base``.png and ``base``.svg."""
        return timeline.write(self.timeline(), base)

    def describe(self) -> str:
        by = ", ".join(
            f"{lb}->{be}: {n}" for (lb, be), n in sorted(self.answered_by.items(), key=str)
        )
        errs: dict[str, int] = {}
        for r in self.failed:
            k = r.error or f"HTTP {r.status}"
            errs[k] = errs.get(k, 0) + 1
        at = time.strftime("%H:%M:%S", time.gmtime(self.fault_wall))
        return (
            f"{self.scenario.name} (fault at {at}.{int(self.fault_wall % 1 * 1000):03d} UTC): VIP held by {self.holder} before, by "
            f"{', '.join(self.holders_after) or 'nobody'} after; answers after the fault: "
            f"{by or 'none'}; failures: {errs or 'none'}"
        )


def node_events(lab: Lab, obs: Observation) -> list[Event]:
    """The fault, each load balancer's VRRP transitions of the watched VIP and its
    watcher's verdicts and holds during the scenario (from the files the nodes write)."""
    start = min((r.t0 for r in obs.requests), default=obs.fault_at) - obs.fault_at
    events = [Event(0.0, "", "fault", obs.scenario.title)]
    events += lb_events(lab, lab.topo.instances[0].name, obs.fault_wall, since=start - 1.0)
    return sorted(events, key=lambda e: e.t)


def lb_events(lab: Lab, instance: str, t_zero: float, since: float) -> list[Event]:
    """Each load balancer's VRRP transitions of ``instance`` (vrrp_state.sh's file) and
    its watcher's verdicts and holds (nginx_watch.log), from ``since`` seconds on,
    relative to ``t_zero`` (the fault's wall-clock time)."""
    events: list[Event] = []
    for lb in lab.lbs:
        name = lb.node.name
        transitions = Path(lb.layout.vrrp_state_dir) / "transitions"
        events += timeline.vrrp_events(transitions, name, instance, t_zero, since=since)
        log = Path(lb.layout.keepalived_conf).parent / "nginx_watch.log"
        events += timeline.watch_events(log, name, t_zero, since=since)
    return sorted(events, key=lambda e: e.t)


# ------------------------------------------------------------------------ table


def _secs(v: float | None) -> str:
    return "never" if v is None else f"{v:.2f} s"


HEAD = (
    "| profile | scenario | expected to answer | time to answer | failed requests | "
    "worst latency | VIP ends on |\n|---|---|---|---|---|---|---|"
)


def table(observations: list[Observation]) -> str:
    rows = [
        f"| {o.profile} | {o.scenario.title} | {o.expected_text} | {o.recovery_text} | "
        f"{len(o.failed)} of {len(o.requests)} | {o.worst_latency:.2f} s | "
        f"{o.vip_after_text} |"
        for o in observations
    ]
    return "\n".join([HEAD, *rows])
