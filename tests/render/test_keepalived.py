"""keepalived.conf, check_nginx.sh and notify.sh: golden copies, the real `keepalived -t`
on every config rendered for keepalived 2.2 (and 2.4 where such a binary is at hand),
shellcheck on every script, the check script's behaviour against a live HTTP server,
and what keepalived really reads from the PASS file."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from nginx_ha import render
from nginx_ha.config import parse_settings, stackfiles
from nginx_ha.ops import render as render_cli
from nginx_ha.render import keepalived as render_keepalived
from nginx_ha.topology import Layout, build_topology, vm_layout
from nginx_ha.topology.hostkeys import host_key
from support import stacks
from tests import plans
from tests.golden import GOLDEN, assert_golden
from tests.render import keepalived_validate as kv

ROOT = Path(__file__).resolve().parents[2]
DEBIAN_227 = (2, 2, 7)
OLD = {
    "version": "2.2.7",
    "url": "https://example.invalid/keepalived-2.2.7.tar.gz",
    "sha256": "0" * 64,
}
WHOLE_SECONDS = {"interval": 1, "timeout": 1}
PASS_V2 = {
    "keepalived": OLD,
    "vrrp": {"virtualRouterId": 121, "version": 2, "advertInterval": 1, "check": WHOLE_SECONDS},
    "vrrpAuthPass": stacks.TEST_PASS,
}

# name: (stack overrides, keepalived the layout runs)
VARIANTS: dict[str, tuple[dict, tuple[int, int, int]]] = {
    "dev": ({}, (2, 4, 3)),
    "keepalived-v2-pass": (PASS_V2, DEBIAN_227),
    "keepalived-nopreempt": (
        {**PASS_V2, "vrrp": {**PASS_V2["vrrp"], "preempt": False}},
        DEBIAN_227,
    ),
    "keepalived-multicast-notify": (
        {
            **PASS_V2,
            "vrrp": {**PASS_V2["vrrp"], "unicast": False, "garpMasterRefresh": 0},
            "notify": {
                "script": True,
                "emailTo": ["ops@example.org", "oncall@example.org"],
                "emailFrom": "keepalived@example.org",
                # keepalived resolves a host name when it reads the file: an address
                # validates anywhere.
                "smtpServer": "192.168.159.1:2525",
            },
        },
        DEBIAN_227,
    ),
    "keepalived-v3-unauthenticated-2.2": (
        {
            "keepalived": OLD,
            "vrrp": {"virtualRouterId": 121, "allowUnauthenticated": True, "check": WHOLE_SECONDS},
            "vrrpAuthPass": None,
        },
        DEBIAN_227,
    ),
    "keepalived-weight": (
        {"vrrp": {"virtualRouterId": 121, "check": {"weight": -60}}},
        (2, 4, 3),
    ),
}


def setup(overrides: dict, version: tuple[int, int, int], layout: Layout | None = None):
    """The dev stack with ``overrides``, rendered for keepalived ``version``."""
    settings = parse_settings(stacks.raw_config("dev", **overrides))
    topo = build_topology(settings, keepalived_version=version)
    return topo, layout or vm_layout(topo)


def secret_of(topo) -> str | None:
    """The fixture's VRRP secret for this topology's authentication (support/stacks.py)."""
    return {"pass": stacks.TEST_PASS, "hmac": stacks.TEST_HMAC_KEY, "none": None}[topo.vrrp.auth]


def keepalived_files(topo, layout, node, secret: str | None = None) -> dict[str, tuple[str, str]]:
    return plans.keepalived_files(topo, node, layout, secret or secret_of(topo))


def golden_name(variant: str, node: str, path: str) -> str:
    base = os.path.basename(path)
    if variant == "dev":
        return f"dev/{node}/keepalived/{base}"
    return f"variants/{variant}/{node}/{base}"


# ------------------------------------------------------------------- golden copies


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_files_match_their_golden_copies(variant):
    overrides, version = VARIANTS[variant]
    topo, layout = setup(overrides, version)
    auth_files = {layout.auth_key_file, layout.auth_pass_file}
    for node in topo.load_balancers:
        for path, (text, _mode) in keepalived_files(topo, layout, node).items():
            if path not in auth_files:  # the secret is not a reviewed file
                assert_golden(golden_name(variant, node.name, path), text)


def test_the_render_command_writes_the_dev_files_under_node_and_path(tmp_path):
    written = render_cli.write_stack_files("dev", tmp_path, env={}, project_dir=stacks.ROOT)
    assert tmp_path / "nginx-master/etc/keepalived/keepalived.conf" in written
    for node in ("nginx-master", "nginx-backup"):
        base = tmp_path / node / "etc/keepalived"
        for name in ("keepalived.conf", "check_nginx.sh"):
            expected = (GOLDEN / "dev" / node / "keepalived" / name).read_text()
            assert (base / name).read_text() == expected
        key = base / "vrrp-auth.key"
        assert key.read_text() == stackfiles.PLACEHOLDER_HMAC_KEY + "\n"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert stat.S_IMODE((base / "check_nginx.sh").stat().st_mode) == 0o755


def test_the_render_command_writes_placeholders_even_with_the_secret_in_the_environment(
    tmp_path,
):
    key = "k" * 40
    render_cli.write_stack_files(
        "dev", tmp_path, env={stackfiles.ENV_VRRP_AUTH_PASS: key}, project_dir=stacks.ROOT
    )
    text = (tmp_path / "nginx-backup/etc/keepalived/vrrp-auth.key").read_text()
    assert text == stackfiles.PLACEHOLDER_HMAC_KEY + "\n"
    everything = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert key not in everything


def test_the_render_command_takes_the_real_secrets_only_when_asked(tmp_path):
    key = "k" * 40
    seed = "s" * 40
    env = {stackfiles.ENV_VRRP_AUTH_PASS: key, stackfiles.ENV_SSH_HOST_KEY_SEED: seed}
    render_cli.write_stack_files(
        "dev", tmp_path, env=env, project_dir=stacks.ROOT, real_secrets=True
    )
    assert (tmp_path / "nginx-backup/etc/keepalived/vrrp-auth.key").read_text() == key + "\n"
    conf = (tmp_path / "nginx-backup/etc/keepalived/keepalived.conf").read_text()
    assert key not in conf
    user_data = tmp_path / "nginx-backup/cloud-init/user-data"
    assert stat.S_IMODE(user_data.stat().st_mode) == 0o600  # the private host key
    assert host_key(seed, "nginx-ha", "dev", "nginx-backup").public in user_data.read_text()


def test_the_render_command_names_a_stack_file_whose_config_is_a_list(tmp_path, capsys):
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  - nginx-ha:vip: 10.0.0.1\n")
    with pytest.raises(stackfiles.StackFileError, match=r"Pulumi.broken.yaml: config is a list"):
        stackfiles.raw_config_from_file("broken", tmp_path)
    argv = ["--stack", "broken", "--out", str(tmp_path / "o"), "--project-dir", str(tmp_path)]
    assert render_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Pulumi.broken.yaml: config is a list" in err and "Traceback" not in err


def test_the_render_command_refuses_an_unknown_stack(tmp_path, capsys):
    assert render_cli.main(["--stack", "no-such-stack", "--out", str(tmp_path)]) == 2
    assert "no stack file" in capsys.readouterr().err


def test_the_render_command_reads_the_stack_file_of_the_project_folder(
    tmp_path, monkeypatch, capsys
):
    """Not the package's folder (an installed nginx-ha is in site-packages): the
    working directory by default, else --project-dir."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.dev.yaml").write_text((stacks.ROOT / "Pulumi.dev.yaml").read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    out = tmp_path / "out"
    assert render_cli.main(["--stack", "dev", "--out", str(out)]) == 2
    assert f"no stack file Pulumi.dev.yaml in {elsewhere}" in capsys.readouterr().err
    argv = ["--stack", "dev", "--out", str(out), "--project-dir", str(project)]
    assert render_cli.main(argv) == 0
    assert (out / "nginx-master/etc/keepalived/keepalived.conf").exists()
    monkeypatch.chdir(project)
    assert render_cli.main(["--stack", "dev", "--out", str(tmp_path / "out2")]) == 0
    assert (tmp_path / "out2/nginx-backup/etc/nginx/nginx.conf").exists()


# ------------------------------------------------------- what is rendered, by version


def test_the_secret_is_never_in_keepalived_conf():
    for overrides, version in VARIANTS.values():
        topo, layout = setup(overrides, version)
        secret = secret_of(topo)
        for node in topo.load_balancers:
            conf = render.keepalived_conf(topo, node, layout)
            assert secret is None or secret not in conf


def test_auth_hmac_is_never_rendered_for_a_keepalived_older_than_2_4():
    with pytest.raises(ValueError, match=r"auth_hmac needs keepalived 2\.4\.0 .* runs 2\.2\.7"):
        setup({}, DEBIAN_227)


def test_fractional_check_timing_is_rounded_up_for_keepalived_2_2():
    topo, layout = setup(
        {"vrrp": {"virtualRouterId": 121, "allowUnauthenticated": True}}, DEBIAN_227
    )
    conf = render.keepalived_conf(topo, topo.master, layout)
    assert re.search(r"^\s+interval 1$", conf, re.M) and re.search(r"^\s+timeout 1$", conf, re.M)
    assert "auth_hmac {" not in conf
    topo, layout = setup({}, (2, 4, 3))
    conf = render.keepalived_conf(topo, topo.master, layout)
    assert re.search(r"^\s+timeout 0\.8$", conf, re.M)


def test_a_lab_layout_changes_paths_interface_and_restart():
    lab = Layout(
        interface="eth0",
        keepalived_conf="/srv/lab/lb1/keepalived.conf",
        check_script="/srv/lab/lb1/check_nginx.sh",
        auth_pass_file="/srv/lab/lb1/auth.conf",
        keepalived_state_dir="/srv/lab/lb1/state",
        nginx_restart="ip netns exec lb1 nginx -c /srv/lab/lb1/nginx.conf",
    )
    topo, layout = setup(PASS_V2, DEBIAN_227, lab)
    conf = render.keepalived_conf(topo, topo.master, layout)
    assert "interface eth0" in conf and "dev eth0" in conf
    assert 'script "/srv/lab/lb1/check_nginx.sh"' in conf
    assert "include /srv/lab/lb1/auth.conf" in conf
    check = render.check_nginx_script(topo, topo.master, layout)
    assert "restart='ip netns exec lb1 nginx -c /srv/lab/lb1/nginx.conf'" in check
    assert "marker=/srv/lab/lb1/state/check_nginx.restarted" in check
    files = plans.keepalived_files(topo, topo.master, layout, stacks.TEST_PASS)
    assert files["/srv/lab/lb1/auth.conf"][0] == f'auth_pass "{stacks.TEST_PASS}"\n'


# --------------------------------------------------------------- keepalived -t, real


def validation_cases(major_minor: tuple[int, int]):
    for variant, (overrides, version) in VARIANTS.items():
        if version[:2] != major_minor:
            continue
        topo, layout = setup(overrides, version)
        for node in topo.load_balancers:
            yield variant, node.name, topo, layout, node


@pytest.mark.parametrize("line", [(2, 2), (2, 4)], ids=["2.2", "2.4"])
def test_keepalived_accepts_every_rendered_config(line):
    why = kv.namespaces_unavailable()
    if why:
        pytest.skip(why)
    binaries = kv.keepalived_binaries(line)
    if not binaries:
        pytest.skip(
            f"no keepalived {line[0]}.{line[1]} here (Debian's package gives 2.2; a 2.4 "
            "build can be named in NGINX_HA_KEEPALIVED_BINS)"
        )
    checked = 0
    for variant, name, topo, layout, node in validation_cases(line):
        files = keepalived_files(topo, layout, node)
        for binary in binaries:
            result = kv.keepalived_test(binary, files, layout.keepalived_conf, [layout.interface])
            assert result.returncode == 0, f"{variant}/{name} with {binary}:\n{result.stderr}"
            checked += 1
    assert checked >= 2


def test_keepalived_rejects_a_config_whose_secret_file_is_missing():
    """The validation above can fail: without the PASS file keepalived -t says so."""
    why = kv.namespaces_unavailable()
    binaries = kv.keepalived_binaries((2, 2))
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 here")
    topo, layout = setup(PASS_V2, DEBIAN_227)
    files = keepalived_files(topo, layout, topo.master)
    del files[layout.auth_pass_file]
    result = kv.keepalived_test(binaries[0], files, layout.keepalived_conf, [layout.interface])
    assert result.returncode != 0
    assert layout.auth_pass_file in result.stderr


def test_keepalived_reads_the_pass_exactly_including_comment_characters(tmp_path):
    """Run Debian's keepalived on the rendered PASS file and read its data dump (its
    health check restarts nothing: the layout's restart command is `true`)."""
    why = kv.namespaces_unavailable()
    if why or not os.access(kv.DEBIAN_KEEPALIVED, os.X_OK):
        pytest.skip(why or "Debian's keepalived not installed")
    password = "a#b!c$d"  # '#' and '!' start comments in keepalived's syntax
    overrides = {**PASS_V2, "vrrpAuthPass": password}
    quiet = Layout(nginx_restart="true", keepalived_state_dir=str(tmp_path / "state"))
    topo, layout = setup(overrides, DEBIAN_227, quiet)
    files = keepalived_files(topo, layout, topo.master, password)
    dump = kv.keepalived_data_dump(
        kv.DEBIAN_KEEPALIVED, files, layout.keepalived_conf, [layout.interface]
    )
    assert f"Password = {password}\n" in dump


# ------------------------------------------------------------------------ shellcheck


def shellcheck_binary() -> str | None:
    venv = ROOT / "venv/bin/shellcheck"
    return str(venv) if venv.exists() else shutil.which("shellcheck")


def rendered_scripts():
    for variant, (overrides, version) in VARIANTS.items():
        topo, layout = setup(overrides, version)
        for node in topo.load_balancers:
            yield (
                f"{variant}/{node.name}/check_nginx.sh",
                render.check_nginx_script(topo, node, layout),
            )
            yield (
                f"{variant}/{node.name}/nginx_watch.sh",
                render.nginx_watch_script(topo, node, layout),
            )
            if topo.notify.script:
                yield f"{variant}/{node.name}/notify.sh", render.notify_script(topo, node, layout)


def test_every_script_passes_shellcheck(tmp_path):
    sc = shellcheck_binary()
    if sc is None:
        pytest.skip("shellcheck not installed (venv/bin/shellcheck or the Debian package)")
    paths = sorted((ROOT / "nginx_ha/templates/scripts").glob("*.sh"))
    for i, (name, text) in enumerate(rendered_scripts()):
        path = tmp_path / f"{i}-{name.replace('/', '-')}"
        path.write_text(text)
        paths.append(path)
    assert any(p.name.endswith("notify.sh") for p in paths)
    assert any(p.name.endswith("nginx_watch.sh") for p in paths)
    result = subprocess.run([sc, "--shell=bash", *map(str, paths)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


# ----------------------------------------------------- the check script, behaviour


class Health(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | slow | hang | error | error-once

    def do_GET(self):  # noqa: N802 - http.server's name
        if Health.mode == "error-once":
            self.send_response(500)
            self.end_headers()
            Health.mode = "ok"
            return
        if Health.mode == "hang":
            time.sleep(3)
        if Health.mode == "slow":  # over the watcher's suspicion, under its probe bound
            time.sleep(0.08)
        status = 200 if Health.mode in ("ok", "slow") else 500
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_script_for(tmp_path: Path, port: int) -> tuple[Path, Path, Path]:
    restarted = tmp_path / "restarted"
    layout = Layout(
        keepalived_state_dir=str(tmp_path / "state"),
        nginx_restart=f"echo restart >> {restarted}",
    )
    topo, layout = setup({"nginx": {"port": port}}, (2, 4, 3), layout)
    script = tmp_path / "check_nginx.sh"
    script.write_text(render.check_nginx_script(topo, topo.master, layout))
    script.chmod(0o755)
    return script, restarted, Path(render.check_restart_marker(layout))


def run_check(script: Path) -> tuple[int, float]:
    start = time.monotonic()
    rc = subprocess.run([str(script)], timeout=10, check=False).returncode
    return rc, time.monotonic() - start


def wait_for(path: Path, lines: int) -> list[str]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= lines:
            break
        time.sleep(0.05)
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.skipif(shutil.which("curl") is None, reason="the check uses curl")
def test_check_passes_while_nginx_answers(tmp_path, health_server):
    Health.mode = "ok"
    script, restarted, marker = check_script_for(tmp_path, health_server.server_address[1])
    assert run_check(script)[0] == 0
    assert not restarted.exists() and not marker.exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the check uses curl")
def test_a_hung_nginx_counts_as_down_within_the_timeout(tmp_path, health_server):
    Health.mode = "hang"
    script, restarted, _ = check_script_for(tmp_path, health_server.server_address[1])
    rc, seconds = run_check(script)
    assert rc == 1
    assert seconds < 2.5  # bounded by the probe's 0.72 s, not the 3 s hang
    # One slow answer restarts nothing (a loaded host must not restart the nginx that
    # serves the VIP); the fall-th (2) unanswered check in a row does, once.
    time.sleep(0.3)
    assert not restarted.exists()
    assert run_check(script)[0] == 1
    assert wait_for(restarted, 1) == ["restart"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the check uses curl")
def test_an_answer_between_slow_checks_starts_the_count_again(tmp_path, health_server):
    port = health_server.server_address[1]
    script, restarted, _ = check_script_for(tmp_path, port)
    for mode in ("hang", "ok", "hang", "ok"):
        Health.mode = mode
        assert run_check(script)[0] == (1 if mode == "hang" else 0)
    time.sleep(0.3)
    assert not restarted.exists()  # never two slow checks in a row


@pytest.mark.skipif(shutil.which("curl") is None, reason="the check uses curl")
def test_one_restart_per_outage_and_the_marker_clears_on_recovery(tmp_path, health_server):
    port = free_port()  # nothing listens: nginx is down
    script, restarted, marker = check_script_for(tmp_path, port)
    assert run_check(script)[0] == 1
    assert run_check(script)[0] == 1
    assert wait_for(restarted, 1) == ["restart"]
    time.sleep(0.3)
    assert restarted.read_text().splitlines() == ["restart"]  # only one restart
    assert marker.exists()
    # nginx back (a server on the port): the check passes and forgets the outage.
    Health.mode = "ok"
    script2, _, _ = check_script_for(tmp_path, health_server.server_address[1])
    assert run_check(script2)[0] == 0
    assert not marker.exists()


# ------------------------------------------------- the watcher (fast path), behaviour


@contextlib.contextmanager
def watcher_for(tmp_path: Path, port: int, watch_interval: float | None = None):
    """The rendered nginx_watch.sh for a nginx on ``port``, running; yields its health
    file (its "EPOCH WHAT" lines in ``watch.log`` beside it). Stopped (and waited for)
    afterwards. ``watch_interval``: another vrrp.check.watchInterval than the default."""
    health = tmp_path / "run" / "nginx-health"
    layout = Layout(health_file=str(health), keepalived_state_dir=str(tmp_path / "state"))
    overrides: dict = {"nginx": {"port": port}}
    if watch_interval is not None:
        overrides["vrrp"] = {"check": {"watchInterval": watch_interval}}
    topo, layout = setup(overrides, (2, 4, 3), layout)
    script = tmp_path / "nginx_watch.sh"
    script.write_text(render.nginx_watch_script(topo, topo.master, layout))
    script.chmod(0o755)
    with open(health.parent.parent / "watch.log", "w") as log:
        proc = subprocess.Popen([str(script)], stdout=log, start_new_session=True)
    try:
        yield health
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def wait_value(path: Path, value: str, timeout: float = 5) -> float:
    """Seconds until ``path`` holds ``value`` (fails after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if path.exists() and path.read_text() == value + "\n":
            return time.monotonic() - start
        time.sleep(0.02)
    got = path.read_text() if path.exists() else "(absent)"
    raise AssertionError(f"{path} holds {got!r}, not {value!r}, after {timeout} s")


def test_the_watcher_writes_0_while_nginx_answers_and_1_when_it_hangs(tmp_path, health_server):
    Health.mode = "ok"
    with watcher_for(tmp_path, health_server.server_address[1]) as health:
        wait_value(health, "0")
        first = health.stat().st_mtime_ns
        time.sleep(1)
        assert health.stat().st_mtime_ns == first  # written only when the verdict changes
        Health.mode = "hang"
        # fall 2 rounds of at most 0.15 s probe + 0.2 s pause: well under a second
        wait_value(health, "1", timeout=3)
        Health.mode = "ok"
        wait_value(health, "0", timeout=3)
        assert not list(health.parent.glob("*.tmp.*"))  # the atomic write's temp is gone


def test_the_watcher_suspects_a_hang_well_before_its_probe_bound():
    """The hold's threshold (one home: render.keepalived) is under the counted probe's
    bound, and never over it."""
    assert render_keepalived.watch_suspect(Decimal("0.2")) == Decimal("0.04")
    assert render_keepalived.watch_probe_timeout(Decimal("0.2")) == Decimal("0.15")
    assert render_keepalived.watch_suspect(Decimal("0.04")) == Decimal("0.03")
    # A slower watch interval probes more slowly too: a fifth of it (the sandbox's 1 s
    # under emulation: 5 probes a second; 25 put its load balancers in FAULT).
    assert render_keepalived.watch_suspect(Decimal("0.1")) == Decimal("0.04")
    assert render_keepalived.watch_suspect(Decimal("1")) == Decimal("0.2")
    topo, layout = setup({}, (2, 4, 3))
    text = render.nginx_watch_script(topo, topo.master, layout)
    assert "\nsuspect_us=40000 " in text and "\nprobe_us=150000 " in text
    assert "curl" not in text  # no fork per probe


def test_the_watcher_holds_a_slow_answer_and_lifts_it_without_a_verdict(tmp_path, health_server):
    """nginx answering after 0.08 s: over the suspicion (0.04 s), so the hold goes on
    (here "hold unavailable": no hold table), lifted by the answer; under the probe's
    0.15 s, so the verdict stays up; the suspicion then rises with the late answers."""
    Health.mode = "ok"
    with watcher_for(tmp_path, health_server.server_address[1]) as health:
        wait_value(health, "0")
        Health.mode = "slow"
        log = tmp_path / "watch.log"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and "hold off" not in log.read_text():
            time.sleep(0.02)
        what = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
        assert "hold unavailable" in what and "hold off" in what, what
        assert what.index("hold unavailable") < what.index("hold off"), what
        # Still slow: the suspicion rose to 3 x the late answer (up to the 0.15 s bound),
        # so the next slow answers (about 8 in 1 s) hold no more.
        time.sleep(1)
        Health.mode = "ok"
        what = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
        assert what.count("hold unavailable") <= 2, what
        time.sleep(0.5)
        assert health.read_text() == "0\n"


def test_the_watcher_writes_1_when_nothing_listens(tmp_path):
    with watcher_for(tmp_path, free_port()) as health:
        wait_value(health, "1")


def test_one_failed_probe_is_not_an_outage(tmp_path, health_server):
    """fall 2: a single failure (an error answer for under one round) keeps 0.

    With a 0.5 s watch interval (probe bound 0.375 s): at the default 0.15 s bound, a
    loaded machine (the test server is Python, in this process) answered a later probe
    too late, which is a second failure and rightly an outage."""
    Health.mode = "ok"
    with watcher_for(tmp_path, health_server.server_address[1], watch_interval=0.5) as health:
        wait_value(health, "0")
        Health.mode = "error-once"  # the next probe fails, the later ones pass
        deadline = time.monotonic() + 3
        while Health.mode != "ok" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Health.mode == "ok"
        time.sleep(1.5)
        assert health.read_text() == "0\n"


_TRACK_FILE_RUN = """mount --bind "$RUN" /tmp
ip link set p0 up  # the veth's peer: the interface is RUNNING, the instance can run
{binary} --dont-fork --log-console --vrrp --use-file={conf} --pid=/tmp/k.pid \\
  --vrrp_pid=/tmp/v.pid >/tmp/log 2>&1 &
for _ in $(seq 50); do [ -s /tmp/v.pid ] && break; sleep 0.1; done
dump() {{
  rm -f /tmp/keepalived.data
  kill -USR1 "$(cat /tmp/v.pid)"
  for _ in $(seq 50); do [ -s /tmp/keepalived.data ] && break; sleep 0.1; done
  sleep 0.2
  echo "=== $1"
  grep -E '^ *(State|Status) = ' /tmp/keepalived.data || cat /tmp/log
}}
sleep 0.5
dump before
printf '1\\n' >{health}.tmp && mv -f {health}.tmp {health}
sleep 0.3
dump down
printf '0\\n' >{health}.tmp && mv -f {health}.tmp {health}
sleep 0.3
dump up
kill "$(cat /tmp/k.pid)"
wait
echo "=== log"
cat /tmp/log
"""


def test_keepalived_2_2_faults_at_once_when_the_health_file_says_1(tmp_path):
    """Debian's keepalived 2.2.7 reads the track file on an atomic rename: 1 puts the
    instance in FAULT, 0 takes it out (the check script is stubbed to pass here)."""
    why = kv.namespaces_unavailable()
    if why or not os.access(kv.DEBIAN_KEEPALIVED, os.X_OK):
        pytest.skip(why or "Debian's keepalived not installed")
    layout = Layout(
        nginx_restart="true",
        keepalived_state_dir=str(tmp_path / "state"),
        health_file="/tmp/nginx-health",  # /tmp is the run's private folder
    )
    topo, layout = setup(PASS_V2, DEBIAN_227, layout)
    files = keepalived_files(topo, layout, topo.master)
    files[layout.check_script] = ("#!/bin/bash\nexit 0\n", "0755")
    command = _TRACK_FILE_RUN.format(
        binary=kv.DEBIAN_KEEPALIVED, conf=layout.keepalived_conf, health=layout.health_file
    )
    out = kv.in_namespace(files, [layout.interface], command).stdout
    states = {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in out.split("=== ")[1:]}
    assert "FAULT" not in states["before"], out
    assert "State = FAULT" in states["down"], out
    assert "FAULT" not in states["up"], out
    # 2.2.7 logs `"vrrp_track_file" is deprecated, please use "track_file"`
    assert "deprecated" not in states["log"], out
