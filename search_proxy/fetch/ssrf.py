"""SSRF guard for page fetching: URL rules, address rules, and a transport that pins checked IPs.

Result URLs come from the open web, so a search result (or a redirect it issues) must never make
the proxy talk to loopback, the private network, cloud metadata endpoints or any other address
that is not globally reachable (``special_addresses`` holds the table). The guard resolves
the host itself, refuses it if *any* address is off limits, and then connects to exactly the
address it checked (the request URL is rewritten to the IP while the Host header and TLS SNI keep
the original name), so there is no window for DNS rebinding between check and connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Protocol

import httpx

from search_proxy.errors import BlockedURL
from search_proxy.fetch.special_addresses import table_problem

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from, or None when it is a globally reachable unicast address.

    The explicit table (``special_addresses``) decides first; ``ipaddress``' flags must agree too,
    so an address refused by either is refused. IPv6 forms that carry an IPv4 address are judged
    by that address as well.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            kind, v4, same_host = embedded
            inner = address_problem(v4)
            if inner:
                return f"{kind} form of {v4}: {inner}"
            if same_host:
                # Translated to exactly that (allowed) IPv4 host; ipaddress would call the prefix reserved.
                return None
    problem = table_problem(ip)
    if problem:
        return problem
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("not globally routable", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address, bool] | None:
    """An IPv4 address hidden in an IPv6 form, its kind, and whether connecting reaches exactly it.

    Only the NAT64 well-known prefix (globally reachable in the registry) is judged by the IPv4
    host inside alone. IPv4-mapped addresses never belong on the wire (a DNS answer carrying one is
    bogus), and IPv4-compatible (deprecated), 6to4 and Teredo addresses go through relays: the table
    refuses those forms even when the IPv4 inside is public.
    """
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped, False
    value = int(ip)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d; :: and ::1 are in the table
        return "IPv4-compatible", ipaddress.IPv4Address(value & 0xFFFFFFFF), False
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(value & 0xFFFFFFFF), True
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour, False
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1], False
    return None


class AddressPolicy:
    """``address_problem`` plus an explicit allowlist (empty in production; tests add 127.0.0.1/32)."""

    def __init__(self, allow_networks: Iterable[IPNetwork] = ()) -> None:
        self._allow = list(allow_networks)

    def problem(self, ip: IPAddress) -> str | None:
        if any(ip.version == net.version and ip in net for net in self._allow):
            return None
        return address_problem(ip)


def check_url(url: httpx.URL) -> None:
    """Rules that need no DNS: scheme, embedded credentials, a host to resolve."""
    if url.scheme not in ("http", "https"):
        raise BlockedURL(str(url), f"scheme {url.scheme or '(none)'!r} is not http/https")
    if url.userinfo:
        raise BlockedURL(redact_url(str(url)), "credentials in the URL are refused")
    if not url.host:
        raise BlockedURL(str(url), "no host")


def redact_url(url: str) -> str:
    """The URL without user:password, for warnings and logs."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid URL)"
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


class Resolver(Protocol):
    """Turns a host name into addresses; injectable so tests can map names to 127.0.0.1."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The OS resolver via ``getaddrinfo`` (also normalises odd IPv4 spellings such as ``127.1``)."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            return []
        out: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if ip not in out:
                out.append(ip)
        return out


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks every request's destination and connects to the checked address only.

    Because redirects are followed by the caller one hop at a time, every hop passes through here.
    """

    def __init__(self, policy: AddressPolicy, resolver: Resolver, inner: httpx.AsyncBaseTransport) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner

    async def resolve_checked(self, url: httpx.URL) -> Sequence[IPAddress]:
        check_url(url)
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        literal = _literal_ip(host)
        addresses = [literal] if literal is not None else await self._resolver.resolve(host, port)
        if not addresses:
            raise BlockedURL(str(url), f"{host} does not resolve")
        for ip in addresses:
            problem = self._policy.problem(ip)
            if problem:
                raise BlockedURL(str(url), f"{host} resolves to {ip} ({problem})")
        return addresses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        addresses = await self.resolve_checked(request.url)
        host = request.url.raw_host.decode("ascii")
        if _literal_ip(host) is not None:
            return await self._inner.handle_async_request(request)
        last: httpx.ConnectError | None = None
        for ip in addresses:
            extensions = dict(request.extensions)
            if request.url.scheme == "https":
                extensions["sni_hostname"] = host  # certificate is checked against the name, not the IP
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(ip)),
                headers=request.headers,  # keeps the original Host header
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self._inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        await self._inner.aclose()
