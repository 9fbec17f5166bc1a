"""Pure IPv6 prefix arithmetic for routed subnets of a pool, on the stdlib's `ipaddress`.

The sandbox uses it to decide, and `plan_route` to predict, which block the API picks: the
first free block of the asked length, lowest address first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from ipaddress import IPv6Network


class PrefixError(ValueError):
    """A prefix that cannot be routed as asked; `code` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_prefix(text: str) -> IPv6Network:
    """Parse `2001:db8::/56` strictly: IPv6 only, an explicit length, no host bits set."""
    if not isinstance(text, str) or "/" not in text or "%" in text:  # "%": a zone id, never routable
        raise PrefixError("invalid_prefix", "Give the prefix in CIDR form, e.g. 2001:db8:1000:100::/56.")
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise PrefixError("invalid_prefix", "Not an IPv6 prefix in CIDR form, e.g. 2001:db8:1000:100::/56.") from None
    if not isinstance(network, IPv6Network):
        raise PrefixError("not_ipv6", "Routed prefixes are IPv6; an IPv4 prefix cannot be routed here.")
    if ipaddress.ip_interface(text.strip()).ip != network.network_address:
        raise PrefixError(
            "host_bits_set", f"Host bits are set; the aligned prefix of that length is {network.compressed}."
        )
    return network


def check_child(prefix: IPv6Network, prefix_length: int, parent: IPv6Network) -> None:
    """Raise unless `prefix` has length `prefix_length` and lies inside `parent`."""
    if prefix.prefixlen != prefix_length:
        raise PrefixError(
            "prefix_length_mismatch",
            f"The prefix is a /{prefix.prefixlen} but prefixLength is {prefix_length}; make them agree.",
        )
    if not prefix.subnet_of(parent):
        raise PrefixError("outside_pool", f"{prefix.compressed} is not inside the pool {parent.compressed}.")


def overlapping(prefix: IPv6Network, routed: Iterable[IPv6Network]) -> list[IPv6Network]:
    """Routed prefixes that share any address with `prefix` (containing, contained or equal)."""
    return [other for other in routed if prefix.overlaps(other)]


def _gaps(parent: IPv6Network, routed: Iterable[IPv6Network]) -> Iterator[tuple[int, int]]:
    """Unrouted address ranges of `parent` as inclusive (first, last) integers, lowest first."""
    cursor = int(parent.network_address)
    end = int(parent.broadcast_address)
    for net in sorted((n for n in routed if n.overlaps(parent)), key=lambda n: int(n.network_address)):
        first, last = int(net.network_address), int(net.broadcast_address)
        if first > cursor:
            yield cursor, first - 1
        cursor = max(cursor, last + 1)
    if cursor <= end:
        yield cursor, end


def _aligned_blocks(first: int, last: int, length: int) -> tuple[int, int]:
    """The first aligned block start inside [first, last] and how many whole blocks fit."""
    size = 1 << (128 - length)
    start = -(-first // size) * size
    count = (last + 1 - start) // size if start <= last else 0
    return start, max(count, 0)


def free_blocks(parent: IPv6Network, routed: Iterable[IPv6Network], length: int) -> Iterator[IPv6Network]:
    """Every free aligned block of `/length` inside `parent`, lowest address first."""
    if length < parent.prefixlen or length > 128:
        return
    size = 1 << (128 - length)
    for first, last in _gaps(parent, routed):
        start, count = _aligned_blocks(first, last, length)
        for index in range(count):
            yield IPv6Network((start + index * size, length))


def first_free(parent: IPv6Network, routed: Iterable[IPv6Network], length: int) -> IPv6Network | None:
    """The block the API assigns when no prefix is given: the lowest free one, or None when full."""
    return next(free_blocks(parent, routed, length), None)


def free_count(parent: IPv6Network, routed: Iterable[IPv6Network], length: int) -> int:
    """How many `/length` blocks are still free, counted without listing them."""
    if length < parent.prefixlen or length > 128:
        return 0
    return sum(_aligned_blocks(first, last, length)[1] for first, last in _gaps(parent, routed))
