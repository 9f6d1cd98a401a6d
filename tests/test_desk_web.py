"""The desk over HTTP (no browser): who may see and do what, and what each action changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from bot.config import Config
from bot.desk.app import desk_routes
from bot.models import DeliveryStatus
from bot.store import Store
from tests import desk_kit as kit
from tests.desk_kit import SAME, cheap_argon2  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("cheap_argon2")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[Path, Config, Store]]:
    path = kit.write_project(tmp_path / "project")
    config, store = kit.open_project(path)
    kit.add_accounts(store)
    yield path, config, store
    store.close()


@pytest.fixture
def desk(project: tuple[Path, Config, Store]) -> TestClient:
    path, config, store = project
    c = kit.client(config, store, path)
    kit.log_in(c)
    return c


def _desk_paths(project: tuple[Path, Config, Store]) -> list[tuple[str, str]]:
    path, config, store = project
    found = []
    for route in desk_routes(config, store, path):
        if isinstance(route, Mount) or not isinstance(route, Route):
            continue  # static files (htmx, css) are public, like any site's
        if route.path == "/desk/login":
            continue
        concrete = re.sub(r"\{id:int\}", "1", route.path)
        concrete = re.sub(r"\{[^}]+\}", "tg", concrete)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, concrete))
    return found


def test_every_desk_page_without_a_session_redirects_to_login_and_every_post_is_403(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    c = kit.client(config, store, path)
    routes = _desk_paths(project)
    assert len(routes) >= 15
    for method, url in routes:
        response = c.request(method, url, headers=SAME)
        if method == "GET":
            assert response.status_code == 303, url
            assert response.headers["location"].startswith("/desk/login?next="), url
        else:
            assert response.status_code == 403, (method, url)


def test_a_forged_or_ended_session_cookie_is_no_session(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    c = kit.client(config, store, path)
    kit.log_in(c)
    cookie = c.cookies["newsbot_desk"]
    _, signed = cookie.split(".", 1)
    c.cookies.set("newsbot_desk", f"2.{signed}", path="/desk")  # another account's id
    assert c.get("/desk/").status_code == 303
    c.cookies.set("newsbot_desk", cookie, path="/desk")
    assert c.get("/desk/").status_code == 200


def test_a_session_ends_after_a_working_day_even_where_the_browser_keeps_the_cookie(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    now = [datetime(2026, 3, 2, 9, 0, tzinfo=UTC)]
    app = Starlette(routes=desk_routes(config, store, path, clock=lambda: now[0]))
    c = TestClient(app, base_url=kit.BASE, follow_redirects=False)
    kit.log_in(c)
    now[0] += timedelta(hours=11)
    assert c.get("/desk/").status_code == 200
    now[0] += timedelta(hours=1, minutes=1)  # a copied cookie is worth no more than Max-Age
    response = c.get("/desk/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/desk/login")


def test_a_cross_site_post_is_refused_and_changes_nothing(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1)
    (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
    token = kit.csrf(desk)
    for headers in ({"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "https://evil.example"},
                    {}):  # neither header: not provably ours
        response = desk.post(f"/desk/deliveries/{tg.id}/skip", data={"csrf": token},
                             headers=headers)
        assert response.status_code == 403
    response = desk.post(f"/desk/deliveries/{tg.id}/skip", data={}, headers=SAME)
    assert response.status_code == 403  # same site, but no token
    assert store.get_delivery(tg.id).status is DeliveryStatus.AWAITING
    response = desk.post(f"/desk/deliveries/{tg.id}/skip", data={"csrf": token},
                         headers={"Origin": kit.BASE})
    assert response.status_code == 303
    assert store.get_delivery(tg.id).status is DeliveryStatus.SKIPPED


def test_five_failed_logins_for_an_account_give_429_even_with_the_right_password(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    for n in range(5):
        c = kit.client(config, store, path, client=(f"192.0.2.{n}", 1000))
        response = c.post("/desk/login", data={"name": "ada", "password": "wrong"},
                          headers=SAME)
        assert response.status_code == 401
    c = kit.client(config, store, path, client=("192.0.2.99", 1000))
    response = c.post("/desk/login", data={"name": "ada", "password": kit.ADMIN_PASSWORD},
                      headers=SAME)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "newsbot_desk" not in response.headers.get("set-cookie", "")
    kit.log_in(c, "eve", kit.EDITOR_PASSWORD)  # other accounts are not locked out


def test_five_failed_logins_from_one_client_give_429_for_every_account(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    c = kit.client(config, store, path, client=("198.51.100.7", 1000))
    for n in range(5):
        c.post("/desk/login", data={"name": f"nobody{n}", "password": "x"}, headers=SAME)
    response = c.post("/desk/login", data={"name": "eve", "password": kit.EDITOR_PASSWORD},
                      headers=SAME)
    assert response.status_code == 429


def test_logging_out_ends_every_session_of_the_account(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    laptop, phone = kit.client(config, store, path), kit.client(config, store, path)
    kit.log_in(laptop)
    kit.log_in(phone)
    token = kit.csrf(laptop)
    assert laptop.post("/desk/logout", data={"csrf": token}, headers=SAME).status_code == 303
    assert phone.get("/desk/").status_code == 303


def test_a_password_change_ends_every_session(project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    laptop, phone = kit.client(config, store, path), kit.client(config, store, path)
    kit.log_in(laptop, "eve", kit.EDITOR_PASSWORD)
    kit.log_in(phone, "eve", kit.EDITOR_PASSWORD)
    token = kit.csrf(laptop, "/desk/accounts")
    response = laptop.post("/desk/accounts/password", headers=SAME, data={
        "csrf": token, "current": kit.EDITOR_PASSWORD, "new": "a new password 2",
        "again": "a new password 2"})
    assert response.status_code == 303
    assert phone.get("/desk/").status_code == 303
    assert laptop.get("/desk/").status_code == 303
    kit.log_in(phone, "eve", "a new password 2")


def test_guessing_the_current_password_in_the_change_form_stops_after_five_tries(
        project: tuple[Path, Config, Store]) -> None:
    # Someone at an editor's open session must not learn the password by trying it here.
    path, config, store = project
    c = kit.client(config, store, path)
    kit.log_in(c, "eve", kit.EDITOR_PASSWORD)
    token = kit.csrf(c, "/desk/accounts")
    for n in range(5):
        c.post("/desk/accounts/password", headers=SAME, data={
            "csrf": token, "current": f"guess number {n}", "new": "a new password 2",
            "again": "a new password 2"})
    response = c.post("/desk/accounts/password", headers=SAME, data={
        "csrf": token, "current": kit.EDITOR_PASSWORD, "new": "a new password 2",
        "again": "a new password 2"})
    assert response.status_code == 303
    assert "error=" in response.headers["location"]
    assert "Too%20many" in response.headers["location"]
    assert c.get("/desk/").status_code == 200  # the session goes on; the password did not change


def test_pages_send_csp_frame_and_referrer_headers_and_never_a_secret(
        project: tuple[Path, Config, Store], desk: TestClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, config, store = project
    kit.add_article(store, config, 1)
    for url in ("/desk/", "/desk/articles/1", "/desk/plan", "/desk/history", "/desk/status",
                "/desk/schedule", "/desk/accounts"):
        response = desk.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert kit.SECRET not in response.text
        assert "argon2" not in response.text  # no password hash either
    cookie = desk.cookies["newsbot_desk"]
    assert cookie.count(".") == 3 and cookie.split(".")[0].isdigit()  # id.version.issued.sig


def test_an_editor_may_not_open_the_schedule_or_manage_accounts(
        project: tuple[Path, Config, Store]) -> None:
    path, config, store = project
    c = kit.client(config, store, path)
    kit.log_in(c, "eve", kit.EDITOR_PASSWORD)
    assert c.get("/desk/schedule").status_code == 403
    token = kit.csrf(c)
    before = path.read_text()
    assert c.post("/desk/schedule/tg", headers=SAME,
                  data={"csrf": token, "windows": "08:00-09:00"}).status_code == 403
    assert path.read_text() == before
    assert c.post("/desk/accounts/add", headers=SAME, data={
        "csrf": token, "name": "mallory", "password": "long enough 1",
        "role": "admin"}).status_code == 403
    assert store.get_editor("mallory") is None


def test_the_queue_shows_posts_awaiting_approval_and_approve_lets_one_go(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1, title="Dam opens")
    (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
    page = desk.get("/desk/").text
    assert "Dam opens" in page and "awaiting approval" in page
    response = desk.post(f"/desk/deliveries/{tg.id}/approve", headers=SAME,
                         data={"csrf": kit.csrf(desk)})
    assert response.status_code == 303
    assert "approved" in response.headers["location"]
    assert store.get_delivery(tg.id).status is DeliveryStatus.PENDING
    (action,) = store.actions(delivery_id=tg.id)
    assert (action.editor, action.action, action.channel) == ("ada", "approve", "tg")


def test_an_x_edit_past_280_is_refused_with_the_count_and_nothing_is_stored(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1)
    (x,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "x"]
    response = desk.post(f"/desk/deliveries/{x.id}/edit", headers=SAME,
                         data={"csrf": kit.csrf(desk), "text": "word " * 60})
    assert response.status_code == 422
    assert "X counts 299" in response.text and "at most 280" in response.text
    assert store.get_delivery(x.id).edited_text == ""
    fitting = "Short and true https://news.example.org/1"
    response = desk.post(f"/desk/deliveries/{x.id}/edit", headers=SAME,
                         data={"csrf": kit.csrf(desk), "text": fitting})
    assert response.status_code == 303
    assert store.get_delivery(x.id).edited_text == fitting


def test_a_telegram_edit_with_html_telegram_refuses_is_refused_with_the_reason(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1)
    (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
    response = desk.post(f"/desk/deliveries/{tg.id}/edit", headers=SAME,
                         data={"csrf": kit.csrf(desk), "text": "<div>Dam</div> opens"})
    assert response.status_code == 422
    assert "unsupported tag &lt;div&gt;" in response.text
    response = desk.post(f"/desk/deliveries/{tg.id}/measure", headers=SAME,
                         data={"csrf": kit.csrf(desk), "text": "<b>Dam</b> 😀"})
    assert "6 / 4096 UTF-16 units" in response.text


def test_skip_takes_a_post_out_of_the_queue(project: tuple[Path, Config, Store],
                                            desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1, title="Skipped story")
    for d in store.deliveries_of_article(article.id):
        desk.post(f"/desk/deliveries/{d.id}/skip", headers=SAME, data={"csrf": kit.csrf(desk)})
    assert "Skipped story" not in desk.get("/desk/").text
    assert "Skipped story" in desk.get("/desk/history?status=skipped").text


def test_pause_from_the_status_page_holds_the_channel_for_every_worker(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, _, store = project
    response = desk.post("/desk/channels/x/pause", headers=SAME,
                         data={"csrf": kit.csrf(desk, "/desk/status")})
    assert response.status_code == 303
    assert store.channel_state("x").paused
    assert "paused" in desk.get("/desk/status").text


def test_reschedule_moves_a_post_to_the_local_time_given_and_keeps_its_state(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    _, config, store = project
    article = kit.add_article(store, config, 1)
    (tg,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "tg"]
    response = desk.post(f"/desk/deliveries/{tg.id}/reschedule", headers=SAME,
                         data={"csrf": kit.csrf(desk), "at": "2026-12-01T09:30"})
    assert response.status_code == 303 and "moved" in response.headers["location"]
    moved = store.get_delivery(tg.id)
    assert moved.due_at.isoformat() == "2026-12-01T09:30:00+00:00"  # the channel's zone: UTC
    assert moved.status is DeliveryStatus.AWAITING  # still needs its approval
    response = desk.post(f"/desk/deliveries/{tg.id}/reschedule", headers=SAME,
                         data={"csrf": kit.csrf(desk), "at": "tomorrow"})
    assert "is+not+a+date" in response.headers["location"].replace("%20", "+")


def test_an_admin_adds_an_editor_who_can_log_in_and_removing_them_ends_their_session(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    path, config, store = project
    response = desk.post("/desk/accounts/add", headers=SAME, data={
        "csrf": kit.csrf(desk, "/desk/accounts"), "name": "nia",
        "password": "nia's long password", "role": "editor"})
    assert response.status_code == 303 and "added" in response.headers["location"]
    nia = kit.client(config, store, path)
    kit.log_in(nia, "nia", "nia's long password")
    assert nia.get("/desk/").status_code == 200
    response = desk.post("/desk/accounts/nia/remove", headers=SAME,
                         data={"csrf": kit.csrf(desk, "/desk/accounts")})
    assert response.status_code == 303
    assert nia.get("/desk/").status_code == 303
    assert [a.action for a in store.actions()][:2] == ["remove-editor", "add-editor"]
