"""Recording Pulumi mocks: run a Pulumi program (this project's ``__main__.py``, or
another one such as ``examples/from-code``) and keep every resource it registers.

Two public hooks of the SDK, nothing patched:

- the mock monitor's :meth:`Recorder.new_resource` gives each resource's type, name,
  inputs (as the engine would get them, secrets wrapped) and provider;
- a stack transformation (:func:`pulumi.runtime.register_stack_transformation`) sees
  every resource as it is constructed: the Resource object, its type and name, its
  properties and its ``ResourceOptions``. From those the harness keeps the parent,
  ``depends_on``, ``protect`` (inherited from the parent when unset, as the SDK does),
  ``delete_before_replace`` and ``additional_secret_outputs``, and the resources
  whose outputs flow into the inputs.

A resource is known by its key: a custom resource by its name, a component by
``"<type>::<name>"`` (components of different types share names: a load balancer's
``ClonedVm``, ``NginxNode`` and ``KeepalivedNode`` are all ``nginx-master``).
:meth:`Run.dependencies` is what the engine records for a resource: its ``depends_on``
and the resources its inputs come from, a component standing for the custom resources
under it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
from pulumi.runtime import config as rt_config
from pulumi.runtime.mocks import MockMonitor

from support.stacks import ROOT, SECRET_KEYS

MAIN = ROOT / "__main__.py"


def key_of(typ: str, name: str, custom: bool) -> str:
    """A resource's key: its name if custom, ``"<type>::<name>"`` if a component."""
    return name if custom else f"{typ}::{name}"


@dataclass(eq=False)
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    custom: bool = True
    parent: str | None = None  # the parent's key; None: the stack itself
    depends_on: list[str] = field(default_factory=list)  # keys, as the program gave them
    inputs_from: set[str] = field(default_factory=set)  # keys of resources the inputs use
    protect: bool = False
    delete_before_replace: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return key_of(self.typ, self.name, self.custom)


@dataclass
class _Options:
    custom: bool
    parent: str | None
    depends_on: list[str]
    protect: bool
    delete_before_replace: bool
    additional_secret_outputs: list[str]


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)
    _keys: dict[pulumi.Resource, str] = field(default_factory=dict, repr=False)
    _options: dict[tuple[str, str], _Options] = field(default_factory=dict, repr=False)
    _protect: dict[str, bool] = field(default_factory=dict, repr=False)
    _inputs: list[tuple[str, list[pulumi.Output[Any]]]] = field(default_factory=list, repr=False)
    _inputs_from: dict[str, set[str]] = field(default_factory=dict, repr=False)

    # -- the mock monitor

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        opts = self._options.pop((args.typ, args.name), None)
        custom = bool(args.custom) if opts is None else opts.custom
        self.resources.append(
            Registered(
                args.typ,
                args.name,
                dict(args.inputs),
                args.provider,
                custom=custom,
                **({} if opts is None else {k: v for k, v in vars(opts).items() if k != "custom"}),
            )
        )
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    # -- the stack transformation

    def transformation(self, args: pulumi.ResourceTransformationArgs) -> None:
        """Record a resource's options as it is constructed; change nothing."""
        opts = args.opts or pulumi.ResourceOptions()
        custom = isinstance(args.resource, pulumi.CustomResource)
        key = key_of(args.type_, args.name, custom)
        if (args.type_, args.name) in self._options or key in self._protect:
            raise ValueError(f"support.mocks: two resources are {key!r} (type {args.type_})")
        parent = self._parent_key(opts.parent)
        inherited = self._protect[parent] if parent is not None else False
        protect = opts.protect if opts.protect is not None else inherited
        self._keys[args.resource] = key
        self._protect[key] = bool(protect)
        self._options[(args.type_, args.name)] = _Options(
            custom=custom,
            parent=parent,
            depends_on=[self._key_of(d) for d in _resources(opts.depends_on)],
            protect=bool(protect),
            delete_before_replace=bool(opts.delete_before_replace),
            additional_secret_outputs=list(opts.additional_secret_outputs or []),
        )
        outputs = _outputs_in(args.props)
        if outputs:
            self._inputs.append((key, outputs))

    def _parent_key(self, parent: pulumi.Resource | None) -> str | None:
        """None for the stack itself (no parent given, or the root stack resource)."""
        if parent is None or parent is pulumi.runtime.get_root_resource():
            return None
        return self._key_of(parent)

    def _key_of(self, resource: pulumi.Resource) -> str:
        try:
            return self._keys[resource]
        except KeyError:
            raise ValueError(f"support.mocks: {resource!r} was not seen being built") from None

    async def settle(self) -> None:
        """Once the program has run: which resources each one's inputs come from."""
        for key, outputs in self._inputs:
            for output in outputs:
                used = {self._keys[r] for r in await output.resources() if r in self._keys}
                self._inputs_from.setdefault(key, set()).update(used - {key})

    def finish(self) -> None:
        """After the run (every registration done): attach what settle found."""
        for r in self.resources:
            r.inputs_from |= self._inputs_from.get(r.key, set())

    # -- lookups

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Registered:
        """The first resource of that name (a custom resource's name is its own)."""
        return next(r for r in self.resources if r.name == name)


def _resources(depends_on: Any) -> list[pulumi.Resource]:
    if depends_on is None:
        return []
    items = depends_on if isinstance(depends_on, list | tuple) else [depends_on]
    for d in items:
        if not isinstance(d, pulumi.Resource):
            raise TypeError(f"support.mocks: depends_on holds {d!r}, not a Resource")
    return list(items)


def _outputs_in(value: Any) -> list[pulumi.Output[Any]]:
    """Every Output in a resource's properties: in dicts, lists and args objects."""
    found: list[pulumi.Output[Any]] = []
    todo, seen = [value], set()
    while todo:
        v = todo.pop()
        if isinstance(v, pulumi.Output):
            found.append(v)
        elif isinstance(v, dict):
            todo.extend(v.values())
        elif isinstance(v, list | tuple):
            todo.extend(v)
        elif (
            hasattr(v, "__dict__")
            and not isinstance(v, pulumi.Resource | pulumi.Asset | pulumi.Archive | type)
            and id(v) not in seen
        ):  # an input type (ConnectionArgs, ...)
            seen.add(id(v))
            todo.extend(vars(v).values())
    return found


# The root stack resource outlives set_mocks (one per process), and so do the
# transformations registered on it: one dispatcher is registered per root, and it
# hands each resource to the recorder of the run under way.
_active: Recorder | None = None
_root_with_dispatcher: pulumi.Resource | None = None


def _dispatch(args: pulumi.ResourceTransformationArgs) -> None:
    if _active is not None:
        _active.transformation(args)


def start(
    recorder: Recorder | None = None,
    project: str = "nginx-ha",
    stack: str = "dev",
    preview: bool = False,
    monitor: MockMonitor | None = None,
) -> Recorder:
    """Point the Pulumi runtime at recording mocks; resources built from now on are
    recorded by ``recorder`` (a new one if not given), until :func:`stop`."""
    global _active, _root_with_dispatcher
    recorder = Recorder() if recorder is None else recorder
    pulumi.runtime.set_mocks(
        recorder, project=project, stack=stack, preview=preview, monitor=monitor
    )
    root = pulumi.runtime.get_root_resource()
    if root is not _root_with_dispatcher:
        pulumi.runtime.register_stack_transformation(_dispatch)
        _root_with_dispatcher = root
    _active = recorder
    return recorder


def stop() -> None:
    global _active
    _active = None


@dataclass
class Run:
    recorder: Recorder
    exports: dict[str, Any]

    @property
    def resources(self) -> list[Registered]:
        return self.recorder.resources

    def of_type(self, typ: str) -> list[Registered]:
        return self.recorder.of_type(typ)

    def named(self, name: str) -> Registered:
        return self.recorder.named(name)

    def get(self, key: str) -> Registered:
        """The resource of that key (see :func:`key_of`); KeyError if none."""
        for r in self.resources:
            if r.key == key:
                return r
        raise KeyError(key)

    def resource_keys(self) -> set[str]:
        return {r.key for r in self.resources}

    def children(self, key: str) -> set[str]:
        """Every resource under ``key``: its children, theirs, and so on."""
        direct = [r for r in self.resources if r.parent == key]
        out = {r.key for r in direct}
        for r in direct:
            out |= self.children(r.key)
        return out

    def _expand(self, keys: Iterable[str]) -> set[str]:
        """Custom resources stand for themselves, a component for the custom resources
        under it (not those under a custom one), as the SDK expands ``depends_on``."""
        out: set[str] = set()
        todo = list(keys)
        while todo:
            r = self.get(todo.pop())
            if r.custom:
                out.add(r.key)
            else:
                todo.extend(c.key for c in self.resources if c.parent == r.key)
        return out

    def dependencies(self, key: str) -> set[str]:
        """What the engine records ``key`` as depending on: its depends_on and the
        resources its inputs come from, components expanded (custom resources' keys)."""
        r = self.get(key)
        return self._expand([*r.depends_on, *r.inputs_from])

    def waits_for(self, key: str) -> set[str]:
        """Every custom resource created before ``key``: its dependencies, theirs, ..."""
        seen: set[str] = set()
        todo = list(self.dependencies(key))
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(self.dependencies(d))
        return seen


def use_config(raw: dict[str, str], secret_keys: set[str] | None = None) -> None:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    rt_config.set_all_config(dict(raw), sorted(k for k in keys if k in raw))


def run_program(
    raw: dict[str, str],
    stack: str = "dev",
    preview: bool = False,
    secret_keys: set[str] | None = None,
    *,
    program: Path = MAIN,
    project: str = "nginx-ha",
    monitor_class: type[MockMonitor] | None = None,
) -> Run:
    """Run a Pulumi program (default: this project's __main__.py) under recording
    mocks with this stack config. ``monitor_class``: another mock monitor (a test of
    the harness compares what the SDK sends it with what the harness recorded)."""
    recorder = Recorder()
    monitor = monitor_class(recorder) if monitor_class is not None else None
    start(recorder, project=project, stack=stack, preview=preview, monitor=monitor)
    use_config(raw, secret_keys)
    exported: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    real_export = pulumi.export
    pulumi.export = lambda key, value: exported.__setitem__(key, value)  # type: ignore[assignment]
    try:

        @pulumi.runtime.test
        def run():
            sys.modules.pop("__nginx_ha_main__", None)
            spec = importlib.util.spec_from_file_location("__nginx_ha_main__", program)
            assert spec is not None and spec.loader is not None, program
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            outputs = pulumi.Output.from_input(exported).apply(resolved.update)
            return pulumi.Output.all(outputs, asyncio.ensure_future(recorder.settle()))

        run()
        recorder.finish()
    finally:
        pulumi.export = real_export
        stop()
    return Run(recorder, resolved)
