"""The end-to-end run's checks of the deployed stack (sandbox/e2e.py, docs/e2e.md):
the VIP answers through the MASTER's nginx from the primary Tomcat, ``python -m nginx_ha
status`` names the live holder, every VM is a clone of its own (hostname, MAC, machine-id,
SSH host keys: ``sandbox/templates/clone_facts.sh``), nothing changes right after ``up``,
and the VIP moves to the BACKUP when the MASTER's domain is destroyed.
"""

from __future__ import annotations

import json
import re
import time

from nginx_ha.render.params import script_text
from sandbox import config
from sandbox.e2e_driver import STACK, Driver, changed_lines

FAILOVER_LIMIT = 90.0  # seconds for the VIP to answer from the BACKUP


def clone_facts_script() -> str:
    """sandbox/templates/clone_facts.sh as a node runs it (as its user, on stdin)."""
    return script_text(config.TEMPLATES.file("clone_facts.sh"))


class Checks(Driver):
    """The checks of the stack as `up` left it, and of a failover."""

    def check_vip(self) -> None:
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        primary = next(n for n, v in nodes.items() if v.get("role") == "primary")
        served, backend = self.vip_get()
        self.check(
            "VIP answers through the MASTER's nginx from the primary Tomcat"
            + (" (HTTPS, verified)" if self.tls_name else ""),
            served == master and backend == primary,
            f"X-Served-By {served or '-'}, backend {backend or '-'} (expected {master}, {primary})",
        )

    def check_https(self) -> None:
        """With nginx-ha:tls: the VIP's plain port answers 308 to https:// (the check
        above asked over HTTPS, the chain verified with the stack's CA)."""
        if self.tls_name is None:
            return
        p = self.run(
            [
                "curl",
                "-sS",
                "-m",
                "3",
                "-o",
                "/dev/null",
                "-D",
                "-",
                f"http://{self.outputs['vip']}/",
            ],
            netns=True,
            check=False,
            timeout=10,
        )
        m = re.search(r"(?im)^location:\s*(\S+)", p.stdout or "")
        status = (p.stdout or "").split(" ", 2)[1] if (p.stdout or "").startswith("HTTP/") else "-"
        self.check(
            "http://VIP/ answers 308 to https://",
            status == "308" and bool(m) and m.group(1).startswith("https://"),
            f"status {status}, Location {m.group(1) if m else '-'}",
        )

    def check_status(self, holder: str, when: str) -> None:
        """``python -m nginx_ha status --json`` (over SSH, host keys pinned) names
        ``holder`` as the live holder of the VIP."""
        p = self.run(
            [
                str(self.root / "venv" / "bin" / "python"),
                "-m",
                "nginx_ha",
                "status",
                "--stack",
                STACK,
                "--json",
                "--project-dir",
                str(self.project),
            ],
            netns=True,
            check=False,
            timeout=180,
        )
        slug = when.replace(" ", "-")
        (self.work / f"status-{slug}.json").write_text(p.stdout + p.stderr)
        try:
            held = json.loads(p.stdout)["vips"][0]["heldBy"]
        except (json.JSONDecodeError, KeyError, IndexError):
            held = None
        self.check(
            f"status {when}: the VIP is held by {holder}",
            held == [holder],
            f"heldBy {held} (rc {p.returncode}; .run/e2e/status-{slug}.json)",
        )

    def check_clones(self) -> None:
        nodes = self.outputs["nodes"]
        facts = {}
        for name, n in nodes.items():
            text = self.ssh(n["ip"], "bash -s", input=clone_facts_script())
            lines = text.splitlines()
            link = {}
            for m in re.finditer(r"^\d+: (\S+?):.*link/ether ([0-9a-f:]{17})", text, re.M):
                link[m.group(1)] = m.group(2)
            addr_dev = {
                m.group(2): m.group(1)
                for m in re.finditer(r"^\d+: (\S+)\s+inet ([0-9.]+)/", text, re.M)
            }
            fps = sorted(re.findall(r"SHA256:\S+", text))
            dev = addr_dev.get(n["ip"])
            facts[name] = {
                "hostname": lines[0].strip(),
                "machine_id": lines[1].strip(),
                "mac_of_ip": link.get(dev or "", ""),
                "fps": fps,
            }
            f = facts[name]
            self.check(f"{name}: own hostname", f["hostname"] == name, f["hostname"])
            self.check(
                f"{name}: {n['ip']} on the interface with its MAC",
                f["mac_of_ip"] == n["mac"],
                f"{n['ip']} on {dev} ({f['mac_of_ip'] or '-'}), expected {n['mac']}",
            )
        ids = [f["machine_id"] for f in facts.values()]
        self.check(
            "machine-ids distinct",
            len(set(ids)) == len(ids) and all(ids),
            ", ".join(i[:8] for i in ids),
        )
        fps = [fp for f in facts.values() for fp in f["fps"]]
        self.check(
            "SSH host keys distinct",
            len(set(fps)) == len(fps) and len(fps) >= len(ids),
            f"{len(fps)} fingerprints, {len(set(fps))} distinct",
        )

    def check_no_changes(self) -> None:
        t = time.monotonic()
        p = self.pulumi("preview", "--expect-no-changes", log="preview-nochange.log", check=False)
        self.check(
            "preview --expect-no-changes right after up",
            p.returncode == 0,
            f"rc {p.returncode} in {time.monotonic() - t:.1f} s"
            + ("" if p.returncode == 0 else ": " + changed_lines(p.stdout)),
        )

    def check_failover(self) -> None:
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        backup = next(n for n, v in nodes.items() if v.get("role") == "BACKUP")
        t = time.monotonic()
        self.virsh("destroy", nodes[master]["domain"])
        seen = ("", "")
        while time.monotonic() - t < FAILOVER_LIMIT:
            seen = self.vip_get(timeout=2)
            if seen[0] == backup:
                break
            time.sleep(0.5)
        took = time.monotonic() - t
        self.check(
            f"virsh destroy of the MASTER: the VIP answers from {backup}"
            + (" (HTTPS, verified)" if self.tls_name else ""),
            seen[0] == backup,
            f"after {took:.1f} s: X-Served-By {seen[0] or '-'}, "
            f"backend {seen[1] or '-'} (limit {FAILOVER_LIMIT:.0f} s)",
        )
        self.phase("failover: MASTER destroyed to VIP served by BACKUP", took)
        self.check_status(backup, "after the failover")
        self.virsh("start", nodes[master]["domain"], check=False)
