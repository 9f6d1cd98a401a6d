"""The modules of bot/ import one another one way: no cycles.

Every import statement counts, wherever it stands: at module level, under
``if TYPE_CHECKING:`` and inside functions. A cycle kept alive by a function-level import
or a type-only import is still two modules that each need the other: it only works by the
luck of import order (bot.cli ↔ bot.cli_digest did, through importlib), and the lower
module cannot be read, tested or imported cheaply without the upper one. Lazy imports are
welcome (``newsbot --help`` depends on them); they must point the same way as the rest.

A submodule's implicit import of its own package (``bot.store.outbox`` runs
``bot/store/__init__.py`` first) is Python's mechanics, not a dependency the code chose, so
``from bot.store import schema`` is an edge to ``bot.store.schema``, not to ``bot.store``.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "bot"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in BOT.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions_and_type_checking_blocks() -> None:
    graph = import_graph()
    assert "bot.cli.format" in graph["bot.cli.commands"]  # imported inside the commands
    assert "bot.store.schema" in graph["bot.store.outbox"]  # `from bot.store import schema`
    assert "bot.store" not in graph["bot.store.outbox"]


def test_no_module_of_bot_imports_back_up_a_cycle() -> None:
    graph = import_graph()
    found = cycles(graph)
    detail = "\n".join(" ↔ ".join(c) + "\n    " + "\n    ".join(
        f"{a} imports {b}" for a in c for b in sorted(graph[a]) if b in c) for c in found)
    assert not found, "import cycles between bot/ modules:\n" + detail
