"""SSRF guard: address classes, URL rules, and the pinning transport's request rewriting."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from search_proxy.errors import BlockedURL
from search_proxy.fetch.ssrf import AddressPolicy, IPAddress, PinnedTransport, address_problem, check_url, redact_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("127.0.0.1", "Loopback, 127.0.0.0/8"),
        ("10.1.2.3", "Private-Use, 10.0.0.0/8"),
        ("172.16.0.1", "Private-Use, 172.16.0.0/12"),
        ("192.168.1.1", "Private-Use, 192.168.0.0/16"),
        ("169.254.169.254", "Link Local, 169.254.0.0/16"),
        ("100.64.0.1", "Shared Address Space, 100.64.0.0/10"),
        ("0.0.0.0", "This host on this network"),
        ("224.0.0.251", "multicast, 224.0.0.0/4"),
        ("233.252.0.1", "multicast, 224.0.0.0/4"),
        ("240.0.0.1", "Reserved, 240.0.0.0/4"),
        ("::1", "Loopback Address, ::1/128"),
        ("::", "Unspecified Address, ::/128"),
        ("fe80::1", "Link-Local Unicast, fe80::/10"),
        ("fc00::1", "Unique-Local, fc00::/7"),
        ("fec0::1", "outside IPv6 global unicast (2000::/3)"),
        ("ff02::1", "multicast, ff00::/8"),
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1: not globally reachable: Loopback"),
        ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254: not globally reachable: Link Local"),
        ("::10.0.0.1", "IPv4-compatible form of 10.0.0.1: not globally reachable: Private-Use"),
        ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1: not globally reachable: Loopback"),
        ("64:ff9b:1::a00:1", "IPv4-IPv6 Translation (local use), 64:ff9b:1::/48"),
        ("2002:7f00:1::1", "6to4 form of 127.0.0.1: not globally reachable: Loopback"),
        ("2002:a9fe:a9fe::1", "6to4 form of 169.254.169.254: not globally reachable: Link Local"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo form of 192.0.2.45: not globally reachable"),
        ("::ffff:8.8.8.8", "not globally reachable: IPv4-mapped Address, ::ffff:0:0/96"),
    ],
)
def test_forbidden_addresses(address: str, problem: str) -> None:
    reason = address_problem(ipaddress.ip_address(address))
    assert reason is not None and problem in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is None


def test_allowlist_is_exact_and_does_not_cover_other_forms() -> None:
    policy = AddressPolicy([ipaddress.ip_network("127.0.0.1/32")])
    assert policy.problem(ipaddress.ip_address("127.0.0.1")) is None
    assert "Loopback" in (policy.problem(ipaddress.ip_address("127.0.0.2")) or "")
    assert policy.problem(ipaddress.ip_address("::ffff:127.0.0.1")) is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://example.com/", "scheme 'gopher'"),
        ("https://user:secret@example.com/", "credentials in the URL"),
        ("https://user@example.com/", "credentials in the URL"),
    ],
)
def test_url_rules(url: str, reason: str) -> None:
    with pytest.raises(BlockedURL, match=reason) as caught:
        check_url(httpx.URL(url))
    assert "secret" not in str(caught.value)


def test_redact_url_strips_userinfo_only() -> None:
    assert redact_url("https://u:p@example.com/a?b=1") == "https://example.com/a?b=1"
    assert redact_url("https://example.com/a") == "https://example.com/a"


class StaticResolver:
    def __init__(self, *addresses: str) -> None:
        self.addresses = [ipaddress.ip_address(a) for a in addresses]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return self.addresses


async def test_request_is_pinned_to_checked_ip_with_host_header_and_sni() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    transport = PinnedTransport(AddressPolicy(), StaticResolver("93.184.216.34"), httpx.MockTransport(handler))
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.get("https://example.com:8443/path?q=1")
    assert response.text == "ok"
    assert str(response.request.url) == "https://example.com:8443/path?q=1"  # callers see the original URL
    sent = seen[0]
    assert sent.url.host == "93.184.216.34" and sent.url.port == 8443 and sent.url.path == "/path"
    assert sent.headers["host"] == "example.com:8443"
    assert sent.extensions["sni_hostname"] == "example.com"


async def test_ipv6_answers_are_bracketed_and_http_gets_no_sni() -> None:
    seen: list[httpx.Request] = []
    transport = PinnedTransport(
        AddressPolicy(),
        StaticResolver("2606:4700:4700::1111"),
        httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204)),
    )
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("http://one.example/")
    assert str(seen[0].url) == "http://[2606:4700:4700::1111]/"
    assert "sni_hostname" not in seen[0].extensions


@pytest.mark.parametrize("answers", [("93.184.216.34", "10.0.0.7"), ("::1",), ()])
async def test_any_bad_answer_or_none_blocks_before_connecting(answers: tuple[str, ...]) -> None:
    calls: list[httpx.Request] = []
    transport = PinnedTransport(
        AddressPolicy(), StaticResolver(*answers), httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(BlockedURL):
            await client.get("http://rebind.example/")
    assert calls == []


async def test_next_checked_address_is_tried_when_one_refuses() -> None:
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host == "93.184.216.34":
            raise httpx.ConnectError("refused")
        return httpx.Response(200)

    transport = PinnedTransport(
        AddressPolicy(), StaticResolver("93.184.216.34", "93.184.216.35"), httpx.MockTransport(handler)
    )
    async with httpx.AsyncClient(transport=transport) as client:
        assert (await client.get("http://two.example/")).status_code == 200
    assert tried == ["93.184.216.34", "93.184.216.35"]
