"""IP allow-lists and the client address behind trusted proxies (core/ipfilter.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from highway_triggers.core.errors import HTTPError
from highway_triggers.core.ipfilter import Networks, check_allowed, client_address, parse_address
from highway_triggers.settings import Settings

PROXIES = Networks(["10.0.0.0/8", "fd00::/8"])


def allowed(address: str | None, cidrs: list[str]) -> bool:
    try:
        check_allowed(parse_address(address), Networks(cidrs))
    except HTTPError as exc:
        assert (exc.status, exc.code) == (401, "IP_NOT_ALLOWED")
        assert "192.0.2" not in exc.message and "2001:db8" not in exc.message
        return False
    return True


def test_allow_lists_of_ipv4_and_ipv6_cidrs() -> None:
    cidrs = ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]
    assert allowed("192.0.2.200", cidrs)
    assert allowed("198.51.100.7", cidrs)
    assert allowed("2001:db8:abcd::1", cidrs)
    assert allowed("::ffff:192.0.2.1", cidrs)  # an IPv4-mapped IPv6 peer is its IPv4 address
    assert not allowed("198.51.100.8", cidrs)
    assert not allowed("2001:db9::1", cidrs)
    assert not allowed(None, cidrs)
    assert not allowed("not-an-ip", cidrs)
    assert allowed("203.0.113.9", [])  # no list: anyone
    with pytest.raises(ValueError):
        Networks(["192.0.2.0/33"])


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    assert str(client_address("10.1.2.3", "192.0.2.9", PROXIES)) == "192.0.2.9"
    assert str(client_address("fd00::1", "2001:db8::5", PROXIES)) == "2001:db8::5"
    # a sender that is no proxy cannot claim an address
    assert str(client_address("203.0.113.5", "192.0.2.9", PROXIES)) == "203.0.113.5"
    assert str(client_address("10.1.2.3", None, PROXIES)) == "10.1.2.3"
    # the right-most hop that is not a trusted proxy: a client's own claim left of it is ignored
    chain = "192.0.2.1, 198.51.100.2, 10.9.9.9"
    assert str(client_address("10.1.2.3", chain, PROXIES)) == "198.51.100.2"
    assert str(client_address("10.1.2.3", "10.0.0.5, 10.0.0.6", PROXIES)) == "10.0.0.5"
    assert client_address("10.1.2.3", "192.0.2.1, garbage", PROXIES) is None
    assert str(client_address("203.0.113.5", "garbage", Networks([]))) == "203.0.113.5"


def test_trusted_proxies_setting_is_checked_at_start() -> None:
    settings = Settings(trusted_proxies="10.0.0.0/8, ::1")
    assert parse_address("::1") in Networks.from_csv(settings.trusted_proxies)
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies="10.0.0.0/8,nonsense")
