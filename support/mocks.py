"""Recording Pulumi mocks: run the real program (or a component) and keep every
resource it registers, with its inputs and options."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as rt_config

from support.stacks import ROOT, SECRET_KEYS


@dataclass
class Registered:
    typ: str
    name: str
    inputs: dict[str, Any]
    provider: str | None
    urn: str


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        self.resources.append(
            Registered(
                args.typ, args.name, dict(args.inputs), args.provider, args.resource_id or ""
            )
        )
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Registered:
        return next(r for r in self.resources if r.name == name)


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


def use_config(raw: dict[str, str], secret_keys: set[str] | None = None) -> None:
    keys = SECRET_KEYS if secret_keys is None else secret_keys
    rt_config.set_all_config(dict(raw), sorted(k for k in keys if k in raw))


def run_program(
    raw: dict[str, str],
    stack: str = "dev",
    preview: bool = False,
    secret_keys: set[str] | None = None,
) -> Run:
    """Run the real __main__.py under recording mocks with this stack config."""
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="nginx-ha", stack=stack, preview=preview)
    use_config(raw, secret_keys)
    exported: dict[str, Any] = {}
    resolved: dict[str, Any] = {}
    real_export = pulumi.export
    pulumi.export = lambda key, value: exported.__setitem__(key, value)  # type: ignore[assignment]
    try:

        @pulumi.runtime.test
        def program():
            sys.modules.pop("__nginx_ha_main__", None)
            spec = importlib.util.spec_from_file_location("__nginx_ha_main__", ROOT / "__main__.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return pulumi.Output.from_input(exported).apply(resolved.update)

        program()
    finally:
        pulumi.export = real_export
    return Run(recorder, resolved)
