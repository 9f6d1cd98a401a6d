"""Corrections follow the story: a headline the feed corrects after posting is corrected in
place where the platform can edit (Telegram, through the local Bot API server), recorded as
not posted where it cannot, and marked "Updated" in the next digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import parse_config
from bot.corrections import correction_policy
from bot.models import DeliveryStatus, FeedItem, Receipt
from bot.operations import run_cycle
from bot.store import NewDelivery, PollSuccess, Store, open_store
from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, parse_html

telegram_api = fake_api.telegram_api  # the fixture: a fresh server per test

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

STORE_CONFIG = """
timezone: UTC
sources: [{id: en, url: feed.xml}]
channels:
  tg: {type: telegram, chat: "@c", token: t}
  xe: {type: x}
  gone-quiet: {type: telegram, chat: "@q", token: t, enabled: false}
"""


def item(title: str, summary: str = "<p>Guards added posts.</p>") -> FeedItem:
    return FeedItem(source_id="en", guid="g1", url="https://news.example.org/a/1", title=title,
                    summary=summary.removeprefix("<p>").removesuffix("</p>"),
                    summary_html=summary)


def sent_article(store: Store, channels: tuple[str, ...], *, sent_at: datetime) -> int:
    article, _ = store.add_article(item("Border guards tighten watch"), now=sent_at)
    store.create_deliveries(article.id, [NewDelivery(c, sent_at) for c in channels],
                            now=sent_at)
    for delivery in store.deliveries():
        store.mark_sent(delivery.id, Receipt(platform_id=f"{delivery.channel}-77"),
                        now=sent_at, worker="")
    return article.id


def poll_again(store: Store, config_text: str, feed_item: FeedItem, now: datetime) -> None:
    config = parse_config(config_text)
    store.record_poll("en", [feed_item], announced=[True], found=None,
                      plan=lambda fresh: [], done=PollSuccess(now=now, next_poll_at=now),
                      corrections=correction_policy(config))


def test_a_corrected_headline_plans_an_edit_where_the_platform_can_and_says_so_where_not(
        store: Store) -> None:
    article_id = sent_article(store, ("tg", "xe", "gone-quiet"), sent_at=NOW)
    poll_again(store, STORE_CONFIG, item("Border guards tighten watch on Syrian frontier"),
               NOW + timedelta(hours=3))

    rows = {(d.channel, d.revision): d for d in store.deliveries()}
    edit = rows[("tg", 1)]
    assert edit.status is DeliveryStatus.PENDING and edit.edit_of == "tg-77"
    assert rows[("xe", 1)].status is DeliveryStatus.SKIPPED
    assert "cannot edit a sent post" in rows[("xe", 1)].note
    assert ("gone-quiet", 1) not in rows  # a disabled channel is left alone
    assert store.get_article(article_id).corrected_at is not None


def test_the_same_headline_again_or_a_new_one_while_an_edit_waits_adds_no_second_edit(
        store: Store) -> None:
    sent_article(store, ("tg",), sent_at=NOW)
    for hours, title in ((1, "Corrected"), (2, "Corrected"), (3, "Corrected twice")):
        poll_again(store, STORE_CONFIG, item(title), NOW + timedelta(hours=hours))
    assert [(d.revision, d.status) for d in store.deliveries(channel="tg")] == [
        (0, DeliveryStatus.SENT), (1, DeliveryStatus.PENDING)]


def test_a_correction_after_the_window_or_of_markup_only_changes_nothing(store: Store) -> None:
    sent_article(store, ("tg",), sent_at=NOW)
    poll_again(store, STORE_CONFIG, item("Border guards tighten watch",
                                         "<p>Guards  added <b>posts</b>.</p>"),
               NOW + timedelta(hours=1))
    poll_again(store, STORE_CONFIG, item("Corrected far too late"), NOW + timedelta(hours=49))
    assert [d.revision for d in store.deliveries()] == [0]


def _feed(title: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>News</title><link>https://news.example.org/</link>
<description>d</description>
<item><title>{title}</title><link>https://news.example.org/en/2026/11/raid</link>
<guid>raid-1</guid><pubDate>Tue, 24 Nov 2026 08:00:00 +0000</pubDate>
<description>Guards added new observation posts along the frontier on Tuesday.</description>
</item></channel></rss>"""


async def test_a_corrected_headline_edits_the_telegram_post_in_place_within_one_poll(
        telegram_api: FakeTelegramAPI, tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_text(_feed("Border guards tighten watch"), encoding="utf-8")
    config = parse_config(f"""
timezone: UTC
backfill: 3650d
preview_dir: {tmp_path}/preview
sources: [{{id: en, url: {feed}, fetch_pages: never}}]
corrections: {{note: "Updated"}}
channels:
  tg:
    type: telegram
    chat: "@newsroom"
    token: {TOKEN}
    api_url: {telegram_api.base_url}
    photo: never
""")
    with open_store(f"sqlite:///{tmp_path}/newsbot.db") as store:
        await run_cycle(config, store, now=NOW)
        assert len(telegram_api.messages) == 1
        posted = telegram_api.messages[0]

        feed.write_text(_feed("Border guards tighten watch on Syrian frontier"),
                        encoding="utf-8")
        report = await run_cycle(config, store, now=NOW + timedelta(minutes=5))

        assert len(telegram_api.messages) == 1  # nothing new was posted ...
        (edit,) = telegram_api.control.edits  # ... the post itself was corrected
        assert edit["message_id"] == posted.message_id and not edit["caption"]
        shown = parse_html(edit["text"])
        assert "Syrian frontier" in shown and shown.rstrip().endswith("Updated")
        assert report.dispatch.outcomes["sent"] == 1
        history = [d for d in store.deliveries(channel="tg") if d.is_correction]
        assert [(d.status, d.edit_of) for d in history] == [
            (DeliveryStatus.SENT, str(posted.message_id))]
        assert history[0].receipt_url  # a link to the corrected post


async def test_a_photo_post_is_corrected_through_its_caption(
        telegram_api: FakeTelegramAPI) -> None:
    from bot.models import RenderedPost
    from tests.test_telegram_channel import sender

    channel = sender(telegram_api)
    try:
        receipt = await channel.send(RenderedPost(
            channel="tg", article_id=1, text="<b>Old</b>", image_url=telegram_api.image_url()))
        corrected = RenderedPost(channel="tg", article_id=1, text="<b>New</b>\n\n<i>Updated</i>")
        fixed = await channel.edit(receipt.platform_id, corrected)
        again = await channel.edit(receipt.platform_id, corrected)
    finally:
        await channel.close()
    assert telegram_api.messages[0].method == "sendPhoto"
    assert [(e["caption"], e["text"]) for e in telegram_api.control.edits] == [
        (True, "<b>New</b>\n\n<i>Updated</i>")]
    assert fixed.note == "corrected in place"
    assert "already up to date" in again.note  # Telegram's "not modified" is no failure


DIGEST_CONFIG = """
timezone: UTC
sources: [{id: en, url: feed.xml}]
channels:
  digest: {type: email, from: "News <d@news.example.org>", schedule: {cron: "0 7 * * *"}}
"""


def test_the_next_digest_marks_a_corrected_article_updated(tmp_path: Path) -> None:
    from bot.config import EmailChannel
    from bot.digest.build import build_digest
    from bot.digest.message import render_digest
    from bot.render import make_environment

    config = parse_config(DIGEST_CONFIG)
    with open_store(f"sqlite:///{tmp_path}/s.db") as store:
        article, _ = store.add_article(item("Fixed headline"), now=NOW)
        plain = store.get_article(article.id)
        store.create_deliveries(article.id, [NewDelivery("digest", NOW)], now=NOW)
        (delivery,) = store.deliveries()
        store.mark_sent(delivery.id, Receipt(platform_id="run-1"), now=NOW, worker="")
        poll_again(store, DIGEST_CONFIG, item("Fixed headline, corrected"),
                   NOW + timedelta(hours=2))
        corrected = store.get_article(article.id)
        pending = [d for d in store.deliveries(channel="digest") if d.is_correction]
    assert [d.status for d in pending] == [DeliveryStatus.PENDING]  # rides the next edition
    cfg = config.channels["digest"]
    assert isinstance(cfg, EmailChannel)
    env = make_environment(config)

    def rendered(article: object) -> object:
        digest = build_digest("digest", cfg, [article], scheduled_for=NOW,  # type: ignore[list-item]
                              zone=config.zone)
        return render_digest(env, digest, cfg, run_id=1)

    marked, unmarked = rendered(corrected), rendered(plain)
    assert "(Updated)" in marked.text and "Updated</span>" in marked.html  # type: ignore[attr-defined]
    assert "Updated" not in unmarked.text  # type: ignore[attr-defined]
