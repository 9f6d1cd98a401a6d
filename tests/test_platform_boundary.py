"""The core asks a platform object what it can do and never checks which platform it is.

A new platform is a module in bot/channels/ (``<name>_platform.py`` and its sender), a
template folder and its tests: nothing below may name one, or adding one would touch it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.channels.platform import load
from bot.channels.registry import platforms

ROOT = Path(__file__).resolve().parent.parent
# Dispatch, render, operations, CLI formatting and config loading, wherever they live now.
CORE = ["bot/dispatch.py", "bot/render.py", "bot/app.py", "bot/operations.py",
        "bot/outlets.py", "bot/plan.py", "bot/corrections.py", "bot/cli_format.py",
        "bot/cli/format.py",
        "bot/cli/formatting.py", "bot/config/load.py", "bot/config/model.py",
        "bot/config/channel.py", "bot/config/__init__.py", "bot/channels/__init__.py",
        "bot/channels/base.py", "bot/channels/platform.py", "bot/channels/registry.py"]
SDKS = ("tweepy", "python-telegram-bot", "mastodon", "atproto")


def core_files() -> list[Path]:
    found = [ROOT / p for p in CORE if (ROOT / p).exists()]
    assert {"dispatch.py", "render.py", "load.py", "model.py"} <= {p.name for p in found}
    return found


def forbidden_words() -> list[tuple[str, re.Pattern[str]]]:
    words: list[tuple[str, re.Pattern[str]]] = []
    for kind, platform in platforms().items():
        words.append((f"type {kind!r}", re.compile(rf"""["']{re.escape(kind)}["']""")))
        words.append((platform.settings.__name__,
                      re.compile(rf"\b{re.escape(platform.settings.__name__)}\b")))
        if len(kind) > 2:  # "x" is a letter, not a name; its quoted type is checked above
            words.append((kind, re.compile(rf"\b{re.escape(kind)}\b", re.IGNORECASE)))
    for sdk in SDKS:
        words.append((sdk, re.compile(rf"\b{re.escape(sdk)}\b", re.IGNORECASE)))
    return words


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_core_names_no_platform(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    hits = [f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {what}"
            for what, pattern in forbidden_words() for m in pattern.finditer(text)]
    assert not hits, "platform knowledge in the core:\n" + "\n".join(hits)


def test_every_platform_module_in_the_folder_is_registered() -> None:
    folder = ROOT / "bot" / "channels"
    modules = {p.stem.removesuffix("_platform") for p in folder.glob("*_platform.py")}
    assert set(platforms()) == modules
    for kind, platform in platforms().items():
        assert platform.type == kind
        assert (ROOT / "templates" / platform.default_template).exists(), kind
        assert callable(load(platform.sender)), platform.sender
        if platform.online_check:
            assert callable(load(platform.online_check)), platform.online_check


def test_config_loading_imports_no_platform_sdk() -> None:
    import subprocess
    import sys

    code = ("import sys; from bot.config import parse_config; "
            "parse_config('channels: {a: {type: telegram, chat: \"@c\"}, "
            "b: {type: x}}'); "
            "print(sorted(m for m in ('telegram', 'tweepy', 'twitter_text') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("module", sorted(
    {p.sender.partition(":")[0] for p in platforms().values()}
    | {f"bot.channels.{kind}_platform" for kind in platforms()}))
def test_each_platform_module_can_be_imported_first(module: str) -> None:
    # A sender imported before anything else loads its platform module, which loads config,
    # which asks the registry for every platform: that must not find one half-initialised.
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-1500:]
