"""The stand-in Bot API server is as strict as Telegram where newsbot could go wrong."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes import telegram_api as fake_api
from tests.fakes.telegram_api import JPEG, TOKEN, FakeTelegramAPI, FloodLimits

telegram_api = fake_api.telegram_api  # the fixture: a fresh server per test


def call(api: FakeTelegramAPI, method: str, token: str = TOKEN, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{api.base_url}/bot{token}/{method}", timeout=5, **kwargs)


def test_get_me_answers_like_telegram(telegram_api: FakeTelegramAPI) -> None:
    body = call(telegram_api, "getMe").json()
    assert body["ok"] is True and body["result"]["is_bot"] is True


def test_wrong_token_is_401(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "getMe", token="1:nope")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_unknown_tag_cannot_be_parsed(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendMessage",
                    data={"chat_id": "@c", "text": "<p>x</p>", "parse_mode": "HTML"})
    assert response.status_code == 400
    assert response.json()["description"] == (
        'Bad Request: can\'t parse entities: Unsupported start tag "p" at byte offset 0')


def test_text_over_4096_utf16_units_is_too_long(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendMessage", data={"chat_id": "@c", "text": "😀" * 2049})
    assert response.json()["description"] == "Bad Request: message is too long"


def test_caption_over_1024_units_is_too_long(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendPhoto",
                    data={"chat_id": "@c", "caption": "a" * 1025,
                          "photo": telegram_api.image_url()})
    assert response.json()["description"] == "Bad Request: message caption is too long"


def test_uploaded_photo_is_accepted(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendPhoto", data={"chat_id": "@c", "caption": "hi"},
                    files={"photo": ("p.jpg", JPEG, "image/jpeg")})
    assert response.json()["result"]["photo"][0]["file_id"]
    assert telegram_api.messages[0].photo == f"upload:{len(JPEG)}"


def test_uploaded_non_image_is_refused(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendPhoto", data={"chat_id": "@c"},
                    files={"photo": ("p.jpg", b"<html>", "image/jpeg")})
    assert response.json()["description"] == "Bad Request: IMAGE_PROCESS_FAILED"


def test_photo_url_that_is_a_web_page_is_refused(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendPhoto",
                    data={"chat_id": "@c", "photo": telegram_api.image_url("page.html")})
    assert response.json()["description"] == "Bad Request: wrong type of the web page content"


def test_second_message_within_a_second_gets_429_with_retry_after(
        telegram_api: FakeTelegramAPI) -> None:
    call(telegram_api, "sendMessage", data={"chat_id": "@c", "text": "one"})
    response = call(telegram_api, "sendMessage", data={"chat_id": "@c", "text": "two"})
    assert response.status_code == 429
    assert response.json()["parameters"] == {"retry_after": 1}
    other = call(telegram_api, "sendMessage", data={"chat_id": "@d", "text": "two"})
    assert other.status_code == 200


def test_channel_gets_429_after_its_per_minute_quota() -> None:
    limits = FloodLimits(per_chat_interval=0.0, per_chat_per_window=3)
    with FakeTelegramAPI(limits=limits) as api:
        codes = [call(api, "sendMessage", data={"chat_id": "@c", "text": "x"}).status_code
                 for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_migrated_group_answers_with_the_new_chat_id(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.migrate(-42, -10042)
    body = call(telegram_api, "sendMessage", data={"chat_id": "-42", "text": "x"}).json()
    assert body["parameters"] == {"migrate_to_chat_id": -10042}


def test_forced_failure_applies_to_one_chat_only(telegram_api: FakeTelegramAPI) -> None:
    telegram_api.fail_next(500, chat="@a")
    assert call(telegram_api, "sendMessage", data={"chat_id": "@b", "text": "x"}).is_success
    assert call(telegram_api, "sendMessage", data={"chat_id": "@a", "text": "x"}).status_code == 500


def test_json_body_is_accepted(telegram_api: FakeTelegramAPI) -> None:
    response = call(telegram_api, "sendMessage",
                    json={"chat_id": "@c", "text": "<b>x</b>", "parse_mode": "HTML",
                          "link_preview_options": {"is_disabled": True}})
    assert response.json()["result"]["text"] == "x"
    assert telegram_api.messages[0].options["link_preview_options"] == {"is_disabled": True}
