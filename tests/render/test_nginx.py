"""nginx.conf and the Tomcat page: golden copies, the real `nginx -t` on every rendered
nginx.conf (as the node sees it, and as a staged copy), and the settings refused."""

from __future__ import annotations

import re

import pytest

from nginx_ha import render
from nginx_ha.config import SettingsError, parse_settings
from nginx_ha.topology import Layout, build_topology, vm_layout
from support import nginx_validate, stacks
from tests.golden import assert_golden

needs_nginx = pytest.mark.skipif(
    not nginx_validate.available(), reason="nginx (Debian package nginx-light) not installed"
)
needs_root = pytest.mark.skipif(
    not nginx_validate.can_unshare(), reason="needs root and unshare for a private mount namespace"
)

DEV_BACKENDS = [
    {"name": "tomcat-primary", "ip": "192.168.159.131", "role": "primary", "port": 8080},
    {"name": "tomcat-backup", "ip": "192.168.159.132", "role": "backup", "port": 8080},
]
PRIMARIES_ONLY = [
    {"name": "tomcat-a", "ip": "192.168.159.131", "role": "primary"},
    {"name": "tomcat-b", "ip": "192.168.159.132", "role": "primary", "port": 8081},
]

# Every setting nginx.conf depends on, in combinations nginx must accept.
VARIANTS: dict[str, dict] = {
    "dev": {},
    "tuned": {
        "nginx": {
            "port": 8081,
            "connectTimeout": "0.5",
            "sendTimeout": 2,
            "readTimeout": "1.25",
            "maxFails": 3,
            "failTimeout": 30,
            "retryNonIdempotent": True,
            "balancing": "least_conn",
            "healthPath": "/lb/health",
        }
    },
    "three-backends": {
        "backends": [
            *DEV_BACKENDS,
            {"name": "tomcat-second", "ip": "192.168.159.133", "role": "primary", "port": 8081},
        ]
    },
    "hash-without-backups": {"backends": PRIMARIES_ONLY, "nginx": {"balancing": "hash"}},
    "ip-hash-without-backups": {"backends": PRIMARIES_ONLY, "nginx": {"balancing": "ip_hash"}},
    "random-without-backups": {"backends": PRIMARIES_ONLY, "nginx": {"balancing": "random"}},
    "max-fails-off": {"nginx": {"maxFails": 0}},
}


def topology(**overrides):
    s = parse_settings(stacks.raw_config("dev", **overrides), secret_keys=stacks.SECRET_KEYS)
    return build_topology(s)


def rendered_confs(variant: str, layout_for=vm_layout):
    t = topology(**VARIANTS[variant])
    layout = layout_for(t)
    return t, {lb.name: render.nginx_conf(t, lb, layout) for lb in t.load_balancers}


# ------------------------------------------------------------------------ goldens


def test_dev_files_match_their_golden_copies():
    t = topology()
    layout = vm_layout(t)
    for lb in t.load_balancers:
        assert_golden(f"dev/{lb.name}/nginx/nginx.conf", render.nginx_conf(t, lb, layout))
    for be in t.backends:
        assert_golden(f"dev/{be.name}/tomcat/index.html", render.tomcat_page(t, be, layout))


def test_tuned_settings_match_their_golden_copy():
    t, confs = rendered_confs("tuned")
    assert_golden("variants/nginx-tuned/nginx.conf", confs[t.master.name])


# ------------------------------------------------------------- what the file says


def test_primaries_serve_and_backups_wait():
    t, confs = rendered_confs("three-backends")
    conf = confs["nginx-master"]
    servers = re.findall(r"^\s*server (\S+)( backup)? max_fails=1 fail_timeout=10s;$", conf, re.M)
    assert servers == [
        ("192.168.159.131:8080", ""),
        ("192.168.159.133:8081", ""),
        ("192.168.159.132:8080", " backup"),
    ]


def test_timeouts_retry_policy_and_headers_follow_the_settings():
    _, dev = rendered_confs("dev")
    conf = dev["nginx-backup"]
    for d in ("proxy_connect_timeout 1s;", "proxy_send_timeout 1s;", "proxy_read_timeout 1s;"):
        assert d in conf
    assert "proxy_next_upstream error timeout http_502 http_503 http_504;" in conf
    assert "add_header X-Served-By nginx-backup always;" in conf
    assert "add_header X-Upstream $upstream_addr always;" in conf
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in conf

    _, tuned = rendered_confs("tuned")
    conf = tuned["nginx-master"]
    assert "proxy_connect_timeout 500ms;" in conf
    assert "proxy_send_timeout 2s;" in conf
    assert "proxy_read_timeout 1250ms;" in conf
    assert "proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;" in conf
    assert "least_conn;" in conf
    assert "max_fails=3 fail_timeout=30s;" in conf
    assert re.search(r"^\s*listen 8081 default_server;$", conf, re.M)


def test_health_location_is_local_only():
    t, confs = rendered_confs("tuned")
    conf = confs["nginx-backup"]
    block = conf[conf.index("location = /lb/health {") :]
    block = block[: block.index("}")]
    assert re.findall(r"allow (\S+);", block) == ["127.0.0.1", "::1", "192.168.159.130"]
    assert "deny all;" in block
    # The answer comes from a named location reached after the access checks
    # (`return` in the location itself would run before allow/deny).
    assert (
        "return 200" not in block and "try_files /nginx-ha-health-is-not-a-file @health;" in block
    )
    named = conf[conf.index("location @health {") :]
    assert 'return 200 "ok nginx-backup\\n";' in named[: named.index("}")]


def test_tomcat_page_names_node_and_role():
    t = topology()
    layout = vm_layout(t)
    pages = {b.name: render.tomcat_page(t, b, layout) for b in t.backends}
    assert "nginx-ha-backend=tomcat-primary role=primary" in pages["tomcat-primary"]
    assert "nginx-ha-backend=tomcat-backup role=backup" in pages["tomcat-backup"]
    assert render.node_plan(t, t.node("tomcat-backup"), layout).files() == {
        "/var/lib/tomcat10/webapps/ROOT/index.html": pages["tomcat-backup"]
    }


def test_the_lab_layout_moves_every_node_path():
    t = topology()
    lab = Layout(
        nginx_pid="/lab/lb1/nginx.pid",
        nginx_log_dir="/lab/lb1/log",
        nginx_mime_types="/lab/mime.types",
        nginx_temp_dir="/lab/lb1/tmp",
        nginx_user="nobody",
        vrrp_state_dir="/lab/lb1/vrrp",
    )
    conf = render.nginx_conf(t, t.master, lab)
    for line in (
        "pid /lab/lb1/nginx.pid;",
        "error_log /lab/lb1/log/error.log;",
        "include /lab/mime.types;",
        "client_body_temp_path /lab/lb1/tmp/body;",
        "proxy_temp_path /lab/lb1/tmp/proxy;",
        "access_log /lab/lb1/log/access.log nginx_ha;",
        "user nobody;",
        "alias /lab/lb1/vrrp/all;",
    ):
        assert line in conf
    # Nothing of the VM layout is left: every path the file names is the lab's.
    assert not re.search(r"(/run/|/var/log/|/etc/nginx|/var/lib/nginx)", conf)


# ------------------------------------------------------------------ real nginx -t


@needs_nginx
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_staged_copy_passes_nginx_t(variant, tmp_path):
    _, confs = rendered_confs(variant, lambda s: nginx_validate.scratch_layout(tmp_path))
    for name, conf in confs.items():
        res = nginx_validate.staged(conf, tmp_path)
        assert res.returncode == 0, f"{variant}/{name}: {res.stderr}"


@needs_nginx
@needs_root
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_vm_file_passes_nginx_t_as_the_node_sees_it(variant, tmp_path):
    _, confs = rendered_confs(variant)
    for name, conf in confs.items():
        res = nginx_validate.as_node(conf, tmp_path / name)
        assert res.returncode == 0, f"{variant}/{name}: {res.stderr}"
        assert "syntax is ok" in res.stderr and "test is successful" in res.stderr


@needs_nginx
@pytest.mark.parametrize("balancing", ["hash", "ip_hash", "random"])
def test_nginx_itself_refuses_what_the_settings_refuse(balancing, tmp_path):
    """The settings rule is nginx's own: render the refused combination anyway
    (bypassing the settings) and the real nginx -t rejects it."""
    s = parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)
    bad = s.model_copy(update={"nginx": s.nginx.model_copy(update={"balancing": balancing})})
    t = build_topology(bad)
    conf = render.nginx_conf(t, t.master, nginx_validate.scratch_layout(tmp_path))
    res = nginx_validate.staged(conf, tmp_path)
    assert res.returncode != 0
    assert 'does not support parameter "backup"' in res.stderr, res.stderr


@needs_nginx
def test_a_broken_file_fails_nginx_t(tmp_path):
    """The check can fail: the same file with one directive misspelt is refused."""
    t = topology()
    conf = render.nginx_conf(t, t.master, nginx_validate.scratch_layout(tmp_path))
    res = nginx_validate.staged(conf.replace("proxy_read_timeout", "proxy_reed_timeout"), tmp_path)
    assert res.returncode != 0 and "proxy_reed_timeout" in res.stderr


# ------------------------------------------------------------- refused settings

REFUSED = [
    ({"nginx": {"balancing": "hash"}}, r"nginx\.balancing: hash cannot be combined with backup"),
    ({"nginx": {"balancing": "ip_hash"}}, r"nginx\.balancing: ip_hash cannot be combined"),
    ({"nginx": {"balancing": "random"}}, r"nginx\.balancing: random cannot be combined"),
    ({"nginx": {"balancing": "fastest"}}, r"nginx\.balancing"),
    ({"nginx": {"healthPath": "/"}}, r"nginx\.healthPath: / is the site's front page"),
    ({"nginx": {"healthPath": "health"}}, r"nginx\.healthPath"),
    ({"nginx": {"healthPath": "/a b"}}, r"nginx\.healthPath"),
    ({"nginx": {"connectTimeout": 0}}, r"nginx\.connectTimeout"),
    ({"nginx": {"sendTimeout": "0.0005"}}, r"nginx\.sendTimeout: 0\.0005 s is finer than"),
    ({"nginx": {"readTimeout": 601}}, r"nginx\.readTimeout"),
    ({"nginx": {"port": 0}}, r"nginx\.port"),
    ({"nginx": {"port": 65536}}, r"nginx\.port"),
    ({"nginx": {"maxFails": -1}}, r"nginx\.maxFails"),
    ({"nginx": {"failTimeout": 0}}, r"nginx\.failTimeout"),
    ({"nginx": {"upstreamKeepalive": 8}}, r"nginx\.upstreamKeepalive: unknown key"),
    ({"backends": [{**DEV_BACKENDS[0], "port": 70000}, DEV_BACKENDS[1]]}, r"backends\[0\]\.port"),
]


@pytest.mark.parametrize(("overrides", "match"), REFUSED, ids=[m for _, m in REFUSED])
def test_refused_settings(overrides, match):
    with pytest.raises(SettingsError, match=match):
        parse_settings(stacks.raw_config("dev", **overrides), secret_keys=stacks.SECRET_KEYS)
