"""The keepalived capability table: which release first has each feature we render.

The one home of every "needs keepalived X" decision: the settings rules, the
renderer, the lab and the benchmarks ask :func:`supports` (or :func:`since` for the
message), never compare versions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

Version = tuple[int, int, int]


@dataclass(frozen=True)
class Feature:
    since: Version
    what: str  # how messages name it
    source: str  # where the version comes from


FEATURES: dict[str, Feature] = {
    # VRRPv3 advert authentication (HMAC): keepalived 2.4.0 release notes, "new
    # auth_hmac authentication extension".
    "auth_hmac": Feature((2, 4, 0), "auth_hmac (VRRPv3 authentication)", "2.4.0 release notes"),
    # vrrp_script interval/timeout in fractions of a second: upstream commit 6f9ace3c
    # ("allow specifying interval and timeout to milli-second resolution"), first in 2.3.2.
    "fractional_check": Feature(
        (2, 3, 2), "fractional vrrp_script interval/timeout", "commit 6f9ace3c, v2.3.2"
    ),
    # The top-level track_file block (vrrp_track_file before, which 2.2.7 logs as
    # deprecated): keepalived/trackers/track_file.c installs the root keyword
    # "track_file" from v2.1.0 on (v2.0.20 has only vrrp_track_file).
    "track_file": Feature((2, 1, 0), "the track_file keyword", "trackers/track_file.c, v2.1.0"),
}


def parse_version(text: str) -> Version:
    """'2.4.3' -> (2, 4, 3)."""
    a, b, c = (int(x) for x in text.split("."))
    return (a, b, c)


def version_text(version: Version) -> str:
    return ".".join(str(x) for x in version)


def supports(version: Version, feature: str) -> bool:
    """Whether keepalived ``version`` has ``feature`` (a key of FEATURES)."""
    return version >= FEATURES[feature].since


def since(feature: str) -> str:
    """The first release with ``feature``, as text ('2.4.0')."""
    return version_text(FEATURES[feature].since)
