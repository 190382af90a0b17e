"""Who is on the other end of a connection, behind proxies we trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """``["10.0.0.0/8", "127.0.0.1"]`` -> networks; a bare address is a /32 or /128."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip()]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _trusted(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def from_trusted_proxy(scope: dict, trusted_proxies: list[Network]) -> bool:
    """Whether the connection's peer is one of our proxies, whose forwarded headers we believe."""
    peer = scope.get("client") or ("", 0)
    return _trusted(peer[0] or "", trusted_proxies)


def client_address(scope: dict, trusted_proxies: list[Network]) -> str:
    """The client's address as ``host:port``, or ``host`` when it came through proxies."""
    return address_text(*client_peer(scope, trusted_proxies))


def address_text(host: str, port: int | None) -> str:
    """``host:port``, or ``host`` alone when the port is not known."""
    return f"{host}:{port}" if host and port is not None else host


def client_peer(scope: dict, trusted_proxies: list[Network]) -> tuple[str, int | None]:
    """The client's host and port (None when it came through proxies).

    ``X-Forwarded-For`` is believed only when the peer is a trusted proxy;
    then the right-most address not itself a trusted proxy is the client (the
    left-most entries are whatever the client chose to send).
    """
    peer = scope.get("client") or ("", 0)
    host, port = peer[0] or "", peer[1]
    if not _trusted(host, trusted_proxies):
        return host, port
    forwarded = ",".join(
        value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"x-forwarded-for"
    )
    # Only addresses count: anything else in the header was made up by a client.
    hops = [hop.strip() for hop in forwarded.split(",") if _is_address(hop.strip())]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop, None
    return (hops[0], None) if hops else (host, port)
