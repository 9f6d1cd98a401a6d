"""``/healthz`` says whether the bot can work (store, scheduler) and how each channel stands;
``/metrics`` exposes what the pipeline did in Prometheus' text format."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from bot import metrics
from bot.channels.telegram_platform import TelegramChannel
from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.errors import RateLimitedError, StoreError
from bot.ingest.poll import make_fetcher, poll_sources
from bot.models import FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.scheduler import Service
from bot.store import Store, open_store
from bot.web.app import make_app
from tests.fakes.channel import FakeChannel
from tests.feed_server import FeedServer

CONFIG = """
timezone: UTC
secret_key: test-secret-key-for-health-tests
sources: [{id: metrics-src, url: feed.xml}]
channels:
  tg:
    type: telegram
    chat: "@c"
    token: x
    photo: never
  tg-two:
    type: telegram
    chat: "@d"
    token: y
    photo: never
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'newsbot.db'}")
    yield opened
    opened.close()


@pytest.fixture
def service(store: Store, tmp_path: Path) -> Service:
    config = parse_config(CONFIG, base_dir=tmp_path)
    made = Service(tmp_path / "config.yaml", config, store, worker="w-test")
    made.last_tick = datetime.now(UTC)
    return made


def client(service: Service | None, store: Store) -> TestClient:
    config = service.config if service else parse_config(CONFIG)
    # From this machine: /healthz gives the detail only to a loopback peer.
    return TestClient(make_app(config, store, get_service=lambda: service),
                      client=("127.0.0.1", 50000))


class Advancing:
    """A clock an hour further on at every reading: pacing never holds a post back."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def scrape(service: Service, store: Store) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client(service, store).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


# ---------------------------------------------------------------- /healthz


def test_healthy_bot_answers_200_with_store_scheduler_and_channels(
    service: Service, store: Store
) -> None:
    store.update_channel("tg-two", now=datetime.now(UTC), paused=True,
                         attention="the bot was removed from the chat")
    response = client(service, store).get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["store"] == {"ok": True, "dialect": "sqlite"}
    assert body["scheduler"]["alive"] is True
    assert body["worker"] == "w-test"
    assert body["channels"] == {
        "tg": {"mode": "live", "paused": False, "attention": "", "preview": ""},
        "tg-two": {"mode": "paused", "paused": True,
                   "attention": "the bot was removed from the chat", "preview": ""},
    }


def test_a_stuck_scheduler_is_unhealthy(service: Service, store: Store) -> None:
    service.last_tick = datetime.now(UTC) - timedelta(minutes=10)
    response = client(service, store).get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["scheduler"]["alive"] is False
    assert "the scheduler last ticked" in body["problems"][0]


def test_an_unreachable_store_is_unhealthy(
    service: Service, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise StoreError("store postgresql+psycopg://bot@db/newsbot: channel_states failed: "
                         "connection refused", retryable=True)

    monkeypatch.setattr(service.store, "channel_states", down)
    response = client(service, store).get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["store"]["ok"] is False and "connection refused" in body["store"]["error"]
    assert body["problems"][0].startswith("store unreachable")


def test_before_the_service_starts_health_is_503(store: Store) -> None:
    response = client(None, store).get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["the scheduler is not running"]


def test_without_a_service_getter_the_readers_app_keeps_its_plain_health(
    store: Store,
) -> None:
    app = TestClient(make_app(parse_config(CONFIG), store))
    assert app.get("/healthz").text == "ok"
    assert app.get("/metrics").status_code == 404


# ---------------------------------------------------------------- /metrics


async def test_polling_counts_articles_ingested_and_errors_by_source(
    feed_server: FeedServer, store: Store, tmp_path: Path
) -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + "".join(f"<item><title>Story {n}</title><link>https://news.example.org/m/{n}</link>"
                  "<description>A long enough summary that no page needs to be fetched for "
                  "this item at all.</description></item>" for n in range(4))
        + "</channel></rss>"
    )
    config = parse_config(
        f"sources:\n  - {{id: metrics-ok, url: '{feed_server.add('/m.xml', feed)}'}}\n"
        f"  - {{id: metrics-bad, url: '{feed_server.url('/missing.xml')}'}}\n",
        base_dir=tmp_path)
    before_ok = sample("newsbot_articles_ingested_total", {"source": "metrics-ok"})
    before_bad = sample("newsbot_source_errors_total", {"source": "metrics-bad"})
    async with make_fetcher(config) as fetcher:
        await poll_sources(config, store, now=datetime.now(UTC), fetcher=fetcher)

    assert sample("newsbot_articles_ingested_total", {"source": "metrics-ok"}) == before_ok + 4
    assert sample("newsbot_source_errors_total", {"source": "metrics-bad"}) == before_bad + 1


async def test_dispatch_counts_outcomes_latency_and_429s_and_queue_depth_is_read_live(
    service: Service, store: Store
) -> None:
    from bot.channels.telegram import make_format

    now = datetime.now(UTC)
    for n in range(3):
        article, _ = store.add_article(FeedItem(
            source_id="metrics-src", guid=f"g{n}", url=f"https://news.example.org/q/{n}",
            title=f"Title {n}", summary="A summary sentence.", published=now), now=now)
        plans = [p for p in plan_article(article, service.config, now=now) if p.channel == "tg"]
        store.create_deliveries(article.id, plans, now=now)
    assert scrape(service, store)[("newsbot_queue_depth", (("channel", "tg"),))] == 3
    assert scrape(service, store)[("newsbot_queue_depth", (("channel", "tg-two"),))] == 0

    fake = FakeChannel()
    fake.errors.append(RateLimitedError("tg", "Too Many Requests", retry_after=0))
    cfg = service.config.channels["tg"]
    assert isinstance(cfg, TelegramChannel)
    dispatcher = Dispatcher(config=service.config, store=store,
                            outlets={"tg": Outlet("tg", cfg, make_format(cfg), fake)},
                            env=make_environment(service.config),
                            clock=Advancing(now))
    sent_before = sample("newsbot_deliveries_total", {"channel": "tg", "outcome": "sent"})
    limited_before = sample("newsbot_rate_limited_total", {"channel": "tg"})
    timed_before = sample("newsbot_send_seconds_count", {"channel": "tg"})
    for _ in range(4):
        await dispatcher.run_once()

    figures = scrape(service, store)
    sent = figures[("newsbot_deliveries_total", (("channel", "tg"), ("outcome", "sent")))]
    assert sent - sent_before == 3 == len(fake.sent)
    assert figures[("newsbot_rate_limited_total", (("channel", "tg"),))] - limited_before == 1
    assert figures[("newsbot_send_seconds_count", (("channel", "tg"),))] - timed_before == 4
    assert figures[("newsbot_queue_depth", (("channel", "tg"),))] == 0
    assert figures[("newsbot_store_up", ())] == 1
    assert figures[("newsbot_leader", ())] == 0
    assert figures[("newsbot_scheduler_last_tick_timestamp_seconds", ())] > 0


def test_metrics_still_answer_when_the_store_is_down(
    service: Service, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise StoreError("store postgresql+psycopg://bot@db/newsbot: counts_by_status failed: "
                         "connection refused", retryable=True)

    monkeypatch.setattr(service.store, "counts_by_status", down)
    figures = scrape(service, store)
    assert figures[("newsbot_store_up", ())] == 0
    assert not any(name == "newsbot_queue_depth" for name, _ in figures)


def test_digest_recipients_sent_is_a_counter_by_channel() -> None:
    # The increment sits in DigestSender._data beside report.sent (covered end to end by the
    # digest tests); here: the family exists and is exposed.
    metrics.DIGEST_RECIPIENTS_SENT.labels("morning").inc(0)
    text = metrics.exposition().decode()
    assert 'newsbot_digest_recipients_sent_total{channel="morning"}' in text
