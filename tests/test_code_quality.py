"""The house style is checked, not hoped for: ruff on everything, strict mypy on bot/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", "bot", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing_in_bot() -> None:
    result = run(sys.executable, "-m", "mypy", "bot")
    assert result.returncode == 0, result.stdout + result.stderr
