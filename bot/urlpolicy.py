"""The outbound-URL policy: what the bot may fetch when a URL comes from feed content.

Trusted input is config.yaml (its source URLs and API URLs), the templates and the
environment. Untrusted input is everything a feed says: item links, image URLs, and whatever an
article page points to (``og:image``). Whoever controls a feed could otherwise make the bot read
internal web pages, cloud metadata or local files, and then publish what it read. So every
fetch of an untrusted URL goes through this module:

- Only absolute ``http`` and ``https`` URLs (``link_problem``).
- The host is resolved, and every address it resolves to must be public. Loopback, private
  (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10), shared CGNAT (100.64/10),
  multicast, unspecified, reserved and documentation ranges are refused, and so are the same
  addresses written as IPv4-mapped, NAT64 or 6to4 IPv6. An operator can allow networks with
  ``fetch.allow_private`` (a newsroom on a private network). Cloud metadata addresses stay
  refused even then.
- The check runs when a connection is opened (the transport of ``untrusted_client``). That
  covers the first request and every redirect hop, and the socket goes to the very address
  that was checked, so a DNS answer that changes between check and connect (rebinding) cannot
  move it. TLS still verifies the certificate for, and sends SNI with, the URL's host name.

Public entry points:

- ``untrusted_client(policy, ...)``: an ``httpx.AsyncClient`` for fetching untrusted URLs.
- ``check_url(url, policy)``: for a URL that another party will fetch (Telegram downloads a
  photo itself), where there is no connection of ours to pin.
- ``link_problem(url)`` (``bot/linkcheck.py``, which needs no HTTP library): the scheme and
  shape check alone, without DNS (links in posts).

Refusals raise ``bot.errors.UrlRefused``, whose message names the host, the address and how to
allow it; callers turn it into a per-item note, never a crash.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

import httpcore
import httpx

from bot.errors import UrlRefused
from bot.linkcheck import link_problem

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

ALLOW_HINT = "feed content may not point inside; fetch.allow_private lists networks it may"

# Answered by the cloud provider's hypervisor with credentials: never fetched on behalf of a
# feed, whatever fetch.allow_private says (AWS, GCP and Azure; ECS; Alibaba; Oracle; AWS IPv6).
_METADATA = frozenset(ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192", "fd00:ec2::254"))

# Everything IANA does not list as globally reachable, spelled out rather than left to
# ipaddress.is_global, whose answers changed between Python patch releases.
_NOT_PUBLIC_V4: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), kind) for net, kind in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    ))
# IPv6 outside 2000::/3 is refused outright, after the forms that carry an IPv4 address
# (checked as that address); these are the non-public blocks inside 2000::/3.
_GLOBAL_V6 = IPv6Network("2000::/3")
_NOT_PUBLIC_V6: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), kind) for net, kind in (
        ("2001::/23", "a reserved address"),  # IETF protocol assignments, Teredo included
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
    ))
_NAT64 = IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class UrlPolicy:
    """Which non-public networks the operator allows (none by default: the policy is on)."""

    allow_private: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, networks: Iterable[str]) -> UrlPolicy:
        """A policy allowing ``networks`` (CIDRs such as ``10.1.2.0/24``, or addresses)."""
        return cls(tuple(ip_network(n, strict=False) for n in networks))

    def allows(self, address: IPAddress) -> bool:
        """True when the operator listed a network holding ``address``."""
        # `address in network` compares bare integers across IP versions: check the version.
        return any(address.version == net.version and address in net
                   for net in self.allow_private)

    def address_problem(self, address: IPAddress) -> str | None:
        """Why the bot may not connect to ``address`` for feed content, or None when it may."""
        embedded = _embedded_ipv4(address)
        if address in _METADATA or embedded in _METADATA:
            return "a cloud metadata address"
        if self.allows(address) or (embedded is not None and self.allows(embedded)):
            return None
        if embedded is not None:
            kind = _not_public_v4(embedded)
            return f"{kind} ({embedded}) in IPv6 form" if kind else None
        if isinstance(address, IPv4Address):
            return _not_public_v4(address)
        if address not in _GLOBAL_V6:
            if address.is_loopback:
                return "a loopback address"
            if address.is_link_local:
                return "a link-local address"
            if address.is_multicast:
                return "a multicast address"
            if address.is_unspecified:
                return "an unspecified address"
            if address in IPv6Network("fc00::/7"):
                return "a private address"
            return "a reserved address"
        for net, kind in _NOT_PUBLIC_V6:
            if address in net:
                return kind
        return None


async def checked_addresses(host: str, port: int, policy: UrlPolicy) -> list[str]:
    """Resolve ``host`` and return its addresses, every one of them allowed by ``policy``.

    Raises ``UrlRefused`` when any address is refused (a name that also resolves inside the
    network is not worth the risk) and ``OSError`` (``socket.gaierror``) when it does not
    resolve. An IP literal is checked as it is, without DNS.
    """
    host = host.strip("[]")
    literal = True
    try:
        addresses = [str(ip_address(host))]
    except ValueError:
        literal = False
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except UnicodeError:  # a name the resolver cannot even encode ("a..b")
            raise socket.gaierror(f"{host!r} is not a host name") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    for address in addresses:
        try:
            parsed = ip_address(address)
        except ValueError:
            raise UrlRefused(f"{host} resolves to {address!r}, which is not an IP address"
                             ) from None
        problem = policy.address_problem(parsed)
        if problem:
            where = f"{host} is" if literal else f"{host} resolves to {address},"
            raise UrlRefused(f"{where} {problem} ({ALLOW_HINT})")
    if not addresses:
        raise socket.gaierror(f"no address for {host}")
    return addresses


async def check_url(url: str, policy: UrlPolicy, *, timeout: float = 10.0) -> None:
    """Raise ``UrlRefused`` unless ``url`` is an absolute http(s) URL whose host resolves
    only to addresses ``policy`` allows.

    For a URL handed to another party that fetches it (Telegram's sendPhoto, or a local Bot
    API server inside the network). A host that does not resolve within ``timeout`` seconds is
    refused too: it cannot be shown to be outside. To fetch a URL yourself, use
    ``untrusted_client``, which also pins the connection to the checked address.
    """
    problem = link_problem(url)
    if problem:
        raise UrlRefused(problem)
    parts = urlsplit(url.strip())
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    host = parts.hostname or ""
    try:
        async with asyncio.timeout(timeout):
            await checked_addresses(host, port, policy)
    except TimeoutError:
        raise UrlRefused(f"{host} did not resolve within {timeout:g}s") from None
    except OSError:
        raise UrlRefused(f"{host} does not resolve") from None


def untrusted_client(policy: UrlPolicy, *, timeout: float, headers: Mapping[str, str] | None
                     = None, follow_redirects: bool = False, max_redirects: int = 5,
                     limits: httpx.Limits | None = None) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose every connection obeys ``policy``.

    Each new connection resolves its host, refuses it with ``UrlRefused`` (raised out of the
    request) when any address is not allowed, and connects to the checked address; a redirect
    hop opens its own connection, so it is checked the same way. Environment proxies are not
    used (they would connect for us, unchecked). httpx itself refuses non-http(s) URLs, but
    call ``link_problem`` first for a message worth showing.
    """
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    # One TLS context for the transport and the pool that replaces its own: each builds one
    # from the CA bundle otherwise (~20 ms of CPU each).
    ssl_context = httpx.create_ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx has no parameter for httpcore's network backend, so the pool is built again, as
    # httpx builds it for these settings, with the checking backend. The tests in
    # tests/test_untrusted_urls.py fail if an httpx upgrade stops using this pool.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_CheckedBackend(policy),
    )
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(timeout),
                             headers=dict(headers or {}), follow_redirects=follow_redirects,
                             max_redirects=max_redirects)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host, then connects to the checked address itself."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await checked_addresses(host, port, self._policy)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host} ({exc})") from None
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address,
                    socket_options=socket_options)
            except httpcore.ConnectError as exc:  # try the host's next address
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None
                                  = None) -> httpcore.AsyncNetworkStream:
        raise UrlRefused("a Unix socket is never used for a URL from feed content")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6 address."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _not_public_v4(address: IPv4Address) -> str | None:
    for net, kind in _NOT_PUBLIC_V4:
        if address in net:
            return kind
    return None
