"""``${VAR}`` references in config.yaml: filled in from the environment, and kept out of errors.

Secrets reach the file only as references, so an error message must never show what one
stood for: a token pasted under the wrong key (``timeout: ${TELEGRAM_BOT_TOKEN}``) is
reported by the variable's name. A required value whose variable is unset is reported as
that, naming the variable, rather than as pydantic's "Input should be a valid string".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
#: A value this long is hidden from every message, wherever it turns up; shorter values
#: (a port, "true") only from the messages about the key that referenced them.
_HIDE_EVERYWHERE = 6


@dataclass
class EnvRefs:
    """What interpolation did, by YAML path (``channels.tg.token``, ``sources[0].url``)."""

    missing: dict[str, list[str]] = field(default_factory=dict)  # path → unset variables
    used: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # path → (var, value)

    def interpolate(self, node: Any, path: str = "") -> Any:
        """``node`` with ``${VAR}`` / ``${VAR:-default}`` replaced from the environment.

        A value that was nothing but an unset reference becomes None ("absent"), not "".
        """
        if isinstance(node, dict):
            return {k: self.interpolate(v, f"{path}.{k}" if path else str(k))
                    for k, v in node.items()}
        if isinstance(node, list):
            return [self.interpolate(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if not isinstance(node, str) or "${" not in node:
            return node

        def replace(match: re.Match[str]) -> str:
            value = os.environ.get(match[1])
            if value is None or value == "":
                if match[2] is not None:
                    return match[2]  # written in the file: nothing to hide
                self.missing.setdefault(path, []).append(match[1])
                return ""
            self.used.setdefault(path, []).append((match[1], value))
            return value

        result = _ENV_REF.sub(replace, node)
        if result == "" and path in self.missing:
            return None
        return result

    def unset_at(self, path: str) -> list[str]:
        """The unset variables the value at ``path`` referenced."""
        return self.missing.get(path, [])

    def redact(self, message: str, path: str) -> str:
        """``message`` with every environment value shown as the ``${VAR}`` it came from."""
        hidden = [(var, value) for refs in self.used.values() for var, value in refs
                  if len(value) >= _HIDE_EVERYWHERE]
        hidden += self.used.get(path, [])
        for var, value in sorted(hidden, key=lambda ref: -len(ref[1])):  # longest first
            for shown in {value, repr(value)[1:-1]}:
                if shown:
                    message = message.replace(shown, f"${{{var}}}")
        return message


def file_location(loc: tuple[Any, ...], raw: Mapping[str, Any]) -> tuple[Any, ...]:
    """A pydantic error location without the tags pydantic adds (a channel's type, the
    member of a union such as ``str`` or ``int``): only the keys and indexes in the file."""
    node: Any = raw
    kept: list[Any] = []
    for item in loc:
        in_file = (isinstance(node, dict) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node))
        if in_file:
            node = node[item]
            kept.append(item)
    return tuple(kept)


def dotted(location: tuple[Any, ...]) -> str:
    """A location as ``EnvRefs`` records paths: ``sources[0].url``."""
    return "".join(f"[{item}]" if isinstance(item, int) else f".{item}" if i else str(item)
                   for i, item in enumerate(location))
