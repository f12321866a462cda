"""The mocks harness (support.mocks) itself: what it records of a small program whose
graph is known, so the program tests that read parents, dependencies and `protect`
through it read the truth."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from pulumi.runtime.mocks import MockMonitor

from support import stacks
from support.mocks import run_program

PROGRAM = textwrap.dedent(
    """
    import pulumi
    from pulumi import CustomResource, ResourceOptions

    class Box(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("test:index:Box", name, None, opts)
            self.a = CustomResource("test:index:Thing", f"{name}-a", {}, ResourceOptions(parent=self))
            # A custom resource's child: not part of what depending on the box means.
            CustomResource("test:index:Thing", f"{name}-a-child", {}, ResourceOptions(parent=self.a))
            inner = pulumi.ComponentResource("test:index:Inner", f"{name}-inner", None, ResourceOptions(parent=self))
            self.b = CustomResource("test:index:Thing", f"{name}-b", {}, ResourceOptions(parent=inner))
            self.loose = CustomResource(
                "test:index:Thing", f"{name}-loose", {}, ResourceOptions(parent=self, protect=False)
            )
            self.register_outputs({})

    zero = CustomResource("test:index:Thing", "zero", {})
    first = CustomResource("test:index:Thing", "first", {}, ResourceOptions(depends_on=[zero]))
    box = Box("box", ResourceOptions(protect=True))
    user = CustomResource(
        "test:index:Thing",
        "user",
        {"source": pulumi.Output.concat("from-", first.id), "plain": "x"},
        ResourceOptions(depends_on=[box], delete_before_replace=True, additional_secret_outputs=["out"]),
    )
    pulumi.export("answer", pulumi.Output.concat("id:", user.id))
    """
)
BOX = "test:index:Box::box"


@pytest.fixture
def program(tmp_path):
    path = tmp_path / "__main__.py"
    path.write_text(PROGRAM)
    return path


def test_parents_are_keys_and_the_stack_is_none(program):
    run = run_program({}, program=program, project="probe")
    assert run.get(BOX).parent is None and not run.get(BOX).custom
    assert run.get("box-a").parent == BOX
    assert run.get("box-a-child").parent == "box-a"
    assert run.get("box-b").parent == "test:index:Inner::box-inner"
    assert run.children(BOX) == {
        "box-a",
        "box-a-child",
        "test:index:Inner::box-inner",
        "box-b",
        "box-loose",
    }
    assert run.exports == {"answer": "id:user-id"}


def test_protect_is_inherited_unless_set(program):
    run = run_program({}, program=program, project="probe")
    protected = {r.key for r in run.resources if r.protect}
    assert protected == {BOX, "box-a", "box-a-child", "test:index:Inner::box-inner", "box-b"}


def test_depends_on_as_given_and_as_the_engine_records_it(program):
    run = run_program({}, program=program, project="probe")
    user = run.get("user")
    assert user.depends_on == [BOX]
    assert user.inputs_from == {"first"}  # its `source` is made of first's id
    # The box stands for the custom resources under it, not those under a custom one.
    assert run.dependencies("user") == {"box-a", "box-b", "box-loose", "first"}
    assert run.dependencies("first") == {"zero"}
    assert run.waits_for("user") == {"box-a", "box-b", "box-loose", "first", "zero"}
    assert run.dependencies("zero") == set() == run.waits_for("zero")


def test_other_options(program):
    run = run_program({}, program=program, project="probe")
    user = run.get("user")
    assert user.delete_before_replace and user.additional_secret_outputs == ["out"]
    first = run.get("first")
    assert not first.delete_before_replace and first.additional_secret_outputs == []


def test_runs_do_not_share_records(program):
    one = run_program({}, program=program, project="probe")
    two = run_program({}, program=program, project="probe", preview=True)
    assert sorted(r.key for r in one.resources) == sorted(r.key for r in two.resources)
    assert len(two.resources) == len({r.key for r in two.resources}) == 9
    assert two.dependencies("user") == one.dependencies("user")


class Witness(MockMonitor):
    """The mock monitor, also keeping what the SDK sends for each registration."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests: dict[str, Any] = {}

    def RegisterResource(self, request):  # noqa: N802 (the monitor's method name)
        self.requests[f"{request.type}::{request.name}"] = request
        return super().RegisterResource(request)


def witnessed(raw, **kwargs):
    monitors: list[Witness] = []

    class Kept(Witness):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    run = run_program(raw, monitor_class=Kept, **kwargs)
    return run, monitors[0].requests


def urn_resource(urn: str) -> tuple[str, str]:
    """(type, name) of a URN's resource."""
    *_, qualified_type, name = urn.split("::")
    return qualified_type.split("$")[-1], name


@pytest.mark.parametrize(("stack", "preview"), [("dev", False), ("dev", True), ("staging", False)])
def test_the_real_program_is_recorded_as_the_sdk_registers_it(stack, preview):
    """Every resource of the stack: the parent, the dependencies, protect,
    deleteBeforeReplace and additionalSecretOutputs the SDK sends the monitor are
    what the harness recorded."""
    run, requests = witnessed(stacks.raw_config(stack), stack=stack, preview=preview)
    assert len(requests) == len(run.resources) > 50
    key = {(r.typ, r.name): r.key for r in run.resources}
    for r in run.resources:
        req = requests[f"{r.typ}::{r.name}"]
        parent = urn_resource(req.parent)
        assert r.parent == (None if parent[0] == "pulumi:pulumi:Stack" else key[parent]), r.key
        assert run.dependencies(r.key) == {key[urn_resource(u)] for u in req.dependencies}, r.key
        assert r.protect is bool(req.protect), r.key
        assert r.delete_before_replace is bool(req.deleteBeforeReplace), r.key
        assert r.additional_secret_outputs == list(req.additionalSecretOutputs), r.key
    # Not vacuous: the program has each of these.
    assert sum(1 for r in run.resources if run.dependencies(r.key)) > 20
    assert any(r.delete_before_replace for r in run.resources)
    assert any(r.additional_secret_outputs for r in run.resources)
    assert any(r.inputs_from for r in run.resources)
    assert any(r.protect for r in run.resources) is (stack == "staging")
