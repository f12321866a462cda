"""The certificates the load balancers serve (nginx-ha:tls), in the live view: what
a node's probe printed, parsed; what needs attention (a certificate close to its end,
or load balancers serving different ones); the table's rows."""

from __future__ import annotations

import calendar
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from nginx_ha.config.pins import TLS_EXPIRY_WARNING_DAYS


@dataclass(frozen=True)
class ServedCertificate:
    """The certificate a node's nginx serves (nginx-ha:tls), as a client gets it."""

    subject: str
    sha256: str  # the fingerprint, AB:CD:... as openssl prints it
    not_after: float | None  # seconds since the epoch

    def days_left(self, now: float) -> float | None:
        return None if self.not_after is None else (self.not_after - now) / 86400


def parse_certificate(text: str) -> ServedCertificate | None:
    """openssl x509's ``subject=``, ``sha256 Fingerprint=``, ``notAfter=`` lines (None:
    nothing was served)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    fingerprint = fields.get("sha256 fingerprint")
    if not fingerprint:
        return None
    not_after = None
    if "notafter" in fields:
        try:
            not_after = float(
                calendar.timegm(time.strptime(fields["notafter"], "%b %d %H:%M:%S %Y %Z"))
            )
        except ValueError:
            not_after = None
    return ServedCertificate(fields.get("subject", "?"), fingerprint, not_after)


class Serving(Protocol):
    """What the certificate view needs of a node's report (view/status.py NodeReport)."""

    name: str
    tls: bool
    certificate: ServedCertificate | None
    now: float | None

    @property
    def reachable(self) -> bool: ...


def certificate_warnings(nodes: Sequence[Serving], now: float) -> list[str]:
    """A node meant to serve TLS serving no certificate, one within
    TLS_EXPIRY_WARNING_DAYS of its end (or past it), load balancers serving different
    certificates."""
    out = []
    serving = [n for n in nodes if n.tls and n.reachable]
    for n in serving:
        c = n.certificate
        if c is None:
            out.append(f"{n.name} serves no certificate")
            continue
        days = c.days_left(n.now or now)
        if days is not None and days < TLS_EXPIRY_WARNING_DAYS:
            when = "has expired" if days < 0 else f"expires in {days:.0f} days"
            out.append(f"{n.name}'s certificate ({c.subject}) {when}")
    served = [(n.name, n.certificate.sha256) for n in serving if n.certificate]
    if len({fp for _, fp in served}) > 1:
        who = ", ".join(f"{name} {fp[:23]}" for name, fp in served)
        out.append(f"the load balancers serve different certificates: {who}")
    return out


def certificate_rows(nodes: Sequence[Serving], now: float) -> list[list[str]]:
    """The table of served certificates (no rows: no node serves TLS)."""
    served = [n for n in nodes if n.tls and n.reachable]
    if not served:
        return []
    rows = [["node", "serves", "sha256", "days left"]]
    for n in served:
        c = n.certificate
        if c is None:
            rows.append([n.name, "nothing", "-", "-"])
            continue
        days = c.days_left(n.now or now)
        rows.append(
            [n.name, c.subject, c.sha256[:23] + "...", "?" if days is None else f"{days:.0f}"]
        )
    return rows
