"""The local Mastodon server is as strict as a real instance where the channel relies on it:
the bearer token, the length rule and its words, idempotency keys for an hour, and edits
that drop media they do not list again."""

from __future__ import annotations

import requests

from tests.fakes import mastodon_api as fake
from tests.fakes.mastodon_api import TOKEN, FakeMastodonApi

mastodon_api = fake.mastodon_api  # the fixture: a fresh instance per test

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def post_status(api: FakeMastodonApi, text: str, key: str = "", **form: str
                ) -> requests.Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return requests.post(f"{api.base_url}/api/v1/statuses", data={"status": text, **form},
                         headers=headers, timeout=5)


def test_a_missing_or_wrong_token_is_refused_but_the_instance_is_public(
        mastodon_api: FakeMastodonApi) -> None:
    refused = requests.post(f"{mastodon_api.base_url}/api/v1/statuses", data={"status": "x"},
                            headers={"Authorization": "Bearer nope"}, timeout=5)
    public = requests.get(f"{mastodon_api.base_url}/api/v2/instance", timeout=5)

    assert (refused.status_code, refused.json()) == (401, {
        "error": "The access token is invalid"})
    assert public.json()["configuration"]["statuses"]["max_characters"] == 500
    assert mastodon_api.statuses == []


def test_too_long_is_a_422_in_mastodons_words_counting_urls_as_23(
        mastodon_api: FakeMastodonApi) -> None:
    mastodon_api.max_characters = 30
    url = "https://news.example.org/" + "a" * 100

    fits = post_status(mastodon_api, f"Read {url}")  # 5 + 23
    over = post_status(mastodon_api, f"Read {url}", spoiler_text="CW: war")  # + 7

    assert fits.status_code == 200
    assert (over.status_code, over.json()) == (422, {
        "error": "Validation failed: Text character limit of 30 exceeded"})


def test_a_repeated_key_answers_with_the_first_status_for_an_hour_only(
        mastodon_api: FakeMastodonApi) -> None:
    first = post_status(mastodon_api, "Dams", key="k1")
    again = post_status(mastodon_api, "Dams, reworded", key="k1")
    other = post_status(mastodon_api, "Dams", key="k2")
    mastodon_api.idempotency_ttl = 0  # the hour has passed
    late = post_status(mastodon_api, "Dams", key="k1")

    assert again.json()["id"] == first.json()["id"]
    assert len({first.json()["id"], other.json()["id"], late.json()["id"]}) == 3
    assert [s.text for s in mastodon_api.statuses] == ["Dams"] * 3


def test_an_edit_that_does_not_list_the_media_drops_it(mastodon_api: FakeMastodonApi) -> None:
    media = requests.post(f"{mastodon_api.base_url}/api/v2/media", headers=AUTH, timeout=5,
                          files={"file": ("a.png", b"\x89PNG", "image/png")},
                          data={"description": "alt"}).json()
    status = post_status(mastodon_api, "Old", **{"media_ids[]": media["id"]}).json()

    edited = requests.put(f"{mastodon_api.base_url}/api/v1/statuses/{status['id']}",
                          data={"status": "New"}, headers=AUTH, timeout=5).json()

    assert status["media_attachments"][0]["description"] == "alt"
    assert edited["media_attachments"] == [] and edited["edited_at"]
