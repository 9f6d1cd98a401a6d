"""How good are the ledes? Run the extractor over the golden pages and score what it chose.

    .venv/bin/python benchmarks/ledes.py [FOLDER]

FOLDER (default tests/data/pages) holds NAME.html pages, each with NAME.json beside it:
``{"url", "title", "lede_starts", "lede_must_not_contain", "image"}``. Printed: the share
of ledes that are the story's opening (they start with ``lede_starts``), the share that hold
none of the page's other text (no byline, caption, promo, related headline or hover-card
named in ``lede_must_not_contain``), titles and images that differ, and each failing page
with what went wrong.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.ingest.extract import extract_page  # noqa: E402


def squash(text: str) -> str:
    return " ".join(text.split())


def judge(page_file: Path) -> list[str]:
    """What is wrong with the extraction of one golden page (empty: nothing)."""
    expected = json.loads(page_file.with_suffix(".json").read_text(encoding="utf-8"))
    page = extract_page(page_file.read_bytes(), expected["url"])
    lede = squash(page.lede)
    problems: list[str] = []
    if not lede.startswith(squash(expected["lede_starts"])):
        problems.append(f"opening: lede starts {lede[:70]!r}")
    for phrase in expected["lede_must_not_contain"]:
        if phrase and phrase.casefold() in lede.casefold():
            problems.append(f"other text: {phrase!r} is in the lede")
    if page.title != expected["title"]:
        problems.append(f"title: {page.title!r}")
    if page.image_url != expected["image"]:
        problems.append(f"image: {page.image_url!r}")
    return problems


def main(folder: Path) -> int:
    pages = sorted(folder.glob("*.html"))
    if not pages:
        print(f"no golden pages in {folder}")
        return 2
    started = time.perf_counter()
    results = {p.stem: judge(p) for p in pages}
    seconds = time.perf_counter() - started
    total = len(results)
    openings = sum(not any(x.startswith("opening") for x in r) for r in results.values())
    clean = sum(not any(x.startswith("other text") for x in r) for r in results.values())
    titles = sum(not any(x.startswith("title") for x in r) for r in results.values())
    images = sum(not any(x.startswith("image") for x in r) for r in results.values())
    print(f"golden pages: {total} ({seconds * 1000 / total:.0f} ms per page)")
    print(f"ledes that are the story's opening:      {openings}/{total} = {openings / total:.1%}")
    print(f"ledes with none of the page's other text: {clean}/{total} = {clean / total:.1%}")
    print(f"titles as declared:                       {titles}/{total} = {titles / total:.1%}")
    print(f"lead images as expected:                  {images}/{total} = {images / total:.1%}")
    failing = {name: r for name, r in results.items() if r}
    if failing:
        print("\nfailing pages:")
        for name, problems in failing.items():
            print(f"  {name}:")
            for problem in problems:
                print(f"    - {problem}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "pages"))
