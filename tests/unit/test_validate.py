"""validate(): the cross-key rules on settings built in code (a program that builds
the stack from the pydantic models instead of from a stack's config)."""

from __future__ import annotations

from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest
from pydantic import SecretStr

from nginx_ha.config import SettingsError, models, parse_settings, validate
from support import stacks


def settings(**changes: Any) -> models.Settings:
    base: dict[str, Any] = dict(
        stack="code",
        network=models.Network(cidr=IPv4Network("10.77.0.0/24")),
        vip=IPv4Address("10.77.0.10"),
        ssh=models.Ssh(public_key=stacks.TEST_PUBLIC_KEY),
        load_balancers=[
            models.LoadBalancer(name="edge-a", ip=IPv4Address("10.77.0.11"), priority=150),
            models.LoadBalancer(name="edge-b", ip=IPv4Address("10.77.0.12"), priority=100),
        ],
        backends=[models.Backend(name="app-1", ip=IPv4Address("10.77.0.21"), role="primary")],
        vrrp_auth_pass=SecretStr(stacks.TEST_HMAC_KEY),
    )
    return models.Settings(**(base | changes))


def keys(err: pytest.ExceptionInfo[SettingsError]) -> set[str]:
    return {p.key for p in err.value.problems}


def test_good_settings_come_back_as_they_are():
    s = settings()
    assert validate(s) is s


def test_every_cross_key_problem_is_reported_together():
    bad = settings(
        vip=IPv4Address("10.99.0.10"),  # outside network.cidr
        backends=[models.Backend(name="edge-a", ip=IPv4Address("10.77.0.21"), role="primary")],
    )
    with pytest.raises(SettingsError) as err:
        validate(bad)
    assert {"nginx-ha:vip", "nginx-ha:backends[0].name"} <= keys(err)


def test_the_same_rules_as_for_a_stacks_config():
    """A stack's config refused by parse_settings is refused by validate too."""
    raw = stacks.raw_config("dev", vrrpAuthPass="short")
    with pytest.raises(SettingsError) as parsed:
        parse_settings(raw, secret_keys=stacks.SECRET_KEYS)
    with pytest.raises(SettingsError) as validated:
        validate(settings(vrrp_auth_pass=SecretStr("short")))
    assert keys(parsed) == keys(validated) == {"nginx-ha:vrrpAuthPass"}


def test_a_missing_vrrp_secret_is_refused_unless_it_comes_as_an_input():
    without = settings(vrrp_auth_pass=None)
    with pytest.raises(SettingsError) as err:
        validate(without)
    assert keys(err) == {"nginx-ha:vrrpAuthPass"}
    assert validate(without, vrrp_auth_pass_input=True) is without
    v2 = settings(vrrp_auth_pass=None, vrrp=models.Vrrp(version=2, advert_interval=Decimal(1)))
    with pytest.raises(SettingsError):
        validate(v2)
    assert validate(v2, vrrp_auth_pass_input=True) is v2


def test_an_input_secret_does_not_excuse_a_bad_one_in_the_settings():
    bad = settings(vrrp_auth_pass=SecretStr("short"))
    with pytest.raises(SettingsError) as err:
        validate(bad, vrrp_auth_pass_input=True)
    assert keys(err) == {"nginx-ha:vrrpAuthPass"}
