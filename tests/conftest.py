"""Which test layers run by default.

A plain ``./scripts/test.sh`` (or ``pytest``) leaves a workstation as it found it: the
layers that install packages, build into /usr/local, add apt sources or start daemons
that outlive a test run only when asked for:

- ``CI=true`` (``.ci/run``, the test workflow): every layer;
- ``NGINX_HA_TESTS=all``, or a comma-separated list of layers
  (``NGINX_HA_TESTS=scripts,lab``): those layers too.

The real end-to-end run has its own switch (``NGINX_HA_E2E=1``, tests/e2e): it takes
half an hour.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# Layer (folder under tests/) → what it does to the machine.
OPT_IN_LAYERS = {
    "scripts": "runs the install scripts for real: apt-get installs, an apt source list, "
    "keepalived built into /usr/local/keepalived, sshd and firewalls in namespaces",
    "lab": "runs keepalived, nginx and Tomcat in network namespaces of the machine",
    "sandbox": "starts a private libvirtd (and virtlogd) in a network namespace",
}


def opted_in(layer: str, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether ``layer`` runs: always under CI=true, else when NGINX_HA_TESTS names it."""
    if env.get("CI") == "true":
        return True
    chosen = {x.strip() for x in env.get("NGINX_HA_TESTS", "").split(",") if x.strip()}
    return "all" in chosen or layer in chosen


def layer_of(path: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(TESTS)
    except ValueError:
        return None
    return rel.parts[0] if len(rel.parts) > 1 else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    skips: dict[str, pytest.MarkDecorator] = {}
    for item in items:
        layer = layer_of(Path(str(item.path)))
        if layer not in OPT_IN_LAYERS or opted_in(layer):
            continue
        if item.get_closest_marker("pure") is not None:
            continue  # a pure module of an opt-in layer (its settings, its rendering)
        if layer not in skips:
            skips[layer] = pytest.mark.skip(
                reason=f"tests/{layer} {OPT_IN_LAYERS[layer]}: opt in with "
                f"NGINX_HA_TESTS={layer} (or all); CI=true runs it"
            )
        item.add_marker(skips[layer])


TIME_GUARD_SECONDS = 10


@pytest.fixture
def within_seconds():
    """Fail the test if it is still running after :data:`TIME_GUARD_SECONDS` (SIGALRM,
    which interrupts a blocking open or read of the main thread): a test of a reader
    that must never hang fails in seconds, not never, if it regresses."""
    import signal

    def expired(signum, frame):
        del signum, frame
        pytest.fail(f"still running after {TIME_GUARD_SECONDS} s: something hangs")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TIME_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
