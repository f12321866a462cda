"""The lab's pure parts (no root): its settings, per-node layout and rendered files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import config, tutorial
from lab.errors import LabError
from lab.lab import Lab
from lab.nodes import lab_layout

pytestmark = pytest.mark.pure  # runs by default (tests/conftest.py)


@pytest.fixture
def lab(monkeypatch, tmp_path):
    # The keepalived the lab would run: pinned here so the test does not depend on
    # what the host has installed.
    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    return Lab("dev", "ours", run_root=tmp_path, instance="unit")


def test_keepalived_without_auth_hmac_gets_an_explicit_unauthenticated_override():
    cfg = config.lab_settings("dev", "ours", keepalived_version=(2, 2, 7))
    assert cfg.settings.vrrp.version == 3
    assert cfg.settings.vrrp.allow_unauthenticated
    assert cfg.auth_secret is None
    assert any("allowUnauthenticated" in n for n in cfg.notes)


def test_keepalived_with_auth_hmac_gets_a_lab_key_and_no_override():
    cfg = config.lab_settings("dev", "ours", keepalived_version=(2, 4, 3))
    assert not cfg.settings.vrrp.allow_unauthenticated
    assert cfg.notes == ()
    assert cfg.auth_secret is not None and len(cfg.auth_secret) == 32


def test_profiles_are_settings_overrides_validated_like_a_stack():
    fast = config.lab_settings("dev", "fast", keepalived_version=(2, 2, 7)).settings
    assert str(fast.vrrp.advert_interval) == "0.1"
    ours = config.lab_settings("dev", "ours", keepalived_version=(2, 2, 7)).settings
    # everything else is the stack's: same addresses, VIP and router id
    assert fast.vip == ours.vip
    assert [lb.ip for lb in fast.load_balancers] == [lb.ip for lb in ours.load_balancers]
    assert fast.vrrp.virtual_router_id == ours.vrrp.virtual_router_id


def test_layout_keeps_every_node_path_in_its_own_run_folder(tmp_path):
    lay = lab_layout(tmp_path / "lb1", "/usr/sbin/keepalived")
    assert lay.interface == "eth0"
    for value in (
        lay.keepalived_conf,
        lay.check_script,
        lay.nginx_conf,
        lay.nginx_pid,
        lay.nginx_log_dir,
        lay.nginx_temp_dir,
        lay.nginx_restart,
        lay.tomcat_webapps,
    ):
        assert Path(value).is_relative_to(tmp_path / "lb1"), value


def test_rendered_files_point_at_the_node_and_its_peer(lab):
    files = lab.render()
    master, backup = lab.master, lab.backup_lb
    conf = files[master.layout.keepalived_conf]
    assert "interface eth0" in conf
    assert f"unicast_peer {{\n        {backup.node.ip}" in conf
    assert f"{lab.vip}/" in conf
    assert master.layout.check_script in conf
    check = files[master.layout.check_script]
    assert master.layout.nginx_restart in check
    nginx = files[master.layout.nginx_conf]
    assert f"pid {master.layout.nginx_pid};" in nginx
    assert f"server {lab.primary.node.ip}:{lab.primary.node.port}" in nginx
    restart = files[master.layout.nginx_restart]
    # the restart touches this node's nginx only: its own pid file and -e/-p/-c
    assert f"stop_own {master.layout.nginx_pid} QUIT" in restart
    assert f"-c {master.layout.nginx_conf}" in restart
    assert "killall" not in restart and "ps -C" not in restart
    page = files[str(Path(lab.primary.layout.tomcat_webapps) / "ROOT/index.html")]
    assert f"nginx-ha-backend={lab.primary.node.name}" in page


def test_tutorial_profile_swaps_in_the_tutorials_keepalived_files(monkeypatch, tmp_path):
    monkeypatch.setattr(
        "lab.daemons.keepalived_binary", lambda: ("/usr/sbin/keepalived", (2, 2, 7))
    )
    lab = Lab("dev", "tutorial", run_root=tmp_path, instance="unit")
    files = lab.render()
    for lb in lab.lbs:
        conf = files[lb.layout.keepalived_conf]
        assert conf.startswith("! THE TUTORIAL'S CONFIG, FOR COMPARISON")
        assert "priority 100" in conf and "nopreempt" in conf and "advert_int 1" in conf
        assert lb.layout.check_script not in files  # ours is not installed
        script = files[tutorial.check_script_path(lb.layout)]
        assert "sleep 2" in script
        assert lb.layout.nginx_pid in script
    # nginx and Tomcat stay ours: only keepalived's files are the tutorial's
    assert "upstream" in files[lab.master.layout.nginx_conf]


def test_commands_that_make_namespaces_say_they_need_root(monkeypatch, lab):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(LabError, match=r"`python -m lab up` needs root .* run it with sudo"):
        lab.up()
    with pytest.raises(LabError, match=r"`python -m lab down` needs root"):
        lab.down()
