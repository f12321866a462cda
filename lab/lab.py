"""The lab: a stack's nodes as network namespaces on one host, real daemons inside.

One namespace per node (load balancers, backends) and one for a client, all wired
by veth pairs to a bridge that lives in a switch namespace of its own; nothing is
added to the root namespace. Each load balancer runs the keepalived the project's
install script built (else the distribution's) and nginx; each backend runs a real
Tomcat with its own CATALINA_BASE. Files are rendered by the same functions the
program uses, with a per-node :class:`Layout` that points into the run folder.

:class:`Lab` puts the parts together and is what the scenarios, the tests and the
benches hold: the nodes (lab/nodes.py), the files it writes for each (lab/files.py),
their daemons (lab/start.py), the program's steps it runs itself (lab/steps.py), the
run folder and ``down`` (lab/rundir.py), the text status (lab/status_text.py).

Run folder: ``.run/lab/<stack>/`` (gitignored) with ``lab.json`` (what was made),
``pids`` (every process the lab started, with its network namespace), and one
folder per node (config, pid files, logs).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab import daemons, files, network, nodes, rundir, start, status_text, steps
from lab.client import wait_serving
from lab.config import LabSettings, lab_settings
from lab.errors import LabError
from lab.nodes import LabNode
from lab.rundir import RUN_ROOT
from nginx_ha.render.plan import stack_ca
from nginx_ha.topology import Topology, build_topology
from support import netns


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"`python -m lab {what}` needs root (it creates network namespaces and runs "
            "keepalived, nginx and Tomcat in them): run it with sudo"
        )


class Lab:
    def __init__(
        self,
        stack: str = "dev",
        profile: str | None = None,
        run_root: Path = RUN_ROOT,
        instance: str | None = None,
        start_timeout: float = 60,
        overrides: dict | None = None,
    ):
        """``instance`` names the run folder and namespaces (default: the stack), so
        the tests' lab never touches a developer's. ``start_timeout``: how long ``up``
        waits for each Tomcat, then for the VIP (longer under software emulation).
        ``overrides``: settings on top of the profile's, as in a stack file."""
        self.stack = stack
        self.instance = instance or stack
        self.run_dir = run_root / self.instance
        self.pids = self.run_dir / rundir.PIDS  # every process the lab started
        # A lab that is up keeps the profile it was started with.
        self.profile_name = profile or rundir.saved(self.run_dir, "profile") or "ours"
        self.prefix = nodes.ns_prefix(self.instance)
        self.switch = f"{self.prefix}switch"
        self.client = f"{self.prefix}client"
        self._cfg: LabSettings | None = None
        self._topo: Topology | None = None
        self._nodes: dict[str, LabNode] | None = None
        self.keepalived_bin, self.keepalived_version = "", (0, 0, 0)
        self.up_phases: list[tuple[str, float]] = []
        self.start_timeout = start_timeout
        self.overrides = overrides

    # ------------------------------------------------------------------ model

    def load(self) -> None:
        """Settings, topology and per-node layouts (no side effects)."""
        if self._cfg is not None:
            return
        self.keepalived_bin, self.keepalived_version = daemons.keepalived_binary()
        ipvs = daemons.keepalived_has_ipvs(self.keepalived_bin)
        self._cfg = lab_settings(
            self.stack, self.profile_name, self.keepalived_version, extra=self.overrides
        )
        self._topo = build_topology(
            self._cfg.settings,
            keepalived_version=self.keepalived_version,
            keepalived_ipvs=ipvs,
        )
        self._nodes = nodes.lab_nodes(self._topo, self.run_dir, self.prefix, self.keepalived_bin)

    @property
    def cfg(self) -> LabSettings:
        self.load()
        assert self._cfg is not None
        return self._cfg

    @property
    def topo(self) -> Topology:
        self.load()
        assert self._topo is not None
        return self._topo

    @property
    def nodes(self) -> dict[str, LabNode]:
        self.load()
        assert self._nodes is not None
        return self._nodes

    @property
    def lbs(self) -> list[LabNode]:
        """The nodes that take part in VRRP (the topology's load balancers)."""
        return [self.nodes[n.name] for n in self.topo.load_balancers]

    @property
    def backends(self) -> list[LabNode]:
        """nginx's upstream servers (the topology's backends)."""
        return [self.nodes[n.name] for n in self.topo.backends]

    @property
    def master(self) -> LabNode:
        return self.nodes[self.topo.master.name]

    @property
    def backup_lb(self) -> LabNode:
        return next(n for n in self.lbs if n.node.name != self.topo.master.name)

    @property
    def primary(self) -> LabNode:
        return next(n for n in self.backends if n.node.role == "primary")

    @property
    def backup_backend(self) -> LabNode:
        return next(n for n in self.backends if n.node.role == "backup")

    @property
    def vip(self) -> str:
        return str(self.topo.vip)

    @property
    def url(self) -> str:
        return self.url_for(self.vip)

    @property
    def vips(self) -> list[str]:
        """Every VIP (active-active: one VRRP instance each), the first is ``vip``."""
        return [str(i.vip) for i in self.topo.instances]

    def url_for(self, vip: str) -> str:
        """What the client asks of ``vip``: over HTTPS with nginx-ha:tls (the server name
        and the CA in ``probe_args``)."""
        tls = self.topo.tls
        if tls is not None:
            return f"https://{vip}:{tls.port}/"
        return f"http://{vip}:{self.topo.nginx.port}/"

    @property
    def client_ca(self) -> Path:
        """The trust anchors of the lab's client: the stack's CA (tls.selfSigned), or
        the stack's tls.ca."""
        return self.run_dir / "client" / "ca.pem"

    @property
    def probe_args(self) -> list[str]:
        """The request loop's TLS options (none without nginx-ha:tls): the first server
        name, sent and verified; the stack's CA; each connection offered the last one's
        session (so a failover that loses the sessions shows)."""
        tls = self.topo.tls
        if tls is None:
            return []
        return ["--servername", tls.gate_names[0], "--cafile", str(self.client_ca), "--resume"]

    # ---------------------------------------------------------------- render

    def render(self, out: Path | None = None) -> dict[str, str]:
        """Every file of every node, by path (under ``out`` when given, else the
        node's run folder). Pure: writes nothing."""
        return files.render(self.nodes.values(), self.cfg, self.topo, self.run_dir, out)

    def write_render(self, out: Path) -> list[Path]:
        """Every file of every node written under ``out`` as `up` writes it (its bytes
        and its mode); the paths written."""
        return [
            p
            for ln in self.nodes.values()
            for p in files.write(ln, self.node_files(ln), out=out, run_dir=self.run_dir)
        ]

    def node_files(self, ln: LabNode) -> dict[str, str]:
        """What the lab writes for a node (lab/files.py)."""
        return files.node_files(ln, self.cfg, self.topo)

    def lvs_unavailable(self) -> str | None:
        """Why the LVS mode cannot run here (None: it can)."""
        return steps.lvs_unavailable(self.topo, self.keepalived_bin)

    # -------------------------------------------------------------- up/down

    def up(self, log=print) -> float:
        """Build the lab and wait until the VIP serves; returns seconds to serving."""
        require_root("up")
        t0 = time.monotonic()
        self.load()
        if self.topo.lvs is not None and self.lvs_unavailable():
            raise LabError(f"the LVS profile cannot run here: {self.lvs_unavailable()}")
        if rundir.leftovers(self.run_dir, self.prefix):
            log(f"lab {self.stack}: leftovers of an earlier run; removing them first")
            self.down(log=lambda *_: None)
        for note in self.cfg.notes:
            log(note)
        rundir.make(self.run_dir, self._state())
        marks = [("start", t0)]

        def mark(what: str) -> None:
            marks.append((what, time.monotonic()))

        try:
            self._network()
            mark("network")
            self._write_files()
            mark("files")
            if self.topo.lvs is not None:
                for lb in self.lbs:
                    steps.lvs_realserver(lb, self.topo)
                mark("LVS real servers")
            if not self.cfg.profile.tutorial:
                for lb in self.lbs:
                    steps.vip_hold(lb, self.topo, "up")
            start.start_all(
                self.lbs, self.backends, self.master, self.pids, self.cfg.profile.tutorial
            )
            mark("daemons started")
            # Tomcat first: requests through nginx before it listens would mark both
            # servers failed for fail_timeout (10 s of "no live upstreams").
            start.wait_tomcats(self.backends, self.start_timeout)
            mark("Tomcat answers")
            wait_serving(self, timeout=self.start_timeout)
            mark("VIP serves")
        except BaseException:
            log("lab up failed; tearing down what was made (logs kept in the run folder)")
            self.down(log=lambda *_: None, keep_logs=True)
            raise
        self.up_phases = [(w, t - marks[i][1]) for i, (w, t) in enumerate(marks[1:])]
        log("up: " + ", ".join(f"{w} +{d:.2f} s" for w, d in self.up_phases))
        return time.monotonic() - t0

    def _state(self) -> dict:
        """What ``up`` records of the run in its folder (lab.json)."""
        return {
            "stack": self.stack,
            "profile": self.profile_name,
            "namespaces": [self.switch, self.client, *(n.ns for n in self.nodes.values())],
            "keepalived": [self.keepalived_bin, list(self.keepalived_version)],
        }

    def _network(self) -> None:
        network.wire(self.switch, nodes.members(self.topo, self.nodes, self.client))

    def _write_files(self) -> None:
        for ln in self.nodes.values():
            files.write(ln, self.node_files(ln))
            nodes.prepare(ln)
        tls = self.topo.tls
        if tls is not None:  # what the client trusts: the stack's CA, or tls.ca
            if not tls.self_signed and not tls.ca:
                raise LabError(
                    "the lab's client trusts no CA of the system's: with tls.certificate "
                    "the lab needs the issuing CA in tls.ca"
                )
            self.client_ca.parent.mkdir(parents=True, exist_ok=True)
            seed = self.cfg.secrets["sshHostKeySeed"]
            self.client_ca.write_text(
                stack_ca(self.topo, seed) if tls.self_signed else tls.ca or ""
            )

    def down(self, log=print, keep_logs: bool = False) -> None:
        """Remove every process, namespace and file the lab made (also after a crash)."""
        require_root("down")
        namespaces, removed, last = rundir.down(self.run_dir, self.prefix, keep_logs)
        kept = f"; logs of this run kept in {last}" if last else ""
        log(
            f"lab {self.stack}: down ({len(namespaces)} namespaces, {len(removed)} "
            f"processes removed{kept})"
        )

    @property
    def last_dir(self) -> Path:
        """Where `down` keeps the last run's folder."""
        return rundir.last_dir(self.run_dir)

    # ---------------------------------------------------------------- status

    def vip_holders(self, vip: str | None = None) -> list[str]:
        """The load balancers holding ``vip`` (default: the first VIP) on their LAN
        interface (under LVS every node also has it on lo, which does not count)."""
        vip = vip or self.vip
        return [lb.node.name for lb in self.lbs if network.holds(lb.ns, vip)]

    def port_up(self, ln: LabNode) -> bool:
        return network.port_up(self.switch, ln.port)

    def status(self) -> str:
        self.load()
        if not netns.exists(self.switch):
            return f"lab {self.stack}: not running"
        return status_text.text(self)
