"""Which stacks are throwaway labs: the naming policy behind protectBaseImage's default
and `make destroy PURGE=1`."""

from __future__ import annotations

import re

# Lab stacks: dev, lab, sandbox, test, optionally numbered and/or with a suffix after
LAB_STACK_RE = re.compile(r"^(dev|lab|sandbox|test)\d*([-_.].*)?$")


def is_lab_stack(stack: str) -> bool:
    """A throwaway stack: its base image is unprotected unless protectBaseImage says so."""
    return bool(LAB_STACK_RE.match(stack))
