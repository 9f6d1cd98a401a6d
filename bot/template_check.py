"""`newsbot check` renders every channel's template against a sample article.

A template that only compiles can still fail on every post (an undefined variable, a filter
given the wrong type), and it would fail at send time, once per post. Rendering it here,
with the newest stored article or a bundled sample, reports the template, line and variable
before anything is sent, and names the file that will be used when ``templates_dir``
overrides the bundled one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from bot.config import ChannelConfig, Config, EmailChannel
from bot.errors import TemplateError
from bot.models import Article
from bot.render import default_template, make_environment, render_post

#: Shaped like the bundled samples: every field a template may use has a value.
SAMPLE = Article(
    id=0, source_id="sample", guid="sample", url="https://news.example.org/en/2026/11/sample",
    title="Baghdad opens a second water treatment plant on the Tigris",
    summary=("The plant will supply clean water to about 600,000 residents of the eastern "
             "districts. It took three years to build. Officials said a third plant is "
             "planned for the south of the city."),
    text="", author="Newsroom", sections=("Economy", "Baghdad"), language="en",
    published_at=datetime(2026, 11, 24, 9, tzinfo=UTC),
    discovered_at=datetime(2026, 11, 24, 9, tzinfo=UTC),
    image_url="https://news.example.org/images/sample.jpg", image_alt="The new plant",
    summary_html="<p>The plant will supply clean water to about 600,000 residents.</p>")


@dataclass(frozen=True)
class TemplateCheck:
    """One channel's template: which file(s) render it, and the error if any ("": ok)."""

    channel: str
    files: tuple[str, ...]  # the files that will be used (an override names its folder)
    error: str = ""


def template_files(env: jinja2.Environment, cfg: ChannelConfig) -> tuple[str, ...]:
    """The files a channel's template resolves to (the editors' override when there is one)."""
    name = cfg.template or default_template(cfg)
    names = (f"{name}.html.j2", f"{name}.txt.j2") if isinstance(cfg, EmailChannel) else (name,)
    found = []
    for each in names:
        try:
            found.append(str(Path(env.get_template(each).filename or each)))
        except jinja2.TemplateError:
            found.append(f"{each} (not found)")
    return tuple(found)


def check_templates(config: Config, sample: Article | None = None) -> list[TemplateCheck]:
    """Render each enabled channel's template(s) for ``sample`` (default: SAMPLE)."""
    article = sample or SAMPLE
    env = make_environment(config)
    results = []
    for name, cfg in config.channels.items():
        if not cfg.enabled:
            continue
        try:
            _render(config, env, name, cfg, article)
        except TemplateError as exc:
            results.append(TemplateCheck(name, template_files(env, cfg), str(exc)))
            continue
        results.append(TemplateCheck(name, template_files(env, cfg)))
    return results


def _render(config: Config, env: jinja2.Environment, name: str, cfg: ChannelConfig,
            article: Article) -> None:
    zone = config.zone_for(name)
    if isinstance(cfg, EmailChannel):
        from bot.digest.build import build_digest
        from bot.digest.message import render_digest

        digest = build_digest(name, cfg, [article], scheduled_for=article.published_at,
                              zone=zone)
        render_digest(env, digest, cfg, run_id=0)
        return
    from bot.channels import post_format

    render_post(env, article, channel=name, cfg=cfg, fmt=post_format(cfg), zone=zone)


def sample_article(config: Config) -> tuple[Article, str]:
    """The newest stored article when the store exists already, else SAMPLE; and which."""
    prefix = "sqlite:///"
    url = config.store_url
    if url.startswith(prefix) and not Path(url[len(prefix):]).is_file():
        return SAMPLE, "a bundled sample article"
    from bot.errors import StoreError
    from bot.store import open_store

    try:
        with open_store(url) as store:
            newest = store.newest_article()
    except StoreError:  # an unreachable store must not stop `check`: fall back
        return SAMPLE, "a bundled sample article (the store did not answer)"
    if newest is None:
        return SAMPLE, "a bundled sample article"
    return newest, f"the newest stored article (#{newest.id})"
