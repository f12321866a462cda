import pulumi
import pytest

from tests import stacks
from tests.program.mocks import run_program


def test_dev_stack_builds(tmp_path):
    res = run_program(stacks.raw_config("dev"), stack="dev")
    types = sorted(r.typ for r in res.resources)
    print(types)
    assert types.count("libvirt:index/domain:Domain") == 4
