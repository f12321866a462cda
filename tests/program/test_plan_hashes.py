"""One plan per node (nginx_ha/render/plan.py), under mocks with the real __main__.py:
every file a node gets is rendered once per run, and a change to any one kind of thing
a node gets (a file, a unit, a script the activation runs, an install step) changes the
configHashes output at that path and the smoke test's triggers, and reruns what applies
it (the activation, or the step itself)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from nginx_ha.render import parts, templates
from support import stacks
from support.mocks import Run, run_program

LBS = ("nginx-master", "nginx-backup")
BACKENDS = ("tomcat-primary", "tomcat-backup")


def run() -> Run:
    return run_program(stacks.raw_config("dev"))


@pytest.fixture(scope="module")
def baseline() -> Run:
    return run()


def smoke_triggers(r: Run) -> list[str]:
    return list(r.named("nginx-ha-smoke").inputs["triggers"])


def create(r: Run, name: str) -> str:
    return str(r.named(name).inputs["create"])


def changed_paths(before: Run, after: Run, node: str) -> set[str]:
    a, b = before.exports["configHashes"][node], after.exports["configHashes"][node]
    return {p for p in a.keys() | b.keys() if a.get(p) != b.get(p)}


def test_every_template_is_rendered_once_per_node_that_gets_it(monkeypatch):
    counts: Counter[str] = Counter()
    render = templates._package.render

    def counting(name: str, **values: object) -> str:
        counts[name] += 1
        return render(name, **values)

    monkeypatch.setattr(templates._package, "render", counting)
    r = run()
    assert r.exports["configHashes"]
    nodes = len(LBS) + len(BACKENDS)
    assert counts["keepalived/keepalived.conf.j2"] == len(LBS)  # five times per node before
    assert counts["nginx/nginx.conf.j2"] == len(LBS)
    assert counts["tomcat/index.html.j2"] == len(BACKENDS)
    assert counts["systemd/keepalived.service.j2"] == len(LBS)
    assert counts["cloud-init/network-config.j2"] == nodes
    assert max(counts.values()) <= nodes, counts


def _append(fn: Callable[..., str], line: str) -> Callable[..., str]:
    return lambda *args, **kwargs: fn(*args, **kwargs) + line


def _run_script_changed(role: str) -> Callable[..., str]:
    real = parts.run_script

    def changed(r: str, name: str, params: dict[str, str]) -> str:
        return real(r, name, params) + ("# changed\n" if r == role else "")

    return changed


def _with_param(fn: Callable[..., dict[str, str]], key: str, value: str):
    return lambda *args: {**fn(*args), key: value}


# (what changes, the function that renders it, its replacement, the node, the path in
# configHashes, the resource that applies it)
CHANGES = {
    "a file": (
        "check_nginx_script",
        lambda: _append(parts.check_nginx_script, "# changed\n"),
        "nginx-backup",
        "/etc/keepalived/check_nginx.sh",
        "nginx-backup-activate",
    ),
    "a unit": (
        "watch_unit",
        lambda: _append(parts.watch_unit, "# changed\n"),
        "nginx-backup",
        "/etc/systemd/system/nginx-ha-watch.service",
        "nginx-backup-activate",
    ),
    "a firewall rule set": (
        "run_script",
        lambda: _run_script_changed("vrrp-firewall"),
        "nginx-backup",
        "/steps/firewall-vrrp.sh",
        "nginx-backup-activate",
    ),
    "an install step": (
        "nginx_install_params",
        lambda: _with_param(parts.nginx_install_params, "HEALTH_URL", ""),
        "nginx-backup",
        "/steps/nginx-install.sh",
        "nginx-backup-nginx-install",
    ),
}


@pytest.mark.parametrize("what", CHANGES)
def test_a_change_to_one_thing_a_node_gets_shows_in_the_hashes_and_the_smoke_trigger(
    monkeypatch, baseline, what
):
    attr, replacement, node, path, applies = CHANGES[what]
    monkeypatch.setattr(parts, attr, replacement())
    after = run()
    changed = changed_paths(baseline, after, node)
    assert path in changed, (what, sorted(changed))
    # What applies it runs again: the activation (its manifest names the new digest),
    # or the step itself; the change reaches the other node in the same way.
    assert create(baseline, applies) != create(after, applies)
    if applies.endswith("-activate"):
        assert changed == {path, "/steps/activate.sh"}
    else:
        assert changed == {path}
    assert smoke_triggers(baseline) != smoke_triggers(after)
    for backend in BACKENDS:
        assert not changed_paths(baseline, after, backend)
