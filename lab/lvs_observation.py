"""What an LVS scenario saw of one VIP: its requests, when the survivor took over and
had the victim out of its virtual service, what went wrong after the fault, answers per
real server, and the JSON a run brings back."""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.probe import Request


@dataclass
class VipRun:
    """One VIP's requests during one scenario, and what it should end on."""

    scenario: str
    vip: str
    director_before: str
    survivor: str | None  # the only node that should answer after the fault (None: any)
    fault_at: float | None = None  # monotonic time of the fault (None: no fault)
    requests: list[Request] = field(default_factory=list)
    # Seconds from the fault to the survivor entering MASTER for this VIP (its VRRP
    # transitions; None: it did not, e.g. it directed the VIP already) and to the
    # victim's address leaving the survivor's virtual service (its checker's verdict).
    director_moved_at: float | None = None
    removed_at: float | None = None
    # The load balancers' VRRP transitions for this VIP and their watchers' verdicts
    # and holds, from a second before the fault: [seconds, node, kind, what].
    events: list[list] = field(default_factory=list)
    director_after: list[str] = field(default_factory=list)
    ipvs_before: dict[str, list[str]] = field(default_factory=dict)
    ipvs_after: dict[str, list[str]] = field(default_factory=dict)

    @property
    def after(self) -> list[Request]:
        if self.fault_at is None:
            return list(self.requests)
        return [r for r in self.requests if r.t1 >= self.fault_at]

    @property
    def failed(self) -> list[Request]:
        return [r for r in self.requests if not r.ok]

    def matches(self, r: Request) -> bool:
        return r.ok and (self.survivor is None or r.lb == self.survivor)

    @property
    def recovered_at(self) -> float | None:
        """Seconds from the fault to the first answer from the survivor to a request
        started after the last request that failed or was answered by another node
        (None also without a fault)."""
        if self.fault_at is None:
            return None
        after = self.after
        bad = [r.t0 for r in after if not self.matches(r)]
        since = max(bad) if bad else -1.0
        good = [r.t1 for r in after if self.matches(r) and r.t0 > since]
        return min(good) - self.fault_at if good else None

    def bad_after_fault(self, step: float = 0.5) -> list[list]:
        """What went wrong after the fault, on its clock: ``[seconds, what, how many]``
        per ``step`` seconds (by each request's start), for every request that failed
        or was answered by another node than the survivor. Where a run took long to
        recover, this says when and how."""
        if self.fault_at is None:
            return []
        out: dict[tuple[float, str], int] = {}
        for r in self.after:
            if self.matches(r):
                continue
            what = f"answered by {r.lb}" if r.ok else (r.error or f"HTTP {r.status}")
            key = (step * ((r.t0 - self.fault_at) // step), what)
            out[key] = out.get(key, 0) + 1
        return [[round(t, 1), what, n] for (t, what), n in sorted(out.items())]

    def counts(self, only_after: bool = False) -> dict[str, int]:
        """Answers per real server (nginx's X-Served-By)."""
        out: dict[str, int] = {}
        for r in self.after if only_after else self.requests:
            if r.ok:
                out[r.lb or "?"] = out.get(r.lb or "?", 0) + 1
        return out

    @property
    def worst_latency(self) -> float:
        ok = [r.latency for r in self.requests if r.ok]
        return max(ok) if ok else 0.0

    def as_json(self) -> dict:
        rec = self.recovered_at
        return {
            "scenario": self.scenario,
            "vip": self.vip,
            "director_before": self.director_before,
            "director_after": self.director_after,
            "survivor": self.survivor,
            "requests": len(self.requests),
            "failed": len(self.failed),
            "errors": _errors(self.failed),
            "counts": self.counts(),
            "counts_after_fault": self.counts(only_after=True),
            "recovered_at": None if rec is None else round(rec, 3),
            "director_moved_at": _round(self.director_moved_at),
            "removed_at": _round(self.removed_at),
            "bad_after_fault": self.bad_after_fault(),
            "events": self.events,
            "worst_latency": round(self.worst_latency, 3),
            "ipvs_before": self.ipvs_before,
            "ipvs_after": self.ipvs_after,
        }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _errors(failed: list[Request]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in failed:
        k = r.error or f"HTTP {r.status}"
        out[k] = out.get(k, 0) + 1
    return out
