"""Another stack's file, in any shape, never breaks this stack's run: the collision
check names a file it cannot read and goes on (property-based over arbitrary YAML
values, plus the shapes seen in the field)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nginx_ha.config import parse_settings
from nginx_ha.config.collisions import committed_footprints, stack_conflicts
from support import stacks

ROOT = Path(__file__).resolve().parents[2]

SHAPES = {
    "a list where the document belongs": "- config: {}\n",
    "config is a list": "config:\n  - nginx-ha:vip: 192.168.159.110\n",
    "config is text": "config: hello\n",
    "not YAML": "config: [unclosed\n",
    "nodes are text": "config:\n  nginx-ha:loadBalancers: hello\n",
    "a node's host is a list": "config:\n  nginx-ha:loadBalancers:\n    - {name: a, ip: 1.2.3.4, host: [x]}\n",
    "hosts is a list": "config:\n  nginx-ha:hosts: [a, b]\n  nginx-ha:loadBalancers:\n    - {name: a, host: a}\n",
    "a broken URI": "config:\n  libvirt:uri: 'qemu://[::1/system'\n",
    "vips of mappings of lists": "config:\n  nginx-ha:vips: [{address: [1]}, 7]\n",
    "network is a number": "config:\n  nginx-ha:network: 5\n",
    "a number as a key": "config:\n  5: x\n",
    "binary junk": "\x00\x01\x02",
}


def dev_settings():
    return parse_settings(stacks.raw_config("dev"), secret_keys=stacks.SECRET_KEYS)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_broken_sibling_is_named_and_does_not_stop_this_stack(tmp_path, shape):
    (tmp_path / "Pulumi.broken.yaml").write_text(SHAPES[shape])
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    notes: list[str] = []
    assert stack_conflicts(dev_settings(), tmp_path, notes) == []
    for note in notes:
        assert note.startswith("Pulumi.broken.yaml:")
    if shape in NOT_A_STACK_FILE:
        assert notes and "not compared for collisions" in notes[0], notes


NOT_A_STACK_FILE = {
    "a list where the document belongs",
    "config is a list",
    "config is text",
    "not YAML",
    "a number as a key",
    "binary junk",
}


YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "libvirt:uri",
        "nginx-ha:hosts",
        "nginx-ha:network",
        "nginx-ha:vip",
        "nginx-ha:vips",
        "nginx-ha:vrrp",
        "nginx-ha:loadBalancers",
        "nginx-ha:backends",
    ]
)


@settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.one_of(YAML_VALUES, st.dictionaries(KEYS, YAML_VALUES, max_size=6)))
def test_no_shape_of_a_sibling_config_crashes_the_collision_check(tmp_path, config):
    doc = {"config": config}
    (tmp_path / "Pulumi.other.yaml").write_text(json.dumps(doc))  # JSON is YAML 1.2
    committed_footprints(tmp_path, exclude="dev", notes=[])
