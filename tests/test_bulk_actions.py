"""Failures can be listed and fixed in bulk: `history --status`, several ids or
`--channel C --status failed` (asking first), `requeue` for skipped posts within backfill,
and `once` exits non-zero when a post failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import load_config
from bot.models import DeliveryStatus, FeedItem
from bot.plan import plan_article
from bot.store import Store, open_store
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI
from tests.kit import newsbot, newsroom_yaml

telegram_api = fake_api.telegram_api
ROOT = Path(__file__).resolve().parent.parent

CONFIG = newsroom_yaml('tg: {type: telegram, chat: "@c"}', 'tg-two: {type: telegram, chat: "@d"}',
                       store="sqlite:///bot.db", extra="backfill: 2d\n")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def seed(project: Path, n: int, *, status: DeliveryStatus, channel: str = "tg",
         published: datetime | None = None, error: str = "Bad Request: chat not found",
         start: int = 0) -> list[int]:
    """n articles on both channels; ``channel``'s rows put in ``status``."""
    config = load_config(project / "config.yaml")
    now = datetime.now(UTC)
    store = open_store(config.store_url)
    ids = []
    try:
        for i in range(start, start + n):
            article, _ = store.add_article(FeedItem(
                source_id="en", guid=f"g{i}", url=f"https://news.example.org/{i}",
                title=f"Title {i}", summary="S.", published=published or now), now=now)
            store.create_deliveries(article.id, plan_article(article, config, now=now), now=now)
            delivery = next(d for d in store.deliveries(channel=channel)
                            if d.article_id == article.id)
            store.set_status(delivery.id, status, now=now, allowed_from=[DeliveryStatus.PENDING],
                             last_error=error if status is not DeliveryStatus.SKIPPED else "",
                             note="skipped by an editor" if status is DeliveryStatus.SKIPPED
                             else "")
            ids.append(delivery.id)
    finally:
        store.close()
    return ids


def statuses(project: Path) -> dict[int, DeliveryStatus]:
    store: Store = open_store(load_config(project / "config.yaml").store_url)
    try:
        return {d.id: d.status for d in store.deliveries()}
    finally:
        store.close()


def test_history_lists_failed_posts_with_ids_and_the_platforms_words(project: Path) -> None:
    ids = seed(project, 2, status=DeliveryStatus.FAILED)
    result = newsbot(project, "history", "--status", "failed", "--channel", "tg")
    assert result.exit_code == 0, result.output
    for delivery_id in ids:
        assert f"#{delivery_id} " in result.output
    assert result.output.count("Bad Request: chat not found") == 2
    assert "nothing has been sent" not in result.output
    assert "no failed deliveries" in newsbot(project, "history", "--status", "failed",
                                             "--channel", "tg-two").output


def test_history_since_leaves_older_ones_out(project: Path) -> None:
    seed(project, 1, status=DeliveryStatus.FAILED)
    week = newsbot(project, "history", "--status", "failed", "--since", "7d")
    assert "Title 0" in week.output
    store = open_store(load_config(project / "config.yaml").store_url)
    try:
        from sqlalchemy import update

        from bot.store import schema
        with store.engine.begin() as conn:
            conn.execute(update(schema.deliveries).values(
                updated_at=datetime.now(UTC) - timedelta(days=3)))
    finally:
        store.close()
    day = newsbot(project, "history", "--status", "failed", "--since", "1d")
    assert "Title 0" not in day.output and "no failed deliveries" in day.output


def test_history_of_a_channel_that_does_not_exist_is_an_error(project: Path) -> None:
    result = newsbot(project, "history", "--channel", "nosuch")
    assert result.exit_code == 2
    assert "no channel is named 'nosuch'" in result.output


def test_retry_takes_several_ids(project: Path) -> None:
    ids = seed(project, 3, status=DeliveryStatus.FAILED)
    result = newsbot(project, "retry", *map(str, ids))
    assert result.exit_code == 0, result.output
    assert all(statuses(project)[i] is DeliveryStatus.PENDING for i in ids)
    assert result.output.count("queued again") == 3


def test_retry_by_channel_and_status_asks_first(project: Path) -> None:
    ids = seed(project, 3, status=DeliveryStatus.FAILED)
    other = seed(project, 1, status=DeliveryStatus.FAILED, channel="tg-two", start=3)
    declined = newsbot(project, "retry", "--channel", "tg", "--status", "failed", input="n\n")
    assert declined.exit_code != 0 and "retry 3 failed deliveries on tg" in declined.output
    assert all(statuses(project)[i] is DeliveryStatus.FAILED for i in ids)
    accepted = newsbot(project, "retry", "--channel", "tg", "--status", "failed", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    after = statuses(project)
    assert all(after[i] is DeliveryStatus.PENDING for i in ids)
    assert after[other[0]] is DeliveryStatus.FAILED  # another channel: untouched


def test_skip_and_hold_in_bulk_for_scripts_with_yes(project: Path) -> None:
    seed(project, 2, status=DeliveryStatus.PENDING, channel="tg-two")
    result = newsbot(project, "hold", "--channel", "tg-two", "--status", "pending", "--yes")
    assert result.exit_code == 0, result.output
    store = open_store(load_config(project / "config.yaml").store_url)
    try:
        held = store.deliveries(statuses=[DeliveryStatus.HELD])
    finally:
        store.close()
    assert {d.channel for d in held} == {"tg-two"} and len(held) == 2
    skipped = newsbot(project, "skip", *(str(d.id) for d in held))
    assert skipped.exit_code == 0 and skipped.output.count("never be posted") == 2


def test_requeue_brings_back_a_skipped_post_within_the_backfill_window(project: Path) -> None:
    (recent,) = seed(project, 1, status=DeliveryStatus.SKIPPED)
    (stale,) = seed(project, 1, status=DeliveryStatus.SKIPPED, start=1,
                    published=datetime.now(UTC) - timedelta(days=5))
    ok = newsbot(project, "requeue", str(recent))
    assert ok.exit_code == 0, ok.output
    assert statuses(project)[recent] is DeliveryStatus.PENDING
    refused = newsbot(project, "retry", str(stale))
    assert refused.exit_code == 2
    assert "beyond the backfill window (2d)" in refused.output
    assert statuses(project)[stale] is DeliveryStatus.SKIPPED


def test_once_exits_non_zero_when_a_post_failed(
        tmp_path: Path, telegram_api: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    (tmp_path / "config.yaml").write_text(f"""
timezone: UTC
store: sqlite:///bot.db
backfill: 3650d
sources: [{{id: en, url: {ROOT}/examples/feeds/world.json}}]
channels:
  tg:
    type: telegram
    token: ${{TELEGRAM_BOT_TOKEN}}
    chat: "@c"
    api_url: {telegram_api.base_url}
    photo: never
""", encoding="utf-8")
    telegram_api.fail_next(400, count=None, description="Bad Request: chat not found")
    result = newsbot(tmp_path, "once")
    assert result.exit_code == 1, result.output
    assert "posts did not go" in result.output and "history --status failed" in result.output
