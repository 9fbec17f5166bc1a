"""Prefix arithmetic against a brute-force model on small prefixes, plus the parser's rules."""

from __future__ import annotations

from ipaddress import IPv6Network

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostup_ipv6_mcp.prefixes import (
    PrefixError,
    check_child,
    first_free,
    free_blocks,
    free_count,
    overlapping,
    parse_prefix,
)

PARENT = IPv6Network("2001:db8::/120")  # 256 addresses: small enough to enumerate every block


def all_blocks(parent: IPv6Network, length: int) -> list[IPv6Network]:
    return list(parent.subnets(new_prefix=length))


@st.composite
def routed_sets(draw: st.DrawFn) -> list[IPv6Network]:
    """Non-overlapping routed prefixes of mixed lengths inside PARENT, as a pool holds them."""
    routed: list[IPv6Network] = []
    for _ in range(draw(st.integers(0, 12))):
        length = draw(st.integers(121, 128))
        block = draw(st.sampled_from(all_blocks(PARENT, length)))
        if not overlapping(block, routed):
            routed.append(block)
    return draw(st.permutations(routed))


@settings(max_examples=300, deadline=None)
@given(routed=routed_sets(), length=st.integers(120, 128))
def test_free_blocks_match_brute_force(routed: list[IPv6Network], length: int) -> None:
    expected = [b for b in all_blocks(PARENT, length) if not any(b.overlaps(r) for r in routed)]
    assert list(free_blocks(PARENT, routed, length)) == expected
    assert free_count(PARENT, routed, length) == len(expected)
    assert first_free(PARENT, routed, length) == (expected[0] if expected else None)


@settings(max_examples=200, deadline=None)
@given(routed=routed_sets(), length=st.integers(120, 128), data=st.data())
def test_overlap_is_symmetric_containment(routed: list[IPv6Network], length: int, data: st.DataObject) -> None:
    candidate = data.draw(st.sampled_from(all_blocks(PARENT, length)))
    clash = overlapping(candidate, routed)
    for other in routed:
        shares = bool(set(map(int, candidate)) & set(map(int, other)))
        assert (other in clash) == shares


def test_a_56_containing_a_routed_64_overlaps_and_the_other_way_round() -> None:
    routed_64 = IPv6Network("2001:db8:1000:10::/64")
    routed_56 = IPv6Network("2001:db8:1000:200::/56")
    assert overlapping(IPv6Network("2001:db8:1000::/56"), [routed_64]) == [routed_64]
    assert overlapping(IPv6Network("2001:db8:1000:2ff::/64"), [routed_56]) == [routed_56]
    assert overlapping(IPv6Network("2001:db8:1000:100::/56"), [routed_64, routed_56]) == []


def test_first_free_in_a_real_pool_is_lowest_address_first() -> None:
    pool = IPv6Network("2001:db8:1000::/48")
    routed = [IPv6Network("2001:db8:1000::/64"), IPv6Network("2001:db8:1000:100::/56")]
    assert first_free(pool, routed, 64) == IPv6Network("2001:db8:1000:1::/64")
    assert first_free(pool, routed, 56) == IPv6Network("2001:db8:1000:200::/56")
    assert first_free(pool, routed, 48) is None
    assert free_count(pool, routed, 56) == 254
    assert free_count(pool, [], 48) == 1 and free_count(pool, [], 64) == 65536


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("10.0.0.0/8", "not_ipv6"),
        ("2001:db8::1/64", "host_bits_set"),
        ("2001:db8::", "invalid_prefix"),
        ("2001:db8::/129", "invalid_prefix"),
        ("not a prefix/64", "invalid_prefix"),
        ("", "invalid_prefix"),
        ("fe80::%eth0/64", "invalid_prefix"),
    ],
)
def test_parse_rejects(text: str, code: str) -> None:
    with pytest.raises(PrefixError) as raised:
        parse_prefix(text)
    assert raised.value.code == code


def test_parse_normalises() -> None:
    assert parse_prefix("2001:DB8:1000:0100::/56") == IPv6Network("2001:db8:1000:100::/56")


def test_check_child_rules() -> None:
    pool = IPv6Network("2001:db8:1000::/48")
    check_child(IPv6Network("2001:db8:1000:100::/56"), 56, pool)
    with pytest.raises(PrefixError, match="prefixLength is 64") as raised:
        check_child(IPv6Network("2001:db8:1000:100::/56"), 64, pool)
    assert raised.value.code == "prefix_length_mismatch"
    with pytest.raises(PrefixError) as raised:
        check_child(IPv6Network("2001:db8:2000::/56"), 56, pool)
    assert raised.value.code == "outside_pool"
