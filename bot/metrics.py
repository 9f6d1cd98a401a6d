"""Prometheus metrics: counters the pipeline bumps as it works, gauges read from the store.

Everything lives in one dedicated ``REGISTRY`` (never prometheus-client's global one), so
importing this module has no side effects on other code using prometheus-client and tests can
read values with ``REGISTRY.get_sample_value``. Counters are per process: with several
workers, scrape each one (Prometheus sums them). The queue depth comes from the store at
scrape time, so every worker reports the same, shared figure.

prometheus-client is imported, and the registry and its metrics built, the first time one of
them is touched (``metrics.DELIVERIES``, ``observe_delivery``, ``exposition``): a ``newsbot
once`` whose feeds are all unchanged bumps no counter, so it never pays for the library. The
names below are the same objects whichever way they are reached, built once per process.

The pipeline counts through the functions below (``articles_ingested``, ``source_failed``,
``digest_recipient_sent``, ``observe_delivery``). Inside ``dropped()`` they count nothing:
``newsbot once`` is a process nobody can scrape, which ends with its cycle, so it neither
keeps counts nor imports the library for them (~40 ms of a cold cycle).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    from prometheus_client.core import Metric

    REGISTRY: CollectorRegistry
    ARTICLES_INGESTED: Counter
    SOURCE_ERRORS: Counter
    DELIVERIES: Counter
    SEND_SECONDS: Histogram
    RATE_LIMITED: Counter
    DIGEST_RECIPIENTS_SENT: Counter

#: The content type of ``exposition()``'s answer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    articles_ingested: Counter
    source_errors: Counter
    deliveries: Counter
    send_seconds: Histogram
    rate_limited: Counter
    digest_recipients_sent: Counter


# The module's public names for the fields of _Metrics.
_PUBLIC = {"REGISTRY": "registry", "ARTICLES_INGESTED": "articles_ingested",
           "SOURCE_ERRORS": "source_errors", "DELIVERIES": "deliveries",
           "SEND_SECONDS": "send_seconds", "RATE_LIMITED": "rate_limited",
           "DIGEST_RECIPIENTS_SENT": "digest_recipients_sent"}

_built: _Metrics | None = None
_building = threading.Lock()


def _build() -> _Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    registry = CollectorRegistry(auto_describe=True)
    return _Metrics(
        registry=registry,
        articles_ingested=Counter(
            "newsbot_articles_ingested", "New articles stored by polling, by source",
            ["source"], registry=registry,
        ),
        source_errors=Counter(
            "newsbot_source_errors", "Polls of a source that failed (fetch or parse)",
            ["source"], registry=registry,
        ),
        deliveries=Counter(
            "newsbot_deliveries",
            "Delivery attempts by channel and outcome (sent, failed, unknown, retry, "
            "rate_limited, duplicate, previewed, template_error, claim_lost)",
            ["channel", "outcome"], registry=registry,
        ),
        send_seconds=Histogram(
            "newsbot_send_seconds",
            "Time to deliver one post that reached the platform (render, send, record), "
            "by channel",
            ["channel"], registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        ),
        rate_limited=Counter(
            "newsbot_rate_limited",
            "Sends the platform refused with 429 (rate limited), by channel",
            ["channel"], registry=registry,
        ),
        digest_recipients_sent=Counter(
            "newsbot_digest_recipients_sent",
            "Digest emails accepted by the SMTP server, by channel",
            ["channel"], registry=registry,
        ),
    )


def _metrics() -> _Metrics:
    """The registry and its metrics, built by the first caller; threads that race here wait
    for that one, so there is never a second registry with its own counts."""
    global _built
    if _built is None:
        with _building:
            if _built is None:
                built = _build()
                # Later reads of metrics.NAME find a plain module attribute: no lookup here.
                globals().update({name: getattr(built, field) for name, field in _PUBLIC.items()})
                _built = built
    return _built


def __getattr__(name: str) -> object:
    field = _PUBLIC.get(name)
    if field is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(_metrics(), field)


_dropping = 0  # dropped() blocks open: while any is, counts are dropped


@contextmanager
def dropped() -> Iterator[None]:
    """Count nothing inside (and never import prometheus-client for it): for a command that
    ends with its work, whose counts nobody could scrape. ``newsbot run`` and ``serve``,
    which serve /metrics, never use it."""
    global _dropping
    _dropping += 1
    try:
        yield
    finally:
        _dropping -= 1


def articles_ingested(source: str, count: int) -> None:
    """``count`` new articles stored from ``source``."""
    if not _dropping:
        _metrics().articles_ingested.labels(source).inc(count)


def source_failed(source: str) -> None:
    """One failed poll of ``source`` (fetch or parse)."""
    if not _dropping:
        _metrics().source_errors.labels(source).inc()


def digest_recipient_sent(channel: str) -> None:
    """One digest email accepted by the SMTP server."""
    if not _dropping:
        _metrics().digest_recipients_sent.labels(channel).inc()


# Outcomes where a request went to the platform: their duration is a send latency.
_SENT_TO_PLATFORM = frozenset({"sent", "failed", "unknown", "retry", "rate_limited", "duplicate"})


async def observe_delivery(channel: str, delivering: Awaitable[str]) -> str:
    """Await one delivery (``Dispatcher.deliver``), count its outcome and time it."""
    started = time.perf_counter()
    outcome = await delivering
    if _dropping:
        return outcome
    metrics = _metrics()
    metrics.deliveries.labels(channel, outcome).inc()
    if outcome in _SENT_TO_PLATFORM:
        metrics.send_seconds.labels(channel).observe(time.perf_counter() - started)
    if outcome == "rate_limited":
        metrics.rate_limited.labels(channel).inc()
    return outcome


class CountsByStatus(Protocol):
    def counts_by_status(self) -> dict[str, dict[str, int]]: ...


class QueueDepth:
    """``newsbot_queue_depth{channel}``: pending deliveries, read from the store per scrape.

    A prometheus-client collector (its ``Collector`` is a protocol: ``collect`` is all it
    asks for), so defining this class does not load the library."""

    def __init__(self, store: CountsByStatus, channels: Iterable[str] = ()) -> None:
        self.store = store
        self.channels = tuple(channels)

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        counts = self.store.counts_by_status()
        gauge = GaugeMetricFamily(
            "newsbot_queue_depth",
            "Deliveries waiting to be sent (pending), by channel; for an email digest, the "
            "articles waiting for its next run",
            labels=["channel"],
        )
        for channel in sorted(set(self.channels) | set(counts)):
            gauge.add_metric([channel], counts.get(channel, {}).get("pending", 0))
        yield gauge


def exposition(store: CountsByStatus | None = None, channels: Iterable[str] = (),
               extra: Iterable[Metric] = ()) -> bytes:
    """The Prometheus text format: this process's counters, the store's queue depth
    (when ``store`` is given; configured ``channels`` show 0 when empty) and ``extra``
    families computed by the caller (e.g. the scheduler's liveness)."""
    from prometheus_client import CollectorRegistry, generate_latest

    scrape = CollectorRegistry(auto_describe=False)
    if store is not None:
        scrape.register(QueueDepth(store, channels))
    families = list(extra)
    if families:
        scrape.register(_Fixed(families))
    return generate_latest(_metrics().registry) + generate_latest(scrape)


class _Fixed:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
