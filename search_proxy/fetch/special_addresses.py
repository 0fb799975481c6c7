"""Which IP addresses the page fetcher may connect to, from an explicit table in this file.

The standard library's ``ipaddress`` flags change between Python versions (3.11 lets 192.0.0.8,
192.88.99.1 and 3fff::1 through), so the guard's first authority is this table, transcribed
from the IANA IPv4 and IPv6 Special-Purpose Address Registries as they stood in April 2025
(latest entries: 100:0:0:1::/64, RFC 9780, 2025-04; 192.88.99.2/32, RFC 6751). Each row keeps
the registry's "Globally Reachable" column; "N/A" is recorded as not reachable. ``ipaddress``'
flags are checked as well, so an address must pass both.

Rule: an address inside a registry block is refused unless the most specific block containing
it is globally reachable *and* not in ``REFUSED_ALTHOUGH_REACHABLE`` below. Outside the registry,
IPv4 multicast and IPv6 outside 2000::/3 (the only global unicast space IANA allocates) are refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SpecialBlock:
    network: IPNetwork
    name: str
    rfc: str
    globally_reachable: bool


def _block(cidr: str, name: str, rfc: str, reachable: bool) -> SpecialBlock:
    return SpecialBlock(ipaddress.ip_network(cidr), name, rfc, reachable)


IPV4_REGISTRY: tuple[SpecialBlock, ...] = (
    _block("0.0.0.0/8", '"This network"', "RFC 791", False),
    _block("0.0.0.0/32", '"This host on this network"', "RFC 1122", False),
    _block("10.0.0.0/8", "Private-Use", "RFC 1918", False),
    _block("100.64.0.0/10", "Shared Address Space", "RFC 6598", False),
    _block("127.0.0.0/8", "Loopback", "RFC 1122", False),
    _block("169.254.0.0/16", "Link Local", "RFC 3927", False),
    _block("172.16.0.0/12", "Private-Use", "RFC 1918", False),
    _block("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890", False),
    _block("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", False),
    _block("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", False),
    _block("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", True),
    _block("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _block("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    _block("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880", False),
    _block("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", False),
    _block("192.31.196.0/24", "AS112-v4", "RFC 7535", True),
    _block("192.52.193.0/24", "AMT", "RFC 7450", True),
    _block("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", False),  # columns N/A
    _block("192.88.99.2/32", "6a44-relay anycast address", "RFC 6751", False),
    _block("192.168.0.0/16", "Private-Use", "RFC 1918", False),
    _block("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", True),
    _block("198.18.0.0/15", "Benchmarking", "RFC 2544", False),
    _block("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", False),
    _block("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", False),
    _block("240.0.0.0/4", "Reserved", "RFC 1112", False),
    _block("255.255.255.255/32", "Limited Broadcast", "RFC 8190", False),
)

IPV6_REGISTRY: tuple[SpecialBlock, ...] = (
    _block("::1/128", "Loopback Address", "RFC 4291", False),
    _block("::/128", "Unspecified Address", "RFC 4291", False),
    _block("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", False),
    _block("64:ff9b::/96", "IPv4-IPv6 Translation", "RFC 6052", True),
    _block("64:ff9b:1::/48", "IPv4-IPv6 Translation (local use)", "RFC 8215", False),
    _block("100::/64", "Discard-Only Address Block", "RFC 6666", False),
    _block("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", False),
    _block("2001::/23", "IETF Protocol Assignments", "RFC 2928", False),
    _block("2001::/32", "TEREDO", "RFC 4380", False),  # columns N/A
    _block("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", True),
    _block("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", True),
    _block("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", True),
    _block("2001:2::/48", "Benchmarking", "RFC 5180", False),
    _block("2001:3::/32", "AMT", "RFC 7450", True),
    _block("2001:4:112::/48", "AS112-v6", "RFC 7535", True),
    _block("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", False),  # columns N/A
    _block("2001:20::/28", "ORCHIDv2", "RFC 7343", True),
    _block("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", True),
    _block("2001:db8::/32", "Documentation", "RFC 3849", False),
    _block("2002::/16", "6to4", "RFC 3056", False),  # columns N/A
    _block("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", True),
    _block("3fff::/20", "Documentation", "RFC 9637", False),
    _block("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", False),
    _block("fc00::/7", "Unique-Local", "RFC 4193", False),
    _block("fe80::/10", "Link-Local Unicast", "RFC 4291", False),
)

# Globally reachable in the registry, refused all the same: none of them serves web pages, and
# anycast service addresses are answered by the *nearest* instance, which may be the operator's
# own network equipment (PCP anycast is the local NAT gateway; AS112 and AMT relays are often run
# inside ISP and enterprise networks). ORCHIDv2 and DETs are identifiers, not locators.
REFUSED_ALTHOUGH_REACHABLE: dict[str, str] = {
    "192.0.0.9/32": "anycast to the nearest PCP server, i.e. the local NAT gateway",
    "192.0.0.10/32": "anycast to the nearest TURN relay, not a web server",
    "192.31.196.0/24": "AS112 DNS sink, often run inside the local network",
    "192.52.193.0/24": "AMT relay anycast, not a web server",
    "192.175.48.0/24": "AS112 DNS sink, often run inside the local network",
    "2001:1::1/128": "anycast to the nearest PCP server, i.e. the local NAT gateway",
    "2001:1::2/128": "anycast to the nearest TURN relay, not a web server",
    "2001:1::3/128": "anycast to the nearest DNS-SD registration server, a local service",
    "2001:3::/32": "AMT relay anycast, not a web server",
    "2001:4:112::/48": "AS112 DNS sink, often run inside the local network",
    "2001:20::/28": "ORCHIDv2 identifiers are not routable locators",
    "2001:30::/28": "drone entity tags are identifiers, not web hosts",
    "2620:4f:8000::/48": "AS112 DNS sink, often run inside the local network",
}

# Not in the special-purpose registries, refused by rule: multicast has registries of its own,
# and IANA allocates global IPv6 unicast from 2000::/3 only (IPv6 Address Space registry).
IPV4_MULTICAST = ipaddress.IPv4Network("224.0.0.0/4")
IPV6_MULTICAST = ipaddress.IPv6Network("ff00::/8")
IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")

_REFUSED = {ipaddress.ip_network(cidr): why for cidr, why in REFUSED_ALTHOUGH_REACHABLE.items()}


def most_specific_block(ip: IPAddress) -> SpecialBlock | None:
    """The registry row with the longest prefix containing ``ip`` (more specific rows override)."""
    table = IPV4_REGISTRY if ip.version == 4 else IPV6_REGISTRY
    found = [block for block in table if ip in block.network]
    return max(found, key=lambda block: block.network.prefixlen, default=None)


def table_problem(ip: IPAddress) -> str | None:
    """Why the table refuses ``ip`` (registry block, our exceptions, rules), or None if it allows it."""
    block = most_specific_block(ip)
    if block is not None:
        label = f"{block.name}, {block.network}, {block.rfc}"
        if not block.globally_reachable:
            return f"not globally reachable: {label}"
        refused = _REFUSED.get(block.network)
        if refused:
            return f"{refused}: {label}"
        return None
    if isinstance(ip, ipaddress.IPv4Address) and ip in IPV4_MULTICAST:
        return "multicast, 224.0.0.0/4"
    if isinstance(ip, ipaddress.IPv6Address) and ip in IPV6_MULTICAST:
        return "multicast, ff00::/8"
    if isinstance(ip, ipaddress.IPv6Address) and ip not in IPV6_GLOBAL_UNICAST:
        return "outside IPv6 global unicast (2000::/3)"
    return None
