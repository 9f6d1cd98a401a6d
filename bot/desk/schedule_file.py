"""Editing the channels' schedules in config.yaml from the desk, without losing the file.

The file is read and written with ruamel.yaml's round trip, so the editors' comments, key
order, flow or block style and indentation stay as they were; only the schedule keys the
form changes are touched. Before anything is written, the new text is validated exactly as
the running bot's hot reload would judge it (bot.reload.validate: every key, YAML paths in
the errors, templates compile, the store unchanged); a refused edit leaves the file as it
was. The form carries the hash of the text it was drawn from: if the file changed since (a
second editor saved, someone edited it by hand) the save is refused rather than overwriting
their change.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from bot.config import Config
from bot.errors import ConfigError

FIELDS = ("windows", "quiet_days", "min_gap", "max_per_day", "max_per_poll", "delay",
          "priority_sections", "priority_keywords")
_DAY_PREFIX = re.compile(r"^\s*([A-Za-z][A-Za-z ,\-]*):\s*(.*)$")


class StaleForm(ConfigError):
    """config.yaml changed since the form was drawn."""


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ScheduleFields:
    """One channel's schedule as the form shows it: plain text per field."""

    channel: str
    values: dict[str, str]


_MAPPING_INDENT = re.compile(r"^[^\s#-][^\n]*:\s*(?:#[^\n]*)?\n(?:\s*(?:#[^\n]*)?\n)*( +)[^\s#-]",
                             re.M)


def _yaml(text: str) -> tuple[YAML, Any]:
    # The file's own indentation, so an unchanged line is written back unchanged: block
    # mappings as the first nested key shows, sequences as ruamel guesses them.
    _, sequence, offset = load_yaml_guess_indent(text)
    match = _MAPPING_INDENT.search(text)
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the editors' long lines
    yaml.indent(mapping=len(match[1]) if match else 2, sequence=sequence or 2,
                offset=offset or 0)
    return yaml, yaml.load(text)


def _words(node: Any) -> str:
    if node is None:
        return ""
    if isinstance(node, list | tuple):
        return ", ".join(str(x) for x in node)
    return str(node)


def _windows_text(node: Any) -> str:
    if isinstance(node, dict):
        return "\n".join(f"{days}: {_words(spans)}" for days, spans in node.items())
    return _words(node)


def read_fields(text: str) -> list[ScheduleFields]:
    """Every post channel's schedule fields as text (digests are scheduled by cron)."""
    _, data = _yaml(text)
    result = []
    for name, channel in (data.get("channels") or {}).items():
        if not isinstance(channel, dict) or channel.get("type") == "email":
            continue
        schedule = channel.get("schedule") or {}
        priority = schedule.get("priority") or {}
        result.append(ScheduleFields(str(name), {
            "windows": _windows_text(schedule.get("windows")),
            "quiet_days": _words(schedule.get("quiet_days")),
            "min_gap": _words(schedule.get("min_gap")),
            "max_per_day": _words(schedule.get("max_per_day")),
            "max_per_poll": _words(schedule.get("max_per_poll")),
            "delay": _words(schedule.get("delay")),
            "priority_sections": _words(priority.get("sections")),
            "priority_keywords": _words(priority.get("keywords")),
        }))
    return result


def _list(text: str) -> CommentedSeq:
    seq = CommentedSeq(DoubleQuotedScalarString(part.strip())
                       for part in text.split(",") if part.strip())
    seq.fa.set_flow_style()
    return seq


def _windows(text: str) -> Any:
    lines = [line for line in text.replace(";", "\n").splitlines() if line.strip()]
    if not any(_DAY_PREFIX.match(line) for line in lines):
        return _list(", ".join(lines))
    mapping = CommentedMap()
    for line in lines:
        match = _DAY_PREFIX.match(line)
        days, spans = (match[1].strip(), match[2]) if match else ("daily", line)
        mapping[days] = _list(spans)
    mapping.fa.set_flow_style()
    return mapping


def _scalar(text: str) -> Any:
    text = text.strip()
    return int(text) if re.fullmatch(r"\d{1,9}", text) else text


def apply_fields(text: str, channel: str, values: dict[str, str]) -> str:
    """``text`` with ``channel``'s schedule set from the form (an empty field removes its
    key, so the default applies). Everything else in the file is kept as it was."""
    yaml, data = _yaml(text)
    channels = data.get("channels") or {}
    if channel not in channels:
        raise ConfigError(f"channels.{channel}", "no such channel in config.yaml")
    node = channels[channel]
    if node.get("schedule") is None:
        node["schedule"] = CommentedMap()
    schedule = node["schedule"]
    setters = {
        "windows": _windows, "quiet_days": _list, "min_gap": _scalar,
        "max_per_day": _scalar, "max_per_poll": _scalar, "delay": _scalar,
    }
    for key, make in setters.items():
        raw = values.get(key, "").strip()
        if raw:
            schedule[key] = make(raw)
        elif key in schedule:
            del schedule[key]
    sections = values.get("priority_sections", "").strip()
    keywords = values.get("priority_keywords", "").strip()
    if sections or keywords:
        priority = schedule.get("priority")
        if not isinstance(priority, dict):
            priority = CommentedMap()
            priority.fa.set_flow_style()
            schedule["priority"] = priority
        for key, raw in (("sections", sections), ("keywords", keywords)):
            if raw:
                priority[key] = _list(raw)
            elif key in priority:
                del priority[key]
    elif "priority" in schedule:
        del schedule["priority"]
    if not schedule:
        del node["schedule"]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def save_schedule(path: Path, running: Config, channel: str, values: dict[str, str], *,
                  expected_hash: str) -> Config:
    """Validate and write ``channel``'s new schedule; return the new configuration.

    Raises StaleForm when the file is not the text the form was drawn from, and ConfigError
    (naming the YAML path) when the result would not validate; either way the file is not
    touched.
    """
    from bot.reload import validate

    current = path.read_text(encoding="utf-8")
    if text_hash(current) != expected_hash:
        raise StaleForm("", "config.yaml has changed since this form was opened (another "
                            "editor saved, or the file was edited); nothing was saved. "
                            "Reload the page to see the file as it is now.")
    new_text = apply_fields(current, channel, values)
    config = validate(new_text, running=running, origin=str(path))
    _write_atomically(path, new_text)
    return config


def _write_atomically(path: Path, text: str) -> None:
    # A reader (the bot's hot reload) sees the old file or the new one, never half of one.
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
