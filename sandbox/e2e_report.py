"""What an end-to-end run reports (sandbox/e2e.py): after a failed check or an error,
what each load balancer says about its recent past (``sandbox/templates/diagnose.sh``:
VRRP transitions, flags, journal) kept in ``.run/e2e/diag-NODE.txt`` before the stack
goes; the summary (``.run/e2e/summary.json``: phases, checks, request loops, ok) and its
phase and check tables.
"""

from __future__ import annotations

import re

from nginx_ha.render.params import script_text
from nginx_ha.topology import Layout
from sandbox import config
from sandbox.e2e_driver import Driver

# After a failed check, each load balancer's journal since this long ago (journalctl
# --since) is kept in .run/e2e/diag-NODE.txt (sandbox/templates/diagnose.sh).
DIAG_SINCE = "-2h"


def diagnose_script(since: str = DIAG_SINCE) -> str:
    """sandbox/templates/diagnose.sh as a load balancer runs it (as root, on stdin)."""
    layout = Layout()
    return script_text(
        config.TEMPLATES.file("diagnose.sh"),
        {
            "STATE_DIR": layout.vrrp_state_dir,
            "DRAIN_DIR": layout.drain_dir,
            "HEALTH_FILE": layout.health_file,
            "SINCE": since,
        },
    )


def _section(text: str, title: str) -> str:
    """The lines of diagnose.sh's section whose title starts with ``title``."""
    m = re.search(rf"^== {re.escape(title)}[^\n]*\n(.*?)(?=^== |\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else ""


def print_tables(summary: dict, out=print) -> None:
    out("| phase | time | notes |")
    out("|---|---|---|")
    for p in summary["phases"]:
        out(f"| {p['phase']} | {p['seconds']:.1f} s | {p['notes']} |")
    out("")
    out("| check | result | detail |")
    out("|---|---|---|")
    for c in summary["checks"]:
        out(f"| {c['check']} | {'PASS' if c['ok'] else 'FAIL'} | {c['detail']} |")
    out(
        f"\ne2e ok: {summary['ok']}" + (f" (error: {summary['error']})" if summary["error"] else "")
    )


class Report(Driver):
    """The load balancers' reports after a failure, and the run's summary."""

    def diagnose(self) -> None:
        """After a failed check or an error: what each load balancer says about its
        recent past (VRRP transitions, flags, journal; sandbox/templates/diagnose.sh)
        into WORK/diag-NODE.txt, before the stack goes. Its transitions are printed."""
        self.diagnosed = True
        script = diagnose_script()
        for name, n in self.outputs.get("nodes", {}).items():
            if n.get("role") not in ("MASTER", "BACKUP"):
                continue
            path = self.work / f"diag-{name}.txt"
            try:
                p = self.run(
                    self.ssh_cmd(n["ip"], "sudo bash -s"),
                    netns=True,
                    check=False,
                    timeout=90,
                    input=script,
                    name=f"diagnose {name}",
                )
                text = (p.stdout or "") + (p.stderr or "")
            except Exception as exc:  # noqa: BLE001 - a report of a failure must not fail
                text = f"could not ask {name}: {exc}"
            path.write_text(text)
            self.out(f"== diagnostics of {name}: .run/e2e/{path.name}")
            for line in _section(text, "transitions").splitlines()[-8:]:
                self.out(f"   {name} transition: {line}")

    def summary(self, ok: bool, error: str | None) -> dict:
        return {
            "ok": ok,
            "error": error,
            "phases": [{"phase": p, "seconds": round(s, 1), "notes": n} for p, s, n in self.phases],
            "checks": [{"check": c, "ok": o, "detail": d} for c, o, d in self.checks],
            "loops": self.loops,
        }
