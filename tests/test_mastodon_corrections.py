"""A headline the feed corrects after posting is corrected in the Mastodon post itself
(PUT /api/v1/statuses/:id on the local instance), within one poll, image and all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import parse_config
from bot.models import DeliveryStatus
from bot.operations import run_cycle
from bot.store import open_store
from tests.fakes import mastodon_api as fake
from tests.fakes.mastodon_api import TOKEN, FakeMastodonApi
from tests.images import png

mastodon_api = fake.mastodon_api  # the fixture: a fresh instance per test

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def _feed(title: str, image: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>News</title>
<link>https://news.example.org/</link><description>d</description>
<item><title>{title}</title><link>https://news.example.org/en/2026/11/raid</link>
<guid>raid-1</guid><pubDate>Tue, 24 Nov 2026 08:00:00 +0000</pubDate>
<description>Guards added new observation posts along the frontier on Tuesday.</description>
<media:content url="{image}" medium="image" type="image/png"/>
</item></channel></rss>"""


async def test_a_corrected_headline_edits_the_mastodon_post_in_place_within_one_poll(
        mastodon_api: FakeMastodonApi, tmp_path: Path) -> None:
    image = mastodon_api.add_image("raid.png", png(1200, 675))
    feed = tmp_path / "feed.xml"
    feed.write_text(_feed("Border guards tighten watch", image), encoding="utf-8")
    config = parse_config(f"""
timezone: UTC
backfill: 3650d
preview_dir: {tmp_path}/preview
fetch: {{allow_private: [127.0.0.0/8]}}
sources: [{{id: en, url: {feed}, fetch_pages: never, language: en}}]
corrections: {{note: "Updated"}}
channels:
  mastodon:
    type: mastodon
    access_token: {TOKEN}
    api_url: {mastodon_api.base_url}
""")
    with open_store(f"sqlite:///{tmp_path}/newsbot.db") as store:
        await run_cycle(config, store, now=NOW)
        (status,) = mastodon_api.statuses
        assert len(status.media_ids) == 1

        feed.write_text(_feed("Border guards tighten watch on Syrian frontier", image),
                        encoding="utf-8")
        report = await run_cycle(config, store, now=NOW + timedelta(minutes=5))

        assert len(mastodon_api.statuses) == 1  # nothing new was posted ...
        assert status.edits and "Syrian frontier" not in status.edits[0]
        assert status.text.startswith("Border guards tighten watch on Syrian frontier")
        assert status.text.endswith("\n\nUpdated")  # ... the post itself was corrected
        assert len(status.media_ids) == 1 and status.language == "en"  # and kept the rest
        assert report.dispatch.outcomes["sent"] == 1
        history = [d for d in store.deliveries(channel="mastodon") if d.is_correction]
        assert [(d.status, d.edit_of) for d in history] == [(DeliveryStatus.SENT, status.id)]
        assert history[0].receipt_url.endswith(f"/@newsroom/{status.id}")
