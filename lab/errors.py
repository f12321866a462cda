"""The lab's error. A failed namespace or process operation raises
:class:`support.netns.NetnsError`, of which :class:`LabError` is one: catch
``NetnsError`` to catch both."""

from __future__ import annotations

from support.netns import NetnsError


class LabError(NetnsError):
    """A lab operation failed; the message says what and what to do."""
