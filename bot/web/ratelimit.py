"""Who is asking, and have they asked too often: the subscribe form's per-client limit.

In memory, per process: it stops one client hammering the form (and, through it, the SMTP
relay). The per-address limit on confirmation emails is in the store, because that one must
hold across restarts and workers (see ``claim_confirmation``).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds (a sliding log).

    Memory stays bounded: a key keeps at most ``limit`` timestamps, keys idle for a whole
    window are dropped as new hits arrive, and beyond ``max_keys`` the least recently seen
    key is forgotten, so a flood of distinct addresses costs a fixed amount of memory (it
    can only make the limiter forget, never grow)."""

    def __init__(self, limit: int, window: float, *, max_keys: int = 10_000) -> None:
        if limit < 1 or window <= 0 or max_keys < 1:
            raise ValueError("limit and max_keys must be at least 1 and window above 0")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, now: float) -> float:
        """Count one request by ``key`` at ``now`` (seconds). Returns 0 when it is allowed,
        else how many seconds until the next would be; a refused request is not counted,
        so waiting that long is always enough."""
        self._expire(now)
        times = self._hits.get(key)
        if times is None:
            times = self._hits[key] = deque(maxlen=self.limit)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return max(times[0] + self.window - now, 0.001)
        times.append(now)
        return 0.0

    def __len__(self) -> int:
        return len(self._hits)

    def _expire(self, now: float) -> None:
        # Keys are in order of their last request, so the stale ones are all at the front.
        while self._hits:
            key, times = next(iter(self._hits.items()))
            if times and times[-1] > now - self.window:
                return
            del self._hits[key]


def retry_after(seconds: float) -> int:
    """Whole seconds for a Retry-After header: rounded up, so a client that obeys it is not
    refused again for arriving a fraction of a second early."""
    return max(1, math.ceil(seconds))


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def client_key(peer: str | None, forwarded_for: Sequence[str],
               trusted: Sequence[Network]) -> str:
    """The address to count a request against.

    ``peer`` (the connection's address) unless it is a trusted proxy; then X-Forwarded-For,
    read from the right: each trusted proxy appends the address it was talking to, so the
    first address from the right that is not a trusted proxy is the client. Everything to
    its left was written by the client and could say anything. A value that is not an
    address stops the walk at the last proxy that handed it over.

    IPv6 clients are counted per /64: one subscriber line usually gets a whole /64, and
    counting single addresses would let it change address for every request."""
    current = _address(peer)
    if current is None:
        return peer or "unknown"
    if trusted:
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        while _is_trusted(current, trusted) and hops:
            earlier = _address(hops.pop())
            if earlier is None:
                break
            current = earlier
    if isinstance(current, ipaddress.IPv6Address):
        if current.ipv4_mapped is not None:
            return str(current.ipv4_mapped)
        return str(ipaddress.IPv6Network((current, 64), strict=False))
    return str(current)


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address,
                trusted: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in trusted)
