"""The end-to-end run's changes (sandbox/e2e.py, docs/e2e.md), each rolled out by
``pulumi up`` while a request loop runs through the VIP (sandbox/vip_loop.py): a working
nginx change (only the rollout's steps change; no failed request; the VIP stays with the
MASTER; the setting live), a broken one (stopped and rolled back at the first load
balancer's gate, the MASTER untouched) and its revert; the user's application deployed
in place of the node page, then a new build of it. What a change may touch on a load
balancer comes from ``sandbox/templates/lb_facts.sh``.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from nginx_ha.render.params import script_text
from nginx_ha.topology import Layout
from sandbox import config
from sandbox.e2e_driver import LIMITS, Driver, changed_lines, tail
from sandbox.vip_loop import VipLoop, loop_text
from support.war import build_war

# The request loop through the VIP runs during each change (sandbox/vip_loop.py); it
# ends by itself after this many seconds even if nobody stops it.
LOOP_LIMIT = LIMITS["up-change"] + 60
# The broken change: an nginx setting that passes `nginx -t` but cannot serve. A 1 ms
# proxy_read_timeout: no Tomcat of an emulated VM answers that fast, so every request
# through that nginx ends in 504 (both backends time out) while its local health
# location still answers 200 (issue 13: keepalived's check alone would keep the VIP
# there). The rollout's gate must catch it at the first load balancer.
BROKEN_READ_TIMEOUT = "0.001"
# The working change, and the value the revert goes back to: the stack's readTimeout is
# 5 s (Pulumi.sandbox.yaml); a Tomcat in an emulated VM can take over a second.
CHANGED_READ_TIMEOUT = "4"
# The application's builds (support/war.py), and the request loop during their deploys:
# every fourth request a POST, the backend named by the page's node= line.
APP_VERSIONS = ("1.0.0", "2.0.0")
APP_LOOP = ("--post-every", "4", "--marker", "node")


def lb_facts_script() -> str:
    """sandbox/templates/lb_facts.sh as a load balancer runs it (as its user, on stdin)."""
    return script_text(config.TEMPLATES.file("lb_facts.sh"), {"NGINX_CONF": Layout().nginx_conf})


def _holds(ip_addr_text: str, vip_pattern: str) -> bool:
    """Whether ``ip -o -4 addr show`` names the VIP on an interface other than lo."""
    return any(
        m.group(1) != "lo"
        for m in re.finditer(rf"^\d+:\s+(\S+)\s+inet {vip_pattern}/", ip_addr_text, re.M)
    )


class Changes(Driver):
    """Changes rolled out under a request loop, and what they touched."""

    def lb_roles(self) -> tuple[str, str]:
        """(the MASTER, the load balancer the rollout activates first: the BACKUP)."""
        nodes = self.outputs["nodes"]
        master = next(n for n, v in nodes.items() if v.get("role") == "MASTER")
        first = next(n for n, v in nodes.items() if v.get("role") == "BACKUP")
        return master, first

    def vip_holders(self) -> list[str]:
        """The load balancers that have the VIP on an interface now (over SSH). Not
        lo: every load balancer keeps a copy there (vrrp_state.sh, "linger"), which
        answers no ARP; the holder is the one with it on its VRRP interface."""
        vip = re.escape(str(self.outputs["vip"]))
        held = []
        for name, n in self.outputs["nodes"].items():
            if n.get("role") in ("MASTER", "BACKUP"):
                text = self.ssh(n["ip"], "ip -o -4 addr show", timeout=30)
                if _holds(text, vip):
                    held.append(name)
        return held

    def lb_facts(self, name: str) -> dict[str, str]:
        """What a change may touch on a load balancer: the live nginx.conf's digest and
        read timeout, and the PIDs of nginx's master process and of keepalived."""
        text = self.ssh(
            self.outputs["nodes"][name]["ip"], "bash -s", timeout=30, input=lb_facts_script()
        )
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def loop_url(self) -> str:
        """The request loop's URL: the VIP itself (over HTTPS its name goes in
        loop_args)."""
        if self.tls_name is None:
            return self.outputs["url"]
        port = urlsplit(str(self.outputs["url"])).port or 443
        return f"https://{self.outputs['vip']}:{port}/"

    def loop_args(self) -> list[str]:
        """Over HTTPS: the name sent and verified, the stack's CA, sessions resumed."""
        if self.tls_name is None:
            return []
        return ["--servername", self.tls_name, "--cafile", str(self.tls_ca()), "--resume"]

    def set_read_timeout(self, value: str) -> None:
        self.pulumi("config", "set", "--path", "nginx.readTimeout", value)

    def up_under_loop(
        self, label: str, log: str, extra: Sequence[str] = ()
    ) -> tuple[subprocess.CompletedProcess, dict]:
        """``pulumi up`` (allowed to fail) while the request loop runs through the VIP,
        with the VIP's holder before and after; returns the run and the loop's figures
        (also kept for the summary)."""
        before = self.vip_holders()
        loop = VipLoop(
            self.loop_url(),
            self.netns,
            self.env,
            self.work / f"loop-{log}.jsonl",
            LOOP_LIMIT,
            [*self.loop_args(), *extra],
        )
        t = time.monotonic()
        try:
            time.sleep(1.0)  # a second of service before the change
            p, _ = self.pulumi_run("up", log=log, limit="up-change", check=False)
            took = time.monotonic() - t - 1.0
            time.sleep(2.0)  # and after it
        finally:
            figures = loop.stop()
        figures.update(holder_before=before, holder_after=self.vip_holders(), up_seconds=took)
        self.loops[label] = figures
        self.out(f"== request loop during {label}: {loop_text(figures)}")
        return p, figures

    def preview_changes(self, log: str) -> tuple[subprocess.CompletedProcess, list[str]]:
        """``pulumi preview --json`` (kept in ``log``) and the names of the resources it
        would change."""
        p = self.pulumi("preview", "--json", check=False)
        (self.work / log).write_text(p.stdout + p.stderr)
        try:
            steps = json.loads(p.stdout).get("steps", [])
        except json.JSONDecodeError:
            steps = []
        changed = {
            s["urn"].rsplit("::", 1)[1]
            for s in steps
            if s.get("op") not in ("same", "read")
            and not s["urn"].rsplit("::", 1)[0].endswith("pulumi:pulumi:Stack")
        }
        return p, sorted(changed)

    def check_nginx_change(self) -> None:
        master, _ = self.lb_roles()
        self.set_read_timeout(CHANGED_READ_TIMEOUT)
        p, changed = self.preview_changes("preview-nginx.json")
        # The rollout: nginx.conf uploaded and staged (validated) on both, then each
        # node's activation (the MASTER's after the BACKUP's gate), the handbacks and
        # the smoke test.
        allowed = re.compile(
            r"^(nginx-(master|backup)-(nginx-conf(-upload|-stage)?|activate|handback)"
            r"|nginx-ha-smoke)$"
        )
        self.check(
            "changed nginx setting updates only the nginx-conf steps, the activations and "
            "handbacks of the load balancers (+ smoke test)",
            bool(changed)
            and all(allowed.match(c) for c in changed)
            and any("nginx-conf" in c for c in changed),
            ", ".join(changed) or f"no steps (rc {p.returncode})",
        )
        p, loop = self.up_under_loop("the nginx change", "up-nginx.log")
        if p.returncode != 0:
            raise RuntimeError(f"pulumi up after the nginx change failed:\n{tail(p.stdout)}")
        self.phase("up after the nginx change", loop["up_seconds"], loop_text(loop))
        self.check(
            "request loop through the VIP during the nginx change: no failed request",
            loop["sent"] > 0 and loop["failed"] == 0,
            loop_text(loop),
        )
        self.check(
            "the VIP is with the MASTER before and after the nginx change",
            loop["holder_before"] == [master] == loop["holder_after"],
            f"before {loop['holder_before']}, after {loop['holder_after']}",
        )
        read = self.lb_facts(master).get("read", "")
        self.check(
            "the new nginx setting is live on the MASTER",
            read == f"proxy_read_timeout {CHANGED_READ_TIMEOUT}s",
            read or "no proxy_read_timeout",
        )

    def check_broken_change(self) -> None:
        """A change that passes `nginx -t` but cannot serve must stop at the first load
        balancer's activation, rolled back there, with the VIP never failing."""
        master, first = self.lb_roles()
        before = {n: self.lb_facts(n) for n in (master, first)}
        self.set_read_timeout(BROKEN_READ_TIMEOUT)
        p, loop = self.up_under_loop("the broken change", "up-broken.log")
        after = {n: self.lb_facts(n) for n in (master, first)}
        self.phase(
            f"up with the broken change (nginx.readTimeout {BROKEN_READ_TIMEOUT}), stopped",
            loop["up_seconds"],
            loop_text(loop),
        )
        said = re.search(
            rf"nginx-ha: {re.escape(first)}: (activating \S+ failed its gate: .*)", p.stdout
        )
        report = said.group(1).strip() if said else ""
        self.check(
            f"broken change: up fails at {first}-activate with the gate's message",
            p.returncode != 0
            and f"{first}-activate" in p.stdout
            and "Rolled back: the previous version is back and passes the gate" in report,
            f"rc {p.returncode}: {report[:600] or tail(p.stdout, 8)}",
        )
        self.check(
            "broken change: no failed request through the VIP",
            loop["sent"] > 0 and loop["failed"] == 0,
            loop_text(loop),
        )
        served = {lb for _, lb in loop["served_by"]}
        self.check(
            "broken change: the MASTER untouched",
            after[master] == before[master]
            and loop["holder_before"] == [master] == loop["holder_after"]
            and served == {master},
            f"{master}: nginx.conf {before[master].get('conf')} -> {after[master].get('conf')}, "
            f"nginx pid {before[master].get('nginx')} -> {after[master].get('nginx')}, "
            f"keepalived pid {before[master].get('keepalived')} -> "
            f"{after[master].get('keepalived')}; VIP before {loop['holder_before']}, after "
            f"{loop['holder_after']}; answered by {sorted(served)}",
        )
        self.check(
            f"broken change: {first} rolled back (its nginx.conf is the previous one)",
            after[first].get("conf") == before[first].get("conf")
            and after[first].get("read") == f"proxy_read_timeout {CHANGED_READ_TIMEOUT}s",
            f"nginx.conf {before[first].get('conf')} -> {after[first].get('conf')} "
            f"({after[first].get('read') or 'no proxy_read_timeout'})",
        )
        # Reverted, `up` passes again, with the loop running.
        self.set_read_timeout(CHANGED_READ_TIMEOUT)
        p, loop = self.up_under_loop("the revert", "up-revert.log")
        self.phase("up after reverting the broken change", loop["up_seconds"], loop_text(loop))
        self.check(
            f"revert (nginx.readTimeout {CHANGED_READ_TIMEOUT}): up passes, no failed request "
            "through the VIP",
            p.returncode == 0 and loop["sent"] > 0 and loop["failed"] == 0,
            f"rc {p.returncode}; {loop_text(loop)}"
            + ("" if p.returncode == 0 else f": {tail(p.stdout, 8)}"),
        )
        q = self.pulumi("preview", "--expect-no-changes", log="preview-revert.log", check=False)
        self.check(
            "preview --expect-no-changes after the revert",
            q.returncode == 0,
            f"rc {q.returncode}" + ("" if q.returncode == 0 else ": " + changed_lines(q.stdout)),
        )

    # ------------------------------------------------------------ the application

    def check_app_deploy(self) -> None:
        """The user's application (nginx-ha:app, the test application of support/war.py)
        deployed in place of the node page, then a new build, each by ``pulumi up``
        under the request loop with every fourth request a POST: no failed request, the
        backends one at a time, the preview of the new build listing only the
        application's steps, the outputs naming the version each backend unpacked."""
        wars = {v: build_war(self.work / "wars" / f"app-{v}.war", v) for v in APP_VERSIONS}
        first, second = APP_VERSIONS
        self.pulumi("config", "set", "--path", "app.war", str(wars[first]))
        self.pulumi("config", "set", "--path", "app.healthPath", "/health")
        p, loop = self.up_under_loop(f"the application {first}", "up-app-first.log", APP_LOOP)
        self.phase(f"up deploying the application {first}", loop["up_seconds"], loop_text(loop))
        self.check(
            f"the application {first} in place of the node page: up passes, no failed "
            "request (GET and POST) through the VIP",
            p.returncode == 0 and loop["sent"] > 0 and loop["posts"] > 0 and loop["failed"] == 0,
            f"rc {p.returncode}; {loop_text(loop)}; POST {loop['posts']} "
            f"({loop['failed_posts']} failed); versions {loop['versions']}"
            + ("" if p.returncode == 0 else f": {tail(p.stdout, 8)}"),
        )
        self.pulumi("config", "set", "--path", "app.war", str(wars[second]))
        q, changed = self.preview_changes("preview-app.json")
        allowed = re.compile(
            r"^(tomcat-(primary|backup)-(app-war-upload|app-stage|app-context-(upload|stage)"
            r"|activate)|nginx-(master|backup)-handback|nginx-ha-smoke)$"
        )
        self.check(
            f"a new build ({second}): the preview lists only the backends' application "
            "steps and activations (+ handbacks, smoke test)",
            bool(changed) and all(allowed.match(c) for c in changed),
            ", ".join(changed) or f"no steps (rc {q.returncode})",
        )
        p, loop = self.up_under_loop(f"the application {second}", "up-app-second.log", APP_LOOP)
        self.phase(f"up deploying the application {second}", loop["up_seconds"], loop_text(loop))
        outputs = json.loads(self.pulumi("stack", "output", "--json").stdout)
        versions = {
            b: v.get("version") for b, v in (outputs.get("app") or {}).get("backends", {}).items()
        }
        self.check(
            f"the application {first} -> {second}: up passes, no failed request (GET and "
            "POST), every backend serves it after",
            p.returncode == 0
            and loop["posts"] > 0
            and loop["failed"] == 0
            and loop["last_version"] == second
            and set(versions.values()) == {second},
            f"rc {p.returncode}; {loop_text(loop)}; POST {loop['posts']} "
            f"({loop['failed_posts']} failed); versions seen {loop['versions']}; outputs "
            f"{versions}" + ("" if p.returncode == 0 else f": {tail(p.stdout, 8)}"),
        )
