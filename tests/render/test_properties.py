"""Property-based tests of the settings (hypothesis): stack configs are generated,
some plausible, some hostile (control characters, quotes, braces, command
substitutions, wrong types, out-of-range numbers, names too long for Linux), and

- every one the settings refuse names a config key in each of its problems (never a
  crash: no exception but SettingsError);
- every one they accept renders without the escaping filters stopping it, and no
  rendered file holds a directive, YAML key or script line the templates do not
  write;
- the accepted ones' files pass the real validators, batched after the run:
  ``keepalived -t`` (Debian's 2.2.7, in a network namespace with the generated
  interface names), ``nginx -t`` (the staged-copy check the program runs) and
  cloud-init's own schema and network-config parser.

The test command runs the ``fast`` profile (a bounded number of examples, derandomized:
the same examples every run). A larger run, with fresh random examples:

    NGINX_HA_HYPOTHESIS=thorough venv/bin/python -m pytest tests/render/test_properties.py

Another profile: ``NGINX_HA_HYPOTHESIS_EXAMPLES=N`` sets the count of either.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nginx_ha import render
from nginx_ha.config import SettingsError, parse_settings
from nginx_ha.config.grammar import IFNAME_RE, NAME_RE, URL_PATH_RE
from nginx_ha.config.stackfiles import as_engine_config
from nginx_ha.render.templates import TEMPLATES
from nginx_ha.topology import build_topology, vm_layout
from nginx_ha.topology.hostkeys import host_key
from support import nginx_validate, stacks
from tests import plans
from tests.render import keepalived_validate as kv

settings.register_profile(
    "fast",
    max_examples=int(os.environ.get("NGINX_HA_HYPOTHESIS_EXAMPLES", "120")),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "thorough",
    max_examples=int(os.environ.get("NGINX_HA_HYPOTHESIS_EXAMPLES", "2000")),
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PROFILE = os.environ.get("NGINX_HA_HYPOTHESIS", "fast")
DEBIAN_227 = (2, 2, 7)

# ------------------------------------------------------------------- the strategies

HOSTILE_TEXT = st.one_of(
    st.sampled_from(
        [
            "\n",
            "\n}\nvrrp_script x {\n script /bin/sh\n}",
            " } x {",
            '"',
            "'",
            "$(reboot)",
            "`id`",
            ";",
            " # c",
            "!",
            "{",
            "\r",
            "\t",
            "\x00",
            "é",
            "/../",
            ": x",
            "\u2028",
        ]
    ),
    st.text(max_size=8),
)
WRONG_TYPES = st.sampled_from([True, False, None, 1, -1, 3.5, 10**12, [], {}, "1"])


def hostile(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value with something hostile added, or a value of the wrong type."""
    return st.one_of(
        st.tuples(valid, HOSTILE_TEXT).map(lambda t: f"{t[0]}{t[1]}"),
        st.tuples(HOSTILE_TEXT, valid).map(lambda t: f"{t[0]}{t[1]}"),
        WRONG_TYPES,
        st.text(min_size=1, max_size=40),
    )


names = st.from_regex(NAME_RE, fullmatch=True)
ifnames = st.from_regex(IFNAME_RE, fullmatch=True)
url_paths = st.from_regex(URL_PATH_RE, fullmatch=True).filter(lambda p: 1 < len(p) < 60)
domain = st.from_regex(r"[a-z]{1,10}\.(com|net|example)", fullmatch=True)
emails = st.builds(
    lambda u, d: f"{u}@{d}", st.from_regex(r"[a-z0-9._+-]{1,12}", fullmatch=True), domain
)
# keepalived resolves smtp_server when it loads its config ("Invalid smtp server" for a
# name it cannot resolve): the namespace has no DNS, so addresses and localhost only.
smtp_hosts = st.one_of(st.just("localhost"), st.ip_addresses(v=4).map(str))
smtp = st.one_of(smtp_hosts, st.builds(lambda d, p: f"{d}:{p}", smtp_hosts, st.integers(1, 65535)))
seconds = st.sampled_from([0.05, 0.2, 0.25, 0.5, 1, 2, 3, 0.001, 0.123])
ports = st.one_of(st.integers(1, 65535), st.sampled_from([22, 80, 8080, 8005, 443]))


@st.composite
def stack_config(draw: st.DrawFn) -> dict[str, Any]:
    """A dev-like stack: plausible values, and in some examples one or two hostile ones."""
    lb_names = draw(st.lists(names, min_size=2, max_size=2, unique=True))
    be_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    prio = draw(st.lists(st.integers(1, 254), min_size=2, max_size=2, unique=True))
    cfg: dict[str, Any] = {
        "nginx-ha:vip": "192.168.159.110",
        "nginx-ha:loadBalancers": [
            {"name": n, "ip": f"192.168.159.{129 + i}", "priority": prio[i]}
            for i, n in enumerate(lb_names)
        ],
        "nginx-ha:backends": [
            {
                "name": n,
                "ip": f"192.168.159.{140 + i}",
                "role": "primary" if i == 0 else draw(st.sampled_from(["primary", "backup"])),
                "port": draw(st.one_of(*[st.just(8080)] * 4, ports)),
            }
            for i, n in enumerate(be_names)
        ],
        "nginx-ha:vrrp": {
            "virtualRouterId": draw(st.integers(1, 255)),
            "interface": draw(st.one_of(st.just("enp1s0"), ifnames)),
            "preempt": draw(st.booleans()),
            "unicast": draw(st.booleans()),
            "check": {"weight": draw(st.sampled_from([0] * 8 + [-200, -60, 10]))},
        },
        "nginx-ha:nginx": {
            "port": draw(st.one_of(*[st.just(80)] * 4, ports)),
            "healthPath": draw(st.one_of(st.just("/nginx-ha/health"), url_paths)),
            "readTimeout": draw(seconds),
            "balancing": draw(st.sampled_from(["round_robin", "least_conn"])),
        },
        "nginx-ha:ssh": {
            "user": draw(st.one_of(st.just("debian"), st.from_regex(r"[a-z_][a-z0-9_-]{0,10}", fullmatch=True))),
            "publicKey": stacks.TEST_PUBLIC_KEY,
        },
    }  # fmt: skip
    if draw(st.booleans()):
        cfg["nginx-ha:notify"] = {
            "script": draw(st.booleans()),
            "emailTo": draw(st.lists(emails, min_size=1, max_size=2)),
            "emailFrom": draw(st.one_of(st.none(), emails)),
            "smtpServer": draw(smtp),
        }
        if cfg["nginx-ha:notify"]["emailFrom"] is None:
            del cfg["nginx-ha:notify"]["emailFrom"]
    if draw(st.booleans()):
        cfg["nginx-ha:network"] = {"name": draw(names), "cidr": "192.168.159.0/24"}
    if draw(st.integers(0, 2)) == 0:  # about a third: break one or two values
        for _ in range(draw(st.integers(1, 2))):
            path = draw(st.sampled_from(HOSTILE_PATHS))
            set_path(cfg, path, draw(hostile(st.just(get_path(cfg, path)).map(str))))
    return cfg


HOSTILE_PATHS = [
    ("nginx-ha:loadBalancers", 0, "name"),
    ("nginx-ha:loadBalancers", 1, "ip"),
    ("nginx-ha:loadBalancers", 0, "priority"),
    ("nginx-ha:backends", 0, "name"),
    ("nginx-ha:backends", 0, "port"),
    ("nginx-ha:vrrp", "interface"),
    ("nginx-ha:vrrp", "virtualRouterId"),
    ("nginx-ha:vrrp", "preempt"),
    ("nginx-ha:vrrp", "check", "weight"),
    ("nginx-ha:nginx", "healthPath"),
    ("nginx-ha:nginx", "port"),
    ("nginx-ha:nginx", "readTimeout"),
    ("nginx-ha:ssh", "user"),
    ("nginx-ha:ssh", "publicKey"),
    ("nginx-ha:vip",),
]


def get_path(cfg: dict, path: tuple) -> Any:
    cur: Any = cfg
    for p in path:
        cur = cur[p]
    return cur


def set_path(cfg: dict, path: tuple, value: Any) -> None:
    cur: Any = cfg
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value


def engine_raw(cfg: dict) -> dict[str, str]:
    full = {**copy.deepcopy(cfg), **stacks.SECRETS}
    return as_engine_config(full)


# --------------------------------------------------------- what the templates write


def _template_words(name: str) -> set[str]:
    """First words of the template's literal lines (directives and keys it writes)."""
    out = set()
    for line in (TEMPLATES / name).read_text().splitlines():
        word = line.strip().split(" ")[0] if line.strip() else ""
        if word and not word.startswith(("{{", "{%", "#")):
            out.add(word.rstrip(";"))
    return out


KEEPALIVED_WORDS = _template_words("keepalived/keepalived.conf.j2")
NGINX_WORDS = (
    _template_words("nginx/nginx.conf.j2")
    | _template_words("nginx/proxy_location.conf.j2")  # its include
    | {"least_conn", "ip_hash", "hash", "random"}
)
USER_DATA_KEYS = set(
    yaml.safe_load(
        re.sub(r"\{\{[^}]*\}\}", '"x"', (TEMPLATES / "cloud-init/user-data.j2").read_text())
    )
)


def first_words(text: str) -> list[str]:
    return [
        line.strip().split(" ")[0].rstrip(";")
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def assert_only_template_directives(topo, node, files: dict[str, str]) -> None:
    values = {"}"} | {str(p) for p in topo.peers[node.name].unicast_peers}
    values |= {f"{i.vip}/{topo.prefix_len}" for i in topo.instances} | {"chk_nginx", "nginx_health"}
    # The rollout's drain and hold track files, one each per instance.
    values |= {f"nginx_ha_{kind}_{i.name}" for i in topo.instances for kind in ("drain", "hold")}
    if topo.notify.email:
        values |= set(topo.notify.email.to)
    extra = set(first_words(files["keepalived.conf"])) - KEEPALIVED_WORDS - values
    assert not extra, f"keepalived.conf has directives no template writes: {extra}"
    assert files["keepalived.conf"].count("{") == files["keepalived.conf"].count("}")
    extra = set(first_words(files["nginx.conf"])) - NGINX_WORDS - {"}"}
    assert not extra, f"nginx.conf has directives no template writes: {extra}"
    user = yaml.safe_load(files["user-data"])
    assert set(user) <= USER_DATA_KEYS, set(user) - USER_DATA_KEYS
    assert user["users"][0]["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    net = yaml.safe_load(files["network-config"])
    assert list(net["ethernets"]) == [topo.vrrp.interface]
    for script, template in (
        ("check_nginx.sh", "keepalived/check_nginx.sh.j2"),
        ("nginx_watch.sh", "keepalived/nginx_watch.sh.j2"),
    ):
        lines = (TEMPLATES / template).read_text().splitlines()
        got = files[script].splitlines()
        assert len(got) == len(lines), f"{script} has lines no template writes"
        for want, line in zip(lines, got, strict=True):
            if "{{" not in want:
                assert want == line, f"{script}: {line!r} is not the template's {want!r}"


# ----------------------------------------------------------------- the property

SEEN: Counter[str] = Counter()
ACCEPTED: list[dict[str, Any]] = []  # rendered files of accepted examples, for the batch


def render_node_files(settings_) -> list[dict[str, Any]]:
    """The files of each load balancer, rendered for Debian's keepalived 2.2.7 (the one
    this machine can validate with) as the lab does."""
    v2 = settings_.vrrp.version == 2 and settings_.vrrp_auth_pass is not None
    topo = build_topology(settings_, keepalived_version=DEBIAN_227, vrrp_secret=v2)
    layout = vm_layout(topo)
    out = []
    for node in topo.load_balancers:
        key = host_key(stacks.TEST_HOST_KEY_SEED, topo.project, topo.stack, node.name)
        files = {
            "keepalived.conf": render.keepalived_conf(topo, node, layout),
            "keepalived-files": plans.keepalived_files(topo, node, layout, stacks.TEST_PASS),
            "check_nginx.sh": render.check_nginx_script(topo, node, layout),
            "nginx_watch.sh": render.nginx_watch_script(topo, node, layout),
            "nginx.conf": render.nginx_conf(topo, node, layout),
            "user-data": render.cloud_init_user_data(topo, node, key),
            "meta-data": render.cloud_init_meta_data(topo, node),
            "network-config": render.cloud_init_network_config(topo, node),
        }
        assert_only_template_directives(topo, node, files)
        out.append({"topo": topo, "node": node, "layout": layout, "files": files})
    for be in topo.backends:
        render.tomcat_page(topo, be, layout)
    return out


@settings(settings.get_profile(PROFILE))
@given(stack_config())
def test_every_config_is_refused_naming_keys_or_renders_only_what_templates_write(cfg):
    raw = engine_raw(cfg)
    try:
        s = parse_settings(raw, secret_keys=stacks.SECRET_KEYS)
    except SettingsError as err:
        SEEN["refused"] += 1
        for p in err.problems:
            assert re.fullmatch(r"(nginx-ha|libvirt):[A-Za-z][\w.\[\]-]*", p.key), p
            assert p.message
        return
    SEEN["accepted"] += 1
    ACCEPTED.extend(render_node_files(s))


# ------------------------------------------------- the real validators, in batches


def accepted() -> list[dict[str, Any]]:
    if not ACCEPTED:  # run alone (-k): generate the examples first
        test_every_config_is_refused_naming_keys_or_renders_only_what_templates_write()
    assert ACCEPTED, "no generated config was accepted: the strategies need fixing"
    return ACCEPTED


def test_the_run_saw_both_accepted_and_refused_configs():
    accepted()
    assert SEEN["accepted"] >= 10 and SEEN["refused"] >= 10, SEEN
    print(f"hypothesis ({PROFILE}): {dict(SEEN)}")


def test_accepted_keepalived_confs_pass_keepalived_t():
    why = kv.namespaces_unavailable()
    binaries = kv.keepalived_binaries((2, 2))
    if why or not binaries:
        pytest.skip(why or "no keepalived 2.2 here (Debian: apt-get install keepalived)")
    items = accepted()
    first = items[0]
    files: dict[str, tuple[str, str]] = {}
    files.update(first["files"]["keepalived-files"])
    interfaces: list[str] = []
    confs = []
    for i, item in enumerate(items):
        path = f"/etc/keepalived/generated-{i}.conf"
        files[path] = (item["files"]["keepalived.conf"], "0644")
        # Every example's own scripts at the layout's paths are the same files: the
        # check needs them present and root-owned, not their content.
        if item["topo"].vrrp.interface not in interfaces:
            interfaces.append(item["topo"].vrrp.interface)
        confs.append(path)
    command = (
        "for c in /etc/keepalived/generated-*.conf; do\n"
        f'  {binaries[0]} -t -f "$c" >/dev/null 2>"$RUN/err" || {{ echo "FAIL $c"; cat "$RUN/err"; }}\n'
        "done\n"
        f"echo checked {len(confs)}\n"
    )
    result = kv.in_namespace(files, [i for i in interfaces if i != "lo"], command)
    assert result.returncode == 0, result.stderr
    assert "FAIL" not in result.stdout, result.stdout[:3000]
    assert f"checked {len(confs)}" in result.stdout


def test_accepted_nginx_confs_pass_nginx_t(tmp_path):
    if not nginx_validate.available():
        pytest.skip("nginx not installed (Debian: apt-get install nginx-light)")
    failures = []
    for i, item in enumerate(accepted()):
        scratch = tmp_path / f"n{i}"
        layout = nginx_validate.scratch_layout(scratch, item["layout"])
        text = render.nginx_conf(item["topo"], item["node"], layout)
        r = nginx_validate.staged(text, scratch)
        if r.returncode != 0:
            failures.append(r.stderr)
    assert not failures, failures[:3]


def test_accepted_cloud_init_files_pass_cloud_inits_checks():
    python = "/usr/bin/python3"
    if shutil.which("cloud-init") is None or not os.path.exists(python):
        pytest.skip("cloud-init (Debian package) not installed")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, item in enumerate(accepted()):
            for kind in ("user-data", "meta-data", "network-config"):
                p = Path(tmp) / f"{i}-{kind}"
                p.write_text(item["files"][kind])
                paths.append(str(p))
        r = subprocess.run(
            [python, str(Path(__file__).with_name("cloud_init_check.py")), *paths],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert r.returncode == 0, r.stderr
    bad = json.loads(r.stdout)
    assert not bad, bad[:3]
