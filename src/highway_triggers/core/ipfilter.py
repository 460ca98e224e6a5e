"""IP allow-lists (IPv4 and IPv6 CIDRs) and the client address behind trusted proxies.

``X-Forwarded-For`` is believed only when the connection comes from a proxy listed in
``HIGHWAY_TRUSTED_PROXIES``; from anyone else it is a claim the sender made up.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from highway_triggers.core.errors import HTTPError

IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=4096)  # per request on ingress; few peers send most requests
def parse_address(text: str | None) -> Address | None:
    """An address (an IPv4-mapped IPv6 one as IPv4); ``None`` when ``text`` is not one."""
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class Networks:
    """A set of CIDRs (``10.0.0.0/8``, ``2001:db8::/32``, or one address); ValueError if bad."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks = tuple(
            ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip()
        )

    @classmethod
    def from_csv(cls, text: str) -> Networks:
        return cls(text.split(","))

    def __bool__(self) -> bool:
        return bool(self._networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, Address):
            return False
        return any(address in network for network in self._networks)


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Networks
) -> Address | None:
    """Who sent the request: the peer, or, when the peer is a trusted proxy, the right-most
    ``X-Forwarded-For`` hop that is not a trusted proxy itself (``None`` if malformed)."""
    address = parse_address(peer)
    if address not in trusted or not forwarded_for:
        return address
    hops = [parse_address(hop) for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0]


def check_allowed(address: Address | None, allowlist: Networks) -> None:
    """401 ``IP_NOT_ALLOWED`` unless the allow-list is empty or holds ``address``."""
    if allowlist and address not in allowlist:
        raise HTTPError(401, IP_NOT_ALLOWED, "requests from this address are not allowed")
