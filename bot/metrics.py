"""Prometheus metrics: counters the pipeline bumps as it works, gauges read from the store.

Everything lives in one dedicated ``REGISTRY`` (never prometheus-client's global one), so
importing this module has no side effects on other code using prometheus-client and tests can
read values with ``REGISTRY.get_sample_value``. Counters are per process: with several
workers, scrape each one (Prometheus sums them). The queue depth comes from the store at
scrape time, so every worker reports the same, shared figure.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: The content type of ``exposition()``'s answer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry(auto_describe=True)

ARTICLES_INGESTED = Counter(
    "newsbot_articles_ingested", "New articles stored by polling, by source", ["source"],
    registry=REGISTRY,
)
SOURCE_ERRORS = Counter(
    "newsbot_source_errors", "Polls of a source that failed (fetch or parse)", ["source"],
    registry=REGISTRY,
)
DELIVERIES = Counter(
    "newsbot_deliveries",
    "Delivery attempts by channel and outcome (sent, failed, unknown, retry, rate_limited, "
    "duplicate, previewed, template_error, claim_lost)",
    ["channel", "outcome"], registry=REGISTRY,
)
SEND_SECONDS = Histogram(
    "newsbot_send_seconds",
    "Time to deliver one post that reached the platform (render, send, record), by channel",
    ["channel"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RATE_LIMITED = Counter(
    "newsbot_rate_limited", "Sends the platform refused with 429 (rate limited), by channel",
    ["channel"], registry=REGISTRY,
)
DIGEST_RECIPIENTS_SENT = Counter(
    "newsbot_digest_recipients_sent", "Digest emails accepted by the SMTP server, by channel",
    ["channel"], registry=REGISTRY,
)

# Outcomes where a request went to the platform: their duration is a send latency.
_SENT_TO_PLATFORM = frozenset({"sent", "failed", "unknown", "retry", "rate_limited", "duplicate"})


async def observe_delivery(channel: str, delivering: Awaitable[str]) -> str:
    """Await one delivery (``Dispatcher.deliver``), count its outcome and time it."""
    started = time.perf_counter()
    outcome = await delivering
    DELIVERIES.labels(channel, outcome).inc()
    if outcome in _SENT_TO_PLATFORM:
        SEND_SECONDS.labels(channel).observe(time.perf_counter() - started)
    if outcome == "rate_limited":
        RATE_LIMITED.labels(channel).inc()
    return outcome


class CountsByStatus(Protocol):
    def counts_by_status(self) -> dict[str, dict[str, int]]: ...


class QueueDepth(Collector):
    """``newsbot_queue_depth{channel}``: pending deliveries, read from the store per scrape."""

    def __init__(self, store: CountsByStatus, channels: Iterable[str] = ()) -> None:
        self.store = store
        self.channels = tuple(channels)

    def collect(self) -> Iterator[Metric]:
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
    scrape = CollectorRegistry(auto_describe=False)
    if store is not None:
        scrape.register(QueueDepth(store, channels))
    families = list(extra)
    if families:
        scrape.register(_Fixed(families))
    return generate_latest(REGISTRY) + generate_latest(scrape)


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families
