"""Dispatch acts on the error's type: retry, fail, or unknown; and it never sends twice.

The channel here is an in-memory fake of the Channel protocol (the platform channels have
their own tests against local API-compatible servers); the store is real, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.dispatch import Dispatcher
from bot.errors import (
    AuthError,
    DuplicateContentError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    UnknownOutcomeError,
)
from bot.models import Delivery, DeliveryStatus, FeedItem
from bot.outlets import Outlet
from bot.plan import plan_article
from bot.render import make_environment
from bot.store import Store
from tests.fakes.channel import FakeChannel
from tests.kit import WallClock, newsroom_yaml

CONFIG = newsroom_yaml("""
tg:
  type: telegram
  chat: "@c"
  token: x
  photo: never
""")
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def setup(store: Store, tmp_path: Path, articles: int = 1, extra: str = ""
          ) -> tuple[Dispatcher, FakeChannel, WallClock]:
    from bot.channels.telegram import make_format

    config = parse_config(CONFIG + extra, base_dir=tmp_path)
    for n in range(articles):
        article, _ = store.add_article(FeedItem(
            source_id="en", guid=f"g{n}", url=f"https://news.example.org/{n}",
            title=f"Title {n}", summary="A summary sentence.", published=NOW), now=NOW)
        store.create_deliveries(article.id, plan_article(article, config, now=NOW), now=NOW)
    fake = FakeChannel()
    cfg = config.channels["tg"]
    clock = WallClock(NOW)
    outlets = {"tg": Outlet("tg", cfg, make_format(cfg), fake)}
    dispatcher = Dispatcher(config=config, store=store, outlets=outlets,
                            env=make_environment(config), clock=clock)
    return dispatcher, fake, clock


def only(store: Store) -> Delivery:
    (delivery,) = store.deliveries()
    return delivery


async def test_a_sent_post_is_recorded_with_its_receipt_and_never_sent_again(
        store: Store, tmp_path: Path) -> None:
    dispatcher, fake, _ = setup(store, tmp_path)
    await dispatcher.run_once()
    await dispatcher.run_once()
    assert len(fake.sent) == 1
    delivery = only(store)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.receipt_url == "https://t.me/c/1"


@pytest.mark.parametrize(("error", "status"), [
    (PermanentError("tg", "Bad Request: chat not found"), DeliveryStatus.FAILED),
    (UnknownOutcomeError("tg", "timed out after sending"), DeliveryStatus.UNKNOWN),
    (RuntimeError("a bug in a channel"), DeliveryStatus.UNKNOWN),
])
async def test_final_outcomes_keep_the_platforms_words(
        store: Store, tmp_path: Path, error: Exception, status: DeliveryStatus) -> None:
    dispatcher, fake, clock = setup(store, tmp_path)
    fake.errors.append(error)
    await dispatcher.run_once()
    clock.now += timedelta(hours=2)
    await dispatcher.run_once()
    delivery = only(store)
    assert delivery.status is status
    assert str(error.args[-1]) in delivery.last_error
    assert fake.sent == []  # never retried automatically


async def test_rate_limit_reschedules_at_the_platforms_retry_after(
        store: Store, tmp_path: Path) -> None:
    dispatcher, fake, clock = setup(store, tmp_path)
    fake.errors.append(RateLimitedError("tg", "Too Many Requests", retry_after=42))
    await dispatcher.run_once()
    delivery = only(store)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.due_at == NOW + timedelta(seconds=42)
    clock.now += timedelta(seconds=41)
    await dispatcher.run_once()
    assert fake.sent == []
    clock.now += timedelta(seconds=1)
    await dispatcher.run_once()
    assert len(fake.sent) == 1 and only(store).status is DeliveryStatus.SENT


async def test_retryable_errors_back_off_then_give_up(store: Store, tmp_path: Path) -> None:
    dispatcher, fake, clock = setup(store, tmp_path)
    fake.errors.extend(RetryableError("tg", "502 Bad Gateway") for _ in range(20))
    for _ in range(20):
        await dispatcher.run_once()
        clock.now += timedelta(hours=2)
    delivery = only(store)
    assert delivery.status is DeliveryStatus.FAILED
    assert "gave up after 8 attempts" in delivery.last_error


async def test_auth_error_fails_the_post_and_flags_the_channel(
        store: Store, tmp_path: Path) -> None:
    dispatcher, fake, _ = setup(store, tmp_path)
    fake.errors.append(AuthError("tg", "Forbidden: bot is not a member of the channel chat"))
    await dispatcher.run_once()
    assert only(store).status is DeliveryStatus.FAILED
    assert "not a member" in store.channel_state("tg").attention


async def test_duplicate_is_final_and_recorded_as_already_there(
        store: Store, tmp_path: Path) -> None:
    dispatcher, fake, clock = setup(store, tmp_path)
    fake.errors.append(DuplicateContentError("tg", "duplicate content"))
    await dispatcher.run_once()
    clock.now += timedelta(hours=2)
    await dispatcher.run_once()
    delivery = only(store)
    assert delivery.status is DeliveryStatus.SENT
    assert "already" in delivery.note and fake.sent == []


async def test_a_bad_template_keeps_the_post_waiting_and_names_the_template(
        store: Store, tmp_path: Path) -> None:
    (tmp_path / "templates" / "telegram").mkdir(parents=True)
    (tmp_path / "templates" / "telegram" / "bad.html.j2").write_text(
        "<b>{{ article.title }}</b>\n{{ article.headline }}\n")
    dispatcher, _, _ = setup(store, tmp_path, extra="    template: telegram/bad.html.j2\n")
    await dispatcher.run_once()
    delivery = only(store)
    assert delivery.status is DeliveryStatus.PENDING
    assert "telegram/bad.html.j2', line 2" in delivery.last_error
    assert "headline" in delivery.last_error
    assert "bad.html.j2" in store.channel_state("tg").attention


async def test_one_failing_channel_does_not_stop_another(store: Store, tmp_path: Path) -> None:
    from bot.channels.telegram import make_format

    extra = '  tg2:\n    type: telegram\n    chat: "@d"\n    token: y\n    photo: never\n'
    dispatcher, fake, _ = setup(store, tmp_path, extra=extra)
    other = FakeChannel("tg2")
    cfg = dispatcher.config.channels["tg2"]
    dispatcher.outlets["tg2"] = Outlet("tg2", cfg, make_format(cfg), other)
    fake.errors.append(RetryableError("tg", "connection refused"))
    await dispatcher.run_once()
    assert len(other.sent) == 1 and fake.sent == []
