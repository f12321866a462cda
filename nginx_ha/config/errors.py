"""What a settings check reports: one :class:`Problem` per bad key, all of them
together in one :class:`SettingsError`."""

from __future__ import annotations

from dataclasses import dataclass


class SettingsError(ValueError):
    """Every problem of a stack's settings, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.key, p.message))
        lines = [f"  - {p}" for p in self.problems]
        super().__init__(
            f"{len(self.problems)} problem(s) in the stack settings; nothing was "
            "created:\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class Problem:
    key: str  # full config key path, e.g. "nginx-ha:loadBalancers[1].ip"
    message: str  # what is wrong and what to do

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"
