"""Loading config.yaml: ${VAR} interpolation and error messages that name the YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.channels.registry import platforms
from bot.config.bounded_yaml import MAX_EXPANDED, load_bounded
from bot.config.channel import Route
from bot.config.env_refs import EnvRefs, dotted, file_location
from bot.config.model import (
    DIGEST_TYPE,
    Config,
    EmailChannel,
    Fetching,
    Smtp,
    Source,
    _did_you_mean,
    channel_types,
)
from bot.config.schedule import Schedule
from bot.errors import ConfigError


def _format_location(loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    parts: list[str] = []
    items = list(loc)
    if items and items[0] == "channels" and len(items) > 2 and items[2] in channel_types():
        del items[2]  # pydantic's discriminator tag is not part of the editors' file
    for item in items:
        if isinstance(item, int):
            label = f"[{item}]"
            if parts == ["sources"]:
                sources = raw.get("sources") or []
                entry = sources[item] if item < len(sources) else None
                if isinstance(entry, dict) and "id" in entry:
                    label = f"[{item}] ({sources[item]['id']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _known_keys(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple((f.alias or name) for name, f in model.model_fields.items())


def _friendly(error: Any, raw: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    where = _format_location(loc, raw)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"{where}: unknown key{_suggest_key(key, loc, raw)}"
    if kind == "missing":
        return f"{where}: required, but missing"
    if kind in ("greater_than_equal",):
        return f"{where}: must be at least {ctx.get('ge')}"
    if kind in ("less_than_equal",):
        return f"{where}: must be at most {ctx.get('le')}"
    if kind == "literal_error":
        return f"{where}: must be one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return f"{where}: type must be one of {', '.join(channel_types())}"
    if kind == "union_tag_not_found":
        return f"{where}: says no type; add type: {_one_of(channel_types())}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if where and message.startswith(where.split(".")[0]):
        return message  # model validators already name the path
    return f"{where}: {message}" if where else message


def _one_of(words: tuple[str, ...]) -> str:
    return " or ".join(words) if len(words) < 3 else f"{', '.join(words[:-1])} or {words[-1]}"


def _suggest_key(key: str, loc: tuple[Any, ...], raw: dict[str, Any]) -> str:
    candidates: tuple[str, ...] = ()
    head = [p for p in loc[:-1] if not (isinstance(p, str) and p in channel_types())]
    if not head:
        candidates = _known_keys(Config)
    elif head[0] == "sources":
        candidates = _known_keys(Source)
    elif head[0] == "channels" and len(head) == 2:
        ctype = (raw.get("channels") or {}).get(head[1], {}).get("type")
        models: dict[str, type[BaseModel]] = {
            kind: p.settings for kind, p in platforms().items()}
        models[DIGEST_TYPE] = EmailChannel
        model = models.get(ctype) if isinstance(ctype, str) else None
        candidates = _known_keys(model) if model else ()
    elif head[-1] == "schedule":
        candidates = _known_keys(Schedule)
    elif head[-1] == "route":
        candidates = _known_keys(Route)
    elif head[-1] == "smtp":
        candidates = _known_keys(Smtp)
    elif head[-1] == "fetch":
        candidates = _known_keys(Fetching)
    hint = _did_you_mean(key, [c for c in candidates if c not in ("base_dir", "missing_env")])
    return hint or " (see the configuration reference in README.md)"


def parse_config(text: str, *, base_dir: Path = Path("."), origin: str = "config.yaml") -> Config:
    """Validate config text; raise ConfigError naming the YAML path of every problem."""
    raw = load_bounded(text, origin=origin)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError("", f"{origin} must be a mapping of keys (timezone:, sources:, …)")
    for forbidden in ("base_dir", "missing_env"):
        if forbidden in raw:
            raise ConfigError(forbidden,
                              "unknown key (see the configuration reference in README.md)")
    refs = EnvRefs()
    data = refs.interpolate(raw)
    data["base_dir"] = base_dir
    data["missing_env"] = {k: tuple(v) for k, v in refs.missing.items()}
    try:
        # The context carries the folder to nested models that hold paths (smtp.ca_file),
        # which cannot see Config.base_dir while they are being validated.
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = _problems(exc, raw, refs)
        raise ConfigError("", f"{origin} has {len(problems)} problem(s):\n  " +
                          "\n  ".join(problems)) from None


def _problems(exc: ValidationError, raw: dict[str, Any], refs: EnvRefs) -> list[str]:
    """One line per problem, in the file's order; a value from the environment is shown as
    its ``${VAR}``, and a value whose variable is unset says so instead of how it failed."""
    problems: list[str] = []
    for error in exc.errors():
        location = file_location(tuple(error["loc"]), raw)
        path = dotted(location)
        unset = refs.unset_at(path)
        if unset:
            names = " and ".join(f"${{{name}}}" for name in unset)
            verb = "is" if len(unset) == 1 else "are"
            line = (f"{_format_location(location, raw)}: {names} {verb} not set in the "
                    "environment; set it, or write the value in the file")
        else:
            line = refs.redact(_friendly(error, raw), path)
        if line not in problems:  # a union's members fail at one path with one cause
            problems.append(line)
    return problems


def read_config_text(file: Path) -> str:
    """The file's text; a file too large to be a config (see bounded_yaml) is refused
    without reading it all. OSError and UnicodeDecodeError as ``Path.read_text``."""
    with file.open("rb") as handle:
        data = handle.read(MAX_EXPANDED + 1)
    if len(data) > MAX_EXPANDED:
        raise ConfigError("", f"{file} is refused: it is larger than the "
                              f"{MAX_EXPANDED // 1_000_000} MB a config file may be")
    return data.decode("utf-8")


def load_config(path: str | Path) -> Config:
    """Read and validate config.yaml. Relative paths in it are relative to its folder."""
    file = Path(path)
    try:
        text = read_config_text(file)
    except FileNotFoundError:
        raise ConfigError(
            "", f"{file}: no such file (give --config PATH or set NEWSBOT_CONFIG)") from None
    except OSError as exc:
        raise ConfigError("", f"{file}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{file} is not UTF-8 text (byte {exc.start:,}); save it as "
                              "UTF-8") from None
    return parse_config(text, base_dir=file.resolve().parent, origin=str(file))
