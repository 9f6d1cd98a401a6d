"""The schedule form writes config.yaml back in place: comments and layout kept, validated as
the running bot's reload would, refused edits and stale forms leave the file untouched."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from bot.cli import cli
from bot.config import Config, load_config
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


def _form(desk: TestClient, channel: str) -> dict[str, str]:
    page = desk.get("/desk/schedule").text
    section = page[page.index(f'id="schedule-{channel}"'):]
    section = section[:section.index("</form>")]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', section))
    fields.update(re.findall(r'<textarea name="(\w+)"[^>]*>([^<]*)</textarea>', section))
    return fields


def test_saving_a_window_rewrites_only_that_line_and_keeps_every_comment(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    path, _, store = project
    before = path.read_text()
    form = _form(desk, "tg")
    assert form["windows"] == "00:00-24:00"
    form["windows"] = "08:00-12:00"
    response = desk.post("/desk/schedule/tg", data=form, headers=SAME)
    assert response.status_code == 303
    after = path.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True)
               if a != b]
    assert changed == [('    schedule: {windows: ["00:00-24:00"]}   # the Telegram window',
                        '    schedule: {windows: ["08:00-12:00"]}   # the Telegram window')]
    assert load_config(path).channels["tg"].schedule.windows[0].start.hour == 8
    (action,) = store.actions()
    assert (action.editor, action.action, action.channel) == ("ada", "schedule", "tg")


def test_a_refused_edit_leaves_the_file_untouched_and_names_the_yaml_path(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    path, _, _ = project
    before = path.read_bytes()
    form = _form(desk, "x")
    form["max_per_day"] = "0"
    response = desk.post("/desk/schedule/x", data=form, headers=SAME)
    assert response.status_code == 422
    assert "channels.x.schedule.max_per_day: must be at least 1" in response.text
    assert 'value="0"' in response.text  # the editor's draft is kept on the page
    form["max_per_day"], form["windows"] = "", "25:00-26:00"
    response = desk.post("/desk/schedule/x", data=form, headers=SAME)
    assert response.status_code == 422
    assert "channels.x.schedule.windows" in response.text
    assert path.read_bytes() == before


def test_a_form_drawn_before_someone_else_saved_is_refused(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    path, _, _ = project
    stale = _form(desk, "tg")
    fresh = dict(stale, min_gap="5m")
    assert desk.post("/desk/schedule/tg", data=fresh, headers=SAME).status_code == 303
    saved = path.read_text()
    stale["windows"] = "09:00-10:00"
    response = desk.post("/desk/schedule/tg", data=stale, headers=SAME)
    assert response.status_code == 409
    assert "has changed since this form was opened" in response.text
    assert path.read_text() == saved  # the first editor's gap is still there
    assert "min_gap: 5m" in saved


def test_newsbot_plan_follows_a_window_saved_from_the_desk(
        project: tuple[Path, Config, Store], desk: TestClient) -> None:
    path, config, store = project
    article = kit.add_article(store, config, 1, now=kit.NOW)
    (x,) = [d for d in store.deliveries_of_article(article.id) if d.channel == "x"]
    runner = CliRunner()

    def x_line() -> str:
        out = runner.invoke(cli, ["--config", str(path), "plan", "--channel", "x"]).output
        return next(line for line in out.splitlines() if f"#{x.id}" in line)

    assert "window opens" not in x_line()
    # `newsbot plan` reads the real clock: a window that is surely closed for hours.
    start = (datetime.now(UTC) + timedelta(hours=6)).hour
    form = _form(desk, "x")
    form["windows"] = f"{start:02d}:00-{start:02d}:30"
    assert desk.post("/desk/schedule/x", data=form, headers=SAME).status_code == 303
    assert f"{start:02d}:00 " in x_line() and "window opens" in x_line()
