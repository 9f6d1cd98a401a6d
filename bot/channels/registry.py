"""Finds the platforms: every ``bot/channels/<name>_platform.py`` that defines ``PLATFORM``.

Adding a platform is adding such a module (and its sender, templates and tests); nothing in
the core names it. Discovery lists one folder and imports only the light platform modules,
so it costs a few milliseconds once per process.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.channels.platform import Platform

_SUFFIX = "_platform"


@functools.cache
def platforms() -> dict[str, Platform]:
    """Every platform, by its ``type:`` in config.yaml, in a stable order."""
    from bot.channels.platform import Platform

    found: dict[str, Platform] = {}
    folder = str(Path(__file__).resolve().parent)
    for module in sorted(pkgutil.iter_modules([folder]), key=lambda m: m.name):
        if not module.name.endswith(_SUFFIX):
            continue
        platform = getattr(importlib.import_module(f"bot.channels.{module.name}"),
                           "PLATFORM", None)
        if not isinstance(platform, Platform):
            raise TypeError(f"bot/channels/{module.name}.py defines no PLATFORM")
        if platform.type in found:
            raise TypeError(f"two platform modules claim type {platform.type!r}")
        found[platform.type] = platform
    return found


def platform_for(cfg: Any) -> Platform:
    """The platform serving a configured channel (or a ``type`` string)."""
    kind = cfg if isinstance(cfg, str) else cfg.type
    try:
        return platforms()[kind]
    except KeyError:
        raise LookupError(f"no platform has type {kind!r}; the types are: "
                          f"{', '.join(platforms())}") from None


def is_platform(cfg: Any) -> bool:
    """True for a channel that posts through a platform (not the digest pipeline)."""
    return cfg.type in platforms()
