"""config.yaml is read by libyaml (PyYAML's C parser) when it can be, with the very result the
pure-Python loader gives: the same document, or the same refusal, word for word."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import bounded_yaml
from bot.config.bounded_yaml import load_bounded
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SOURCES = "".join(f"  - {{id: f{i}, url: 'https://example.org/{i}.xml', fetch_pages: never}}\n"
                  for i in range(200))

# Documents both loaders read.
READABLE = {
    "the bundled config": (ROOT / "config.yaml").read_text(encoding="utf-8"),
    "200 sources": f"store: sqlite:///x.db\nfetch: {{per_host: 16}}\nsources:\n{SOURCES}",
    "anchors, aliases and a merge key": "base: &b {every: 10m, tags: [a, b]}\n"
                                        "one: {<<: *b, every: 5m}\ntwo: *b\n",
    "YAML 1.1 scalars": "a: yes\nb: off\nc: 017\nd: 0x1f\ne: .inf\nf: ~\ng: 1_000\n"
                        "h: 2026-11-30\ni: 2026-11-30 08:00:00+01:00\nj: 1:30\nk: -.5e3\n",
    "block and quoted strings": "a: |\n  line one\n  line two\nb: >-\n  folded\n  text\n"
                                "c: \"caf\\u00e9 \\t tab\"\nd: 'it''s'\ne: \"x: y # z\"\n",
    "flow collections with colons": "a: {b:c, d: e}\nf: [g:h, 'i']\nurl: http://x/y?z=1#w\n",
    "tags, sets and binary": "a: !!str 123\nb: !!set {x, y}\nc: !!binary aGVsbG8=\n"
                             "d: !!float 1\n? complex key\n: value\n",
    "unicode, CRLF and a BOM": "\ufeffname: Nachrichten \u2014 \u65e5\u672c\r\n"
                               "list:\r\n  - \U0001f600\r\n",
    "an empty file": "",
    "only a comment": "# nothing here\n",
    "duplicate keys": "a: 1\na: 2\n",
    "a hundred aliases": "x: &x 1\nl: [" + ", ".join(["*x"] * 100) + "]\n",
}

# Documents the pure-Python loader refuses (the libyaml path must step aside for each).
REFUSED = {
    "a tab for indentation": "a:\n\t- b\n",
    "bad indentation": "a:\n  b: 1\n c: 2\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "an undefined alias": "a: *nowhere\n",
    "an unknown tag": "a: !python/object:os.system x\n",
    "a control character": "a: b\x01c\n",
    "a lone surrogate": "a: \ud800\n",
    "an unclosed quote": "a: 'open\nb: 2\n",
    "an unhashable key": "? [a, {b: c}]\n: 1\n? {x: y}\n: 2\n",
    "101 aliases": "x: &x 1\nl: [" + ", ".join(["*x"] * 101) + "]\n",
    "nested past Python's recursion limit": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "an alias inside its own anchor": "a: &a [1, *a]\n",
    "a billion laughs": "a: &a [" + ",".join(["lol"] * 10) + "]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
        for i in range(8)),
}

# Read, by the pure-Python loader alone: libyaml's path steps aside past 64 levels.
DEEP = {"a list nested 100 deep": "a: " + "[" * 100 + "]" * 100 + "\n"}


def outcome(text: str) -> tuple[str, object]:
    try:
        return "read", load_bounded(text, origin="config.yaml")
    except ConfigError as exc:
        return "refused", str(exc)
    except Exception as exc:  # compared, whatever it is
        return type(exc).__name__, str(exc)


def pure_python_outcome(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, object]:
    with monkeypatch.context() as patch:
        patch.setattr(yaml, "__with_libyaml__", False)
        return outcome(text)


@pytest.mark.parametrize("name", sorted(READABLE))
def test_libyaml_reads_a_readable_document_itself(name: str) -> None:
    assert bounded_yaml._read_by_libyaml(READABLE[name]) is not bounded_yaml._UNREAD


@pytest.mark.parametrize("name", sorted(READABLE | DEEP))
def test_a_document_is_read_as_the_python_loader_reads_it(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (READABLE | DEEP)[name]
    ours = outcome(text)
    assert ours[0] == "read"
    assert ours == pure_python_outcome(text, monkeypatch)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_refused_document_gets_the_python_loaders_refusal_word_for_word(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = REFUSED[name]
    ours = outcome(text)
    assert ours[0] != "read"
    assert ours == pure_python_outcome(text, monkeypatch)
