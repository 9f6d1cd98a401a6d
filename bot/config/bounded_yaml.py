"""Reading config.yaml's YAML within bounds, so a small file cannot cost gigabytes.

YAML aliases let nine short lines stand for a billion strings (the "billion laughs"). PyYAML
shares an aliased object rather than copying it, so loading stays cheap, but everything after
(``${VAR}`` interpolation, validation) walks the tree as if it were written out. So a file is
refused, before anything walks it, when it uses more than ``MAX_ALIASES`` aliases, when the
tree it stands for is larger than ``MAX_EXPANDED`` bytes once written out, or when an alias
refers to the node that holds it (a tree with no end). No real config.yaml comes near these.
"""

from __future__ import annotations

from typing import Any

import yaml

from bot.errors import ConfigError

MAX_ALIASES = 100
MAX_EXPANDED = 10_000_000  # bytes of YAML text once every alias is written out (roughly)
_SEPARATOR = 2  # what one more node adds to the written-out text at least (", " or ": ")


class _AliasCountingLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting aliases as it composes and stopping past the limit."""

    def __init__(self, text: str, origin: str) -> None:
        super().__init__(text)
        self.origin = origin
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ConfigError("", f"{self.origin} is refused: it uses more than "
                                      f"{MAX_ALIASES} YAML aliases (*name); write those values "
                                      "out, or repeat fewer of them")
        return super().compose_node(parent, index)


def load_bounded(text: str, *, origin: str) -> Any:
    """The YAML document in ``text`` (safe types only), or ConfigError naming ``origin``.

    Refuses text or an alias-expanded tree over ``MAX_EXPANDED`` bytes, more than
    ``MAX_ALIASES`` aliases, and a tree that contains itself; invalid YAML names its line.
    """
    if len(text) > MAX_EXPANDED:
        raise ConfigError("", f"{origin} is refused: it is {len(text):,} characters, more "
                              f"than the {MAX_EXPANDED // 1_000_000} MB a config file may be")
    document = _read_by_libyaml(text)
    loader = _AliasCountingLoader(text, origin) if document is _UNREAD else None
    try:
        if loader is not None:
            document = loader.get_single_data()
        size = _expanded_size(document, {})
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError("", f"{origin} is not valid YAML{where}: {exc}") from None
    except RecursionError:
        raise ConfigError("", f"{origin} is refused: it is nested too deeply") from None
    except _SelfReference:
        raise ConfigError("", f"{origin} is refused: a YAML alias (*name) refers to the list "
                              "or mapping that contains it, so it never ends") from None
    finally:
        if loader is not None:
            loader.dispose()
    if size > MAX_EXPANDED:
        raise ConfigError("", f"{origin} is refused: its YAML aliases (*name) expand it to "
                              f"more than {MAX_EXPANDED // 1_000_000} MB (about {size:,} "
                              "bytes); write the values out instead of repeating aliases")
    return document


_UNREAD = object()
#: Deeper than this, libyaml's reading is not tried: no config nests past ~6, and PyYAML's
#: loader is what decides, as ever, whether a deep file is "nested too deeply".
_LIBYAML_MAX_DEPTH = 64
_OPENS = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSES = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _read_by_libyaml(text: str) -> Any:
    """The document as PyYAML's safe loader reads it, read by libyaml's C parser (a 200-source
    config: ~5 ms of CPU instead of ~34 ms), or ``_UNREAD``.

    It is ``_UNREAD`` whenever this path is not the whole answer: no libyaml, more than
    ``MAX_ALIASES`` aliases, nesting past ``_LIBYAML_MAX_DEPTH``, or any YAML error. Then
    ``_AliasCountingLoader`` (pure Python) reads the text as before, so every refusal and
    every error message (with its line, column and excerpt, which libyaml's marks lack) is
    exactly the pure-Python loader's. A document both accept is the same tree: the same
    resolver and safe constructor build it from the same events.
    """
    if not yaml.__with_libyaml__:
        return _UNREAD
    try:
        aliases = depth = 0
        # Read the events once first: the aliases are counted before any node is built.
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_ALIASES:
                    return _UNREAD
            elif isinstance(event, _OPENS):
                depth += 1
                if depth > _LIBYAML_MAX_DEPTH:
                    return _UNREAD
            elif isinstance(event, _CLOSES):
                depth -= 1
        return yaml.load(text, Loader=yaml.CSafeLoader)
    except Exception:
        # A YAML error, or text libyaml cannot take as UTF-8 (a lone surrogate): whatever it
        # was, the pure-Python loader meets it again and answers as it always has.
        return _UNREAD


class _SelfReference(Exception):
    pass


_IN_PROGRESS = -1


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """About how many bytes ``node`` takes written out, every shared object counted each
    time it appears. Each distinct object is measured once (``sizes`` by id), so the cost is
    the size of the file, not of its expansion."""
    key = id(node)
    known = sizes.get(key)
    if known == _IN_PROGRESS:
        raise _SelfReference
    if known is not None:
        return known
    if isinstance(node, dict):
        sizes[key] = _IN_PROGRESS
        size = _SEPARATOR + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes)
                                for k, v in node.items())
    elif isinstance(node, list):
        sizes[key] = _IN_PROGRESS
        size = _SEPARATOR + sum(_expanded_size(v, sizes) for v in node)
    elif isinstance(node, str | bytes):
        size = _SEPARATOR + len(node)
    else:  # numbers, booleans, null, dates: short when written out
        size = _SEPARATOR + 8
    sizes[key] = size
    return size
