"""The SSRF address table against the IANA special-purpose registries, block by block.

``REGISTRY`` is an independent transcription (address block, Globally Reachable) of the IANA IPv4
and IPv6 Special-Purpose Address Registries; the code's table must list exactly these blocks, and
the first, middle and last address of every block must be refused, whatever this Python's
``ipaddress`` flags say.
"""

from __future__ import annotations

import ipaddress

import pytest

from search_proxy.fetch.special_addresses import IPV4_REGISTRY, IPV6_REGISTRY
from search_proxy.fetch.ssrf import IPAddress, address_problem

pytestmark = pytest.mark.unit

REGISTRY: list[tuple[str, bool]] = [
    ("0.0.0.0/8", False),
    ("0.0.0.0/32", False),
    ("10.0.0.0/8", False),
    ("100.64.0.0/10", False),
    ("127.0.0.0/8", False),
    ("169.254.0.0/16", False),
    ("172.16.0.0/12", False),
    ("192.0.0.0/24", False),
    ("192.0.0.0/29", False),
    ("192.0.0.8/32", False),
    ("192.0.0.9/32", True),
    ("192.0.0.10/32", True),
    ("192.0.0.170/32", False),
    ("192.0.0.171/32", False),
    ("192.0.2.0/24", False),
    ("192.31.196.0/24", True),
    ("192.52.193.0/24", True),
    ("192.88.99.0/24", False),
    ("192.88.99.2/32", False),
    ("192.168.0.0/16", False),
    ("192.175.48.0/24", True),
    ("198.18.0.0/15", False),
    ("198.51.100.0/24", False),
    ("203.0.113.0/24", False),
    ("240.0.0.0/4", False),
    ("255.255.255.255/32", False),
    ("::1/128", False),
    ("::/128", False),
    ("::ffff:0:0/96", False),
    ("64:ff9b::/96", True),
    ("64:ff9b:1::/48", False),
    ("100::/64", False),
    ("100:0:0:1::/64", False),
    ("2001::/23", False),
    ("2001::/32", False),
    ("2001:1::1/128", True),
    ("2001:1::2/128", True),
    ("2001:1::3/128", True),
    ("2001:2::/48", False),
    ("2001:3::/32", True),
    ("2001:4:112::/48", True),
    ("2001:10::/28", False),
    ("2001:20::/28", True),
    ("2001:30::/28", True),
    ("2001:db8::/32", False),
    ("2002::/16", False),
    ("2620:4f:8000::/48", True),
    ("3fff::/20", False),
    ("5f00::/16", False),
    ("fc00::/7", False),
    ("fe80::/10", False),
]
# The one globally reachable block the guard lets through: NAT64 of a public IPv4 address.
TRANSLATED = "64:ff9b::/96"


def _first_middle_last(cidr: str) -> list[IPAddress]:
    net = ipaddress.ip_network(cidr)
    first = net.network_address
    return [first, first + net.num_addresses // 2, net.broadcast_address]


def test_the_table_lists_exactly_the_registry_blocks() -> None:
    table = {(str(block.network), block.globally_reachable) for block in IPV4_REGISTRY + IPV6_REGISTRY}
    assert table == set(REGISTRY)


@pytest.mark.parametrize("cidr", [cidr for cidr, _ in REGISTRY if cidr != TRANSLATED])
def test_every_address_of_every_block_is_refused(cidr: str) -> None:
    for ip in _first_middle_last(cidr):
        assert address_problem(ip) is not None, f"{ip} in {cidr} was allowed"


def test_nat64_is_judged_by_the_ipv4_address_inside() -> None:
    first, middle, last = _first_middle_last(TRANSLATED)
    assert address_problem(first) == (
        'NAT64 form of 0.0.0.0: not globally reachable: "This host on this network", 0.0.0.0/32, RFC 1122'
    )
    assert address_problem(middle) is None  # 64:ff9b::128.0.0.0
    assert address_problem(last) is not None  # 255.255.255.255


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("192.0.0.8", "not globally reachable: IPv4 dummy address, 192.0.0.8/32, RFC 7600"),
        ("192.0.0.100", "not globally reachable: IETF Protocol Assignments, 192.0.0.0/24, RFC 6890"),
        ("192.88.99.1", "not globally reachable: Deprecated (6to4 Relay Anycast), 192.88.99.0/24, RFC 7526"),
        ("3fff::1", "not globally reachable: Documentation, 3fff::/20, RFC 9637"),
        ("192.0.0.9", "anycast to the nearest PCP server, i.e. the local NAT gateway"),
        ("2620:4f:8000::42", "AS112 DNS sink, often run inside the local network"),
        ("2001:20::1", "ORCHIDv2 identifiers are not routable locators"),
        ("224.0.0.251", "multicast, 224.0.0.0/4"),
        ("ff0e::1", "multicast, ff00::/8"),
        ("fec0::1", "outside IPv6 global unicast (2000::/3)"),
        ("4000::1", "outside IPv6 global unicast (2000::/3)"),
        ("2002:808:808::1", "not globally reachable: 6to4, 2002::/16, RFC 3056"),
        ("::8.8.8.8", "outside IPv6 global unicast (2000::/3)"),
        ("::ffff:8.8.8.8", "not globally reachable: IPv4-mapped Address, ::ffff:0:0/96, RFC 4291"),
    ],
)
def test_refusals_name_the_reason(address: str, problem: str) -> None:
    reason = address_problem(ipaddress.ip_address(address))
    assert reason is not None and reason.startswith(problem)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "1.1.1.1",
        "100.128.0.1",  # just past 100.64.0.0/10
        "192.0.1.1",  # just past 192.0.0.0/24
        "198.20.0.1",  # just past 198.18.0.0/15
        "223.255.255.254",  # last unicast /8 before multicast
        "2606:4700:4700::1111",
        "2001:4860:4860::8888",  # 2001::/16 outside 2001::/23
        "2001:200::1",  # first address after 2001::/23
        "3fff:1000::1",  # just past 3fff::/20
        "2620:4f:8001::1",  # just past the AS112 /48
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None
