"""The lab: a stack's nodes as network namespaces on one host, real daemons inside.

One namespace per node (load balancers, backends) and one for a client, all wired
by veth pairs to a bridge that lives in a switch namespace of its own; nothing is
added to the root namespace. Each load balancer runs the keepalived the project's
install script built (else the distribution's) and nginx; each backend runs a real
Tomcat with its own CATALINA_BASE. Files are rendered by the same functions the
program uses, with a per-node :class:`Layout` that points into the run folder.

Run folder: ``.run/lab/<stack>/`` (gitignored) with ``lab.json`` (what was made),
``pids`` (every process the lab started, with its network namespace), and one
folder per node (config, pid files, logs).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lab import netns, tutorial
from lab.config import ROOT, LabSettings, lab_settings
from lab.netns import LabError
from nginx_ha import render
from nginx_ha.render import script
from nginx_ha.render.params import LVS_SCRIPT, lvs_params, param_header
from nginx_ha.topology import Layout, Node, Topology, build_topology

RUN_ROOT = ROOT / ".run" / "lab"
PROJECT_KEEPALIVED = Path("/usr/local/keepalived/sbin/keepalived")
DISTRO_KEEPALIVED = Path("/usr/sbin/keepalived")
NGINX_BIN = "/usr/sbin/nginx"
CATALINA_HOME = Path("/usr/share/tomcat10")
TOMCAT_CONF_SOURCES = (Path("/etc/tomcat10"), CATALINA_HOME / "etc")
# Fast JVM start for a lab (C1 only, serial GC, small heap): ~1.5 s to the first 200.
TOMCAT_JAVA_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m -Djava.awt.headless=true"
BRIDGE = "br0"
IFACE = "eth0"


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise LabError(
            f"`python -m lab {what}` needs root (it creates network namespaces and runs "
            "keepalived, nginx and Tomcat in them): run it with sudo"
        )


def keepalived_options(binary: str) -> set[str]:
    """Short options this keepalived build accepts (a VRRP-only build has no -P/-c)."""
    res = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return set(re.findall(r"^\s+(-\w),", res.stdout + res.stderr, re.M))


def keepalived_has_ipvs(binary: str) -> bool:
    """The build has IPVS (LVS): `--version` lists LVS among its config options."""
    try:
        res = subprocess.run([binary, "--version"], capture_output=True, text=True)
    except OSError:
        return False
    m = re.search(r"^Config options:(.*)$", res.stdout + res.stderr, re.M)
    return bool(m and "LVS" in m.group(1).split())


def keepalived_binary() -> tuple[str, tuple[int, int, int]]:
    """The keepalived to run: the project-built one if installed, else Debian's."""
    for path in (PROJECT_KEEPALIVED, DISTRO_KEEPALIVED):
        if path.exists():
            res = subprocess.run([str(path), "--version"], capture_output=True, text=True)
            m = re.search(r"Keepalived v(\d+)\.(\d+)\.(\d+)", res.stdout + res.stderr)
            if m:
                a, b, c = (int(x) for x in m.groups())
                return str(path), (a, b, c)
    raise LabError(
        "no keepalived found: run the project's install script (templates/scripts/"
        "install_keepalived.sh) or `apt-get install keepalived`"
    )


def ns_prefix(instance: str) -> str:
    return f"nha-{instance}-"


@dataclass(frozen=True)
class LabNode:
    node: Node
    ns: str
    port: str  # the switch-side veth, in the switch namespace
    dir: Path
    layout: Layout


def lab_layout(
    d: Path,
    keepalived_bin: str,
) -> Layout:
    """A node's Layout in the lab: every path under the node's run folder."""
    ng = d / "nginx"
    ka = d / "keepalived"
    return Layout(
        auth_pass_file=str(ka / "vrrp-auth-pass.conf"),
        keepalived_state_dir=str(ka / "state"),
        interface=IFACE,
        keepalived_bin=keepalived_bin,
        keepalived_conf=str(ka / "keepalived.conf"),
        check_script=str(ka / "check_nginx.sh"),
        watch_script=str(ka / "nginx_watch.sh"),
        health_file=str(ka / "state" / "nginx-health"),
        notify_script=str(ka / "notify.sh"),
        auth_key_file=str(ka / "vrrp-auth.key"),
        script_user="root",
        nginx_bin=NGINX_BIN,
        nginx_conf=str(ng / "nginx.conf"),
        nginx_pid=str(ng / "nginx.pid"),
        nginx_log_dir=str(ng / "log"),
        nginx_mime_types="/etc/nginx/mime.types",
        nginx_restart=str(ng / "restart.sh"),
        tomcat_webapps=str(d / "tomcat" / "webapps"),
        nginx_user="www-data",
        nginx_temp_dir=str(ng / "temp"),
    )


# The lab's nginx "restart": what `systemctl restart nginx` does on a Debian VM
# (nginx.service: ExecStop=start-stop-daemon --stop --retry QUIT/5 --pidfile, i.e.
# QUIT, up to 5 s, then KILL), for this node only (its own pid file, checked to be in
# this namespace), then a start with this node's -e/-p/-c. Not a project file: the
# lab generates it per node and passes it as Layout.nginx_restart.
RESTART_SCRIPT = """#!/bin/bash
# generated by the nginx-ha lab: restart this node's nginx (the lab's systemctl restart)
set -u
pidfile={pid}
if [ -s "$pidfile" ]; then
  pid=$(cat "$pidfile")
  if [ -e "/proc/$pid/ns/net" ] && [ "$(stat -L -c %i /proc/$pid/ns/net)" = "$(stat -L -c %i /proc/self/ns/net)" ]; then
    kill -QUIT "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      kids=$(awk -v p="$pid" '$4 == p {{print $1}}' /proc/[0-9]*/stat 2>/dev/null)
      kill -KILL "$pid" $kids 2>/dev/null
      sleep 0.1
    fi
  fi
fi
exec {nginx} -e {log}/error.log -p {prefix}/ -c {conf}
"""


class Lab:
    def __init__(
        self,
        stack: str = "dev",
        profile: str | None = None,
        run_root: Path = RUN_ROOT,
        instance: str | None = None,
    ):
        """``instance`` names the run folder and namespaces (default: the stack), so
        the tests' lab never touches a developer's."""
        self.stack = stack
        self.instance = instance or stack
        self.run_dir = run_root / self.instance
        # A lab that is up keeps the profile it was started with.
        self.profile_name = profile or self._saved("profile") or "ours"
        self.prefix = ns_prefix(self.instance)
        self.switch = f"{self.prefix}switch"
        self.client = f"{self.prefix}client"
        self._cfg: LabSettings | None = None
        self._topo: Topology | None = None
        self._nodes: dict[str, LabNode] | None = None
        self.keepalived_bin, self.keepalived_version = "", (0, 0, 0)
        self.up_phases: list[tuple[str, float]] = []

    # ------------------------------------------------------------------ model

    def _saved(self, key: str) -> str | None:
        try:
            return json.loads((self.run_dir / "lab.json").read_text()).get(key)
        except (OSError, ValueError):
            return None

    def load(self) -> None:
        """Settings, topology and per-node layouts (no side effects)."""
        if self._cfg is not None:
            return
        self.keepalived_bin, self.keepalived_version = keepalived_binary()
        ipvs = keepalived_has_ipvs(self.keepalived_bin)
        self._cfg = lab_settings(self.stack, self.profile_name, self.keepalived_version)
        self._topo = build_topology(
            self._cfg.settings,
            keepalived_version=self.keepalived_version,
            keepalived_ipvs=ipvs,
        )
        nodes = {}
        for i, n in enumerate(self._topo.nodes):
            d = self.run_dir / n.name
            nodes[n.name] = LabNode(
                n,
                f"{self.prefix}{n.name}",
                f"p{i}",
                d,
                lab_layout(d, self.keepalived_bin),
            )
        self._nodes = nodes

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
        return [n for n in self.nodes.values() if n.node.is_load_balancer]

    @property
    def backends(self) -> list[LabNode]:
        return [n for n in self.nodes.values() if not n.node.is_load_balancer]

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
        return f"http://{self.vip}:{self.topo.nginx.port}/"

    @property
    def vips(self) -> list[str]:
        """Every VIP (active-active: one VRRP instance each), the first is ``vip``."""
        return [str(i.vip) for i in self.topo.instances]

    def url_for(self, vip: str) -> str:
        return f"http://{vip}:{self.topo.nginx.port}/"

    def client_ip(self) -> ipaddress.IPv4Address:
        net = self.topo.network
        vips = {i.vip for i in self.topo.instances}
        used = {n.ip for n in self.topo.nodes} | vips | {net.gateway}
        for host in reversed(list(net.cidr.hosts())):
            if host not in used:
                return host
        raise LabError(f"no free address for the lab's client in {net.cidr}")

    # ---------------------------------------------------------------- render

    def render(self, out: Path | None = None) -> dict[str, str]:
        """Every file of every node, by path (under ``out`` when given, else the
        node's run folder). Pure: writes nothing."""
        files: dict[str, str] = {}
        for ln in self.nodes.values():
            for path, text in self.node_files(ln).items():
                if out is not None:
                    path = str(out / Path(path).relative_to(self.run_dir))
                files[path] = text
        return files

    def node_files(self, ln: LabNode) -> dict[str, str]:
        secrets = {"vrrpAuthPass": self.cfg.auth_secret} if self.cfg.auth_secret else {}
        files = render.node_files(self.topo, ln.node, ln.layout, secrets)
        lay = ln.layout
        if ln.node.is_load_balancer:
            if self.cfg.profile.tutorial:
                # The tutorial's keepalived.conf and check script, for comparison only.
                files = {k: v for k, v in files.items() if k not in tutorial.replaced(lay)}
                files.update(tutorial.files(self.topo, ln.node, lay))
            files[lay.nginx_restart] = RESTART_SCRIPT.format(
                pid=lay.nginx_pid,
                nginx=lay.nginx_bin,
                log=lay.nginx_log_dir,
                prefix=str(Path(lay.nginx_conf).parent),
                conf=lay.nginx_conf,
            )
        return files

    # -------------------------------------------------------------- up/down

    def up(self, log=print) -> float:
        """Build the lab and wait until the VIP serves; returns seconds to serving."""
        require_root("up")
        t0 = time.monotonic()
        self.load()
        if self.topo.lvs is not None and self.lvs_unavailable():
            raise LabError(f"the LVS profile cannot run here: {self.lvs_unavailable()}")
        if netns.listed(self.prefix) or (self.run_dir / "lab.json").exists():
            log(f"lab {self.stack}: leftovers of an earlier run; removing them first")
            self.down(log=lambda *_: None)
        for note in self.cfg.notes:
            log(note)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o755)  # noqa: S103 - keepalived: scripts' folders root-only writable
        self._write_state()
        marks = [("start", t0)]

        def mark(what: str) -> None:
            marks.append((what, time.monotonic()))

        try:
            self._network()
            mark("network")
            self._write_files()
            mark("files")
            if self.topo.lvs is not None:
                self.lvs_realservers()
                mark("LVS real servers")
            for b in self.backends:
                self.start_tomcat(b)
            for lb in self.lbs:
                self.start_nginx(lb)
            if not self.cfg.profile.tutorial:
                for lb in self.lbs:
                    self.start_watcher(lb)
            self.validate_keepalived()
            # The MASTER first: with the tutorial's equal priorities the first wins.
            for lb in sorted(self.lbs, key=lambda n: n is not self.master):
                self.start_keepalived(lb)
            mark("daemons started")
            # Tomcat first: requests through nginx before it listens would mark both
            # servers failed for fail_timeout (10 s of "no live upstreams").
            deadline = time.monotonic() + 60
            for b in self.backends:
                while not self.tomcat_answers(b):
                    if time.monotonic() > deadline:
                        raise LabError(
                            f"Tomcat {b.node.name} did not answer within 60 s: see "
                            f"{b.dir / 'tomcat' / 'logs'}"
                        )
                    time.sleep(0.05)
            mark("Tomcat answers")
            from lab.probe import wait_serving

            wait_serving(self, timeout=60)
            mark("VIP serves")
        except BaseException:
            log("lab up failed; tearing down what was made (logs kept in the run folder)")
            self.down(log=lambda *_: None, keep_logs=True)
            raise
        self.up_phases = [(w, t - marks[i][1]) for i, (w, t) in enumerate(marks[1:])]
        log("up: " + ", ".join(f"{w} +{d:.2f} s" for w, d in self.up_phases))
        return time.monotonic() - t0

    def lvs_unavailable(self) -> str | None:
        """Why the LVS mode cannot run here (None: it can)."""
        if not Path("/proc/net/ip_vs").exists():
            return "this kernel has no IPVS (/proc/net/ip_vs is missing)"
        if not self.topo.keepalived.ipvs:
            return f"{self.keepalived_bin} is built without IPVS (LVS)"
        return None

    def lvs_realservers(self) -> None:
        """What the program's -lvs-realserver step does on a VM, in each load
        balancer's namespace with its files in the node's run folder."""

        for lb in self.lbs:
            d = lb.dir / "lvs"
            params = lvs_params(self.topo, lb.node, "up") | {
                "SYSCTL_FILE": str(d / "sysctl.conf"),
                "NFT_FILE": str(d / "lvs.nft"),
                "UNIT_PATH": str(d / "nginx-ha-lvs.service"),
            }
            netns.run(netns.in_ns(lb.ns, "bash", "-c", param_header(params) + script(LVS_SCRIPT)))

    def _write_state(self) -> None:
        state = {
            "stack": self.stack,
            "profile": self.profile_name,
            "namespaces": [self.switch, self.client, *(n.ns for n in self.nodes.values())],
            "keepalived": [self.keepalived_bin, list(self.keepalived_version)],
        }
        (self.run_dir / "lab.json").write_text(json.dumps(state, indent=2) + "\n")

    def _network(self) -> None:
        prefixlen = self.topo.prefix_len
        netns.add(self.switch)
        netns.ip("link", "add", BRIDGE, "type", "bridge", ns=self.switch)
        # No STP (ports forward at once) and no multicast snooping (tutorial VRRP
        # multicast reaches every port); short ageing not needed: GARPs update the FDB.
        netns.ip(
            "link",
            "set",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "mcast_snooping",
            "0",
            ns=self.switch,
        )
        netns.ip("link", "set", BRIDGE, "up", ns=self.switch)
        members = [(ln.ns, ln.port, str(ln.node.ip), ln.node.mac) for ln in self.nodes.values()]
        members.append((self.client, "pc", str(self.client_ip()), "52:54:00:ff:ff:fe"))
        for ns, port, addr, mac in members:
            netns.add(ns)
            netns.ip(
                "link",
                "add",
                IFACE,
                "netns",
                ns,
                "address",
                mac,
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                self.switch,
            )
            netns.ip("link", "set", port, "master", BRIDGE, "up", ns=self.switch)
            netns.ip("addr", "add", f"{addr}/{prefixlen}", "dev", IFACE, ns=ns)
            netns.ip("link", "set", IFACE, "up", ns=ns)

    def _write_files(self) -> None:
        for ln in self.nodes.values():
            for path, text in self.node_files(ln).items():
                p = Path(path)
                p.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(p.parent, 0o755)  # noqa: S103 - root-only writable, readable by nginx's workers
                p.write_text(text)
                os.chmod(p, self.file_mode(ln, path))
            if ln.node.is_load_balancer:
                # The health file's folder: keepalived watches it from its start.
                health_dir = str(Path(ln.layout.health_file).parent)
                for d in (ln.layout.nginx_log_dir, ln.layout.nginx_temp_dir, health_dir):
                    Path(d).mkdir(parents=True, exist_ok=True)
            else:
                self._tomcat_base(ln)

    @staticmethod
    def file_mode(ln: LabNode, path: str) -> int:
        if path in (ln.layout.nginx_restart, tutorial.check_script_path(ln.layout)):
            return 0o755  # (the tutorial's chmod 777 is one of its defects: not copied)
        file_mode = getattr(render, "file_mode", None)
        if file_mode is not None:
            return int(file_mode(ln.layout, path), 8)
        return 0o755 if path.endswith(".sh") else 0o644

    def _tomcat_base(self, ln: LabNode) -> None:
        base = ln.dir / "tomcat"
        src = next((p for p in TOMCAT_CONF_SOURCES if (p / "server.xml").exists()), None)
        if src is None:
            raise LabError("no Tomcat configuration found (apt-get install tomcat10)")
        conf = base / "conf"
        shutil.copytree(src, conf, dirs_exist_ok=True, symlinks=False)
        server = (conf / "server.xml").read_text()
        server, n = re.subn(
            r'(<Connector port=")8080(" protocol="HTTP/1.1")', rf"\g<1>{ln.node.port}\g<2>", server
        )
        if n != 1:
            raise LabError(f"{conf / 'server.xml'}: no HTTP/1.1 connector on 8080 to re-port")
        (conf / "server.xml").write_text(server)
        # Lab start-up: no TLD/annotation scan of Tomcat's own jars (a static ROOT page
        # needs none); the later key wins in a properties file.
        with open(conf / "catalina.properties", "a") as f:
            f.write(
                "\n# nginx-ha lab: fast start\ntomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar\n"
            )
        for sub in ("logs", "temp", "work"):
            (base / sub).mkdir(parents=True, exist_ok=True)

    # --------------------------------------------------------------- daemons

    def _record(self, ns: str, pid: int, what: str) -> None:
        nid = netns.ns_id(ns)
        with open(self.run_dir / "pids", "a") as f:
            f.write(f"{pid} {nid[0] if nid else 0} {nid[1] if nid else 0} {ns} {what}\n")

    def start_tomcat(self, b: LabNode) -> int:
        base = b.dir / "tomcat"
        java = Path(shutil.which("java") or "/usr/bin/java").resolve()
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "JAVA_HOME": str(java.parent.parent),
            "CATALINA_HOME": str(CATALINA_HOME),
            "CATALINA_BASE": str(base),
            "CATALINA_TMPDIR": str(base / "temp"),
            "JAVA_OPTS": TOMCAT_JAVA_OPTS,
        }
        pid = netns.spawn(
            b.ns,
            [str(CATALINA_HOME / "bin" / "catalina.sh"), "run"],
            base / "logs" / "console.log",
            env,
        )
        (base / "tomcat.pid").write_text(f"{pid}\n")
        self._record(b.ns, pid, "tomcat")
        return pid

    def start_nginx(self, lb: LabNode) -> None:
        """Start (or restart) nginx with the same command the health check uses."""
        netns.run(netns.in_ns(lb.ns, lb.layout.nginx_restart))
        pid = netns.read_pid(Path(lb.layout.nginx_pid))
        if pid is not None:
            self._record(lb.ns, pid, "nginx")

    def tomcat_answers(self, b: LabNode) -> bool:
        """The Tomcat answers on its address (asked inside its own namespace)."""
        url = f"http://{b.node.ip}:{b.node.port}/"
        res = subprocess.run(
            netns.in_ns(b.ns, "curl", "-fsS", "-o", "/dev/null", "--max-time", "0.5", url),
            capture_output=True,
        )
        return res.returncode == 0

    def nginx_answers(self, lb: LabNode) -> bool:
        """This node's own nginx answers its health URL (asked inside its namespace)."""
        url = self.topo.nginx.health_url
        res = subprocess.run(
            netns.in_ns(lb.ns, "curl", "-fsS", "-o", "/dev/null", "--max-time", "0.5", url),
            capture_output=True,
        )
        return res.returncode == 0

    def keepalived_pidfiles(self, lb: LabNode) -> dict[str, Path]:
        d = Path(lb.layout.keepalived_conf).parent
        return {"-p": d / "keepalived.pid", "-r": d / "vrrp.pid", "-c": d / "checkers.pid"}

    def validate_keepalived(self) -> None:
        """`keepalived -t` inside each namespace (it checks the interface)."""
        for lb in self.lbs:
            res = subprocess.run(
                netns.in_ns(lb.ns, self.keepalived_bin, "-t", "-f", lb.layout.keepalived_conf),
                capture_output=True,
                text=True,
            )
            # The tutorial's fixture has no script security: keepalived -t says so
            # with exit 6 and runs it anyway (as root), as on the tutorial's hosts.
            tolerated = {0, 6} if self.cfg.profile.tutorial else {0}
            if res.returncode not in tolerated:
                raise LabError(
                    f"keepalived -t rejects {lb.layout.keepalived_conf} (exit "
                    f"{res.returncode}): {(res.stderr + res.stdout).strip()[-2000:]}"
                )

    def start_watcher(self, lb: LabNode) -> int:
        """The fast health path (nginx_watch.sh) in the node's namespace, as the
        nginx-ha-watch service runs it on a VM; `down` kills it with the namespace's
        other processes."""
        log = lb.dir / "keepalived" / "nginx_watch.log"
        pid = netns.spawn(lb.ns, ["bash", lb.layout.watch_script], log)
        self._record(lb.ns, pid, "nginx-watch")
        return pid

    def start_keepalived(self, lb: LabNode) -> int:
        # Foreground, console log, VRRP only, and this node's own pid files (without
        # them a second instance on one host believes it is already running).
        # A build without the checker (LVS) has neither -P (VRRP only) nor -c.
        opts = keepalived_options(self.keepalived_bin)
        argv = [self.keepalived_bin, "-n", "-l", "-G", "-D"]
        # VRRP only, unless LVS is on (the checker process runs the virtual servers).
        argv += ["-P"] if "-P" in opts and self.topo.lvs is None else []
        argv += ["-f", lb.layout.keepalived_conf]
        for opt, path in self.keepalived_pidfiles(lb).items():
            if opt in opts:
                argv += [opt, str(path)]
        pid = netns.spawn(lb.ns, argv, lb.dir / "keepalived" / "keepalived.log")
        self._record(lb.ns, pid, "keepalived")
        return pid

    def down(self, log=print, keep_logs: bool = False) -> None:
        """Remove every process, namespace and file the lab made (also after a crash)."""
        require_root("down")
        namespaces = set(netns.listed(self.prefix))
        state = self.run_dir / "lab.json"
        if state.exists():
            with contextlib.suppress(ValueError):
                namespaces |= set(json.loads(state.read_text()).get("namespaces", []))
        namespaces = {n for n in namespaces if netns.exists(n)}
        killed = netns.kill_all_in(sorted(namespaces))
        # Recorded pids whose namespace no longer has a name: still killed only if
        # /proc/PID/ns/net is the namespace they were started in.
        pids_file = self.run_dir / "pids"
        if pids_file.exists():
            for line in pids_file.read_text().splitlines():
                parts = line.split()
                if len(parts) < 3:
                    continue
                pid, dev, ino = int(parts[0]), int(parts[1]), int(parts[2])
                if netns.pid_alive(pid) and netns.pid_ns_id(pid) == (dev, ino) and ino:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
        for ns in sorted(namespaces):
            netns.delete(ns)
        left = [ns for ns in namespaces if netns.exists(ns)]
        if left:
            raise LabError(f"namespaces still present after down: {', '.join(left)}")
        if self.run_dir.exists() and not keep_logs:
            shutil.rmtree(self.run_dir)
        elif keep_logs:
            for f in ("lab.json", "pids"):
                (self.run_dir / f).unlink(missing_ok=True)
        log(
            f"lab {self.stack}: down ({len(namespaces)} namespaces, {len(set(killed))} "
            "processes removed)"
        )

    # ---------------------------------------------------------------- status

    def vip_holders(self, vip: str | None = None) -> list[str]:
        """The load balancers holding ``vip`` (default: the first VIP) on their LAN
        interface (under LVS every node also has it on lo, which does not count)."""
        vip = vip or self.vip
        out = []
        for lb in self.lbs:
            if not netns.exists(lb.ns):
                continue
            addrs = netns.ip("-4", "-o", "addr", "show", "dev", IFACE, ns=lb.ns, check=False)
            if re.search(rf"inet {re.escape(vip)}/", addrs):
                out.append(lb.node.name)
        return out

    def processes(self, ln: LabNode) -> list[tuple[int, str, str]]:
        """(pid, command, state) of every process in the node's namespace."""
        out = []
        for pid in sorted(netns.pids_in([ln.ns])):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            out.append((pid, netns.comm(pid), stat))
        return out

    def port_up(self, ln: LabNode) -> bool:
        out = netns.ip("-o", "link", "show", ln.port, ns=self.switch, check=False)
        return "state UP" in out or ",UP" in out.split(">")[0]

    def status(self) -> str:
        self.load()
        if not netns.exists(self.switch):
            return f"lab {self.stack}: not running"
        lines = [
            f"lab {self.stack} (profile {self.profile_name}, keepalived "
            f"{'.'.join(map(str, self.keepalived_version))} {self.keepalived_bin}); "
            f"VIP {self.vip} held by: {', '.join(self.vip_holders()) or 'nobody'}",
        ]
        for vip in self.vips[1:]:
            lines.append(f"VIP {vip} held by: {', '.join(self.vip_holders(vip)) or 'nobody'}")
        for ln in self.nodes.values():
            procs = self.processes(ln)
            counts: dict[str, int] = {}
            stopped = set()
            for _, c, st in procs:
                counts[c] = counts.get(c, 0) + 1
                if st == "T":
                    stopped.add(c)
            what = ", ".join(
                f"{c} x{k}" + (" (stopped)" if c in stopped else "")
                for c, k in sorted(counts.items())
            )
            link = "" if self.port_up(ln) else " [cut off: switch port down]"
            lines.append(
                f"  {ln.node.name:<16} {ln.node.role:<8} {ln.node.ip!s:<16} {what or 'nothing'}{link}"
            )
        return "\n".join(lines)
