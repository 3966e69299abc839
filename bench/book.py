"""Site benchmark: how long `jupyter-book build` takes, cold and cached.

Copies the book's sources (index.md, _config.yml, _toc.yml, book/) into a temporary folder,
releases the assignments there (chapter pages link to _course/downloads/<a>.zip), then times

* a cold build (`jupyter-book build --all`: every page read, every code page executed), and
* a cached rebuild (`jupyter-book build`, nothing changed: Sphinx's environment and the
  Jupyter cache are reused),

prints both and their ratio, and saves a bar chart to _build/bench/book.png.
Goals: cached rebuild under 60 s, cold build under 10 min.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from solutions import REPO  # noqa: E402
from autograder import book, pipeline  # noqa: E402
from source_lib import plot  # noqa: E402

GOALS = {"cold build": 600.0, "cached rebuild": 60.0}


def build(folder: Path, *extra: str) -> float:
    """Seconds one `jupyter-book build` of `folder` takes; raise with its log if it fails."""
    start = time.perf_counter()
    proc = book.jupyter_book(folder, *extra)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"jupyter-book build {' '.join(extra)} failed (exit {proc.returncode}):\n"
                         + proc.stdout[-3000:] + proc.stderr[-3000:])
    return seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        folder = book.copy_book(Path(tmp))
        names = pipeline.assignments()
        pipeline.release(folder / "_course", names)
        times = {"cold build": build(folder, "--all"), "cached rebuild": build(folder)}
    print(f"jupyter-book build of the book ({len(names)} assignments released; "
          f"COURSE_QUICK={os.environ.get('COURSE_QUICK', '') or 'unset'})")
    for name, seconds in times.items():
        verdict = "ok" if seconds < GOALS[name] else "OVER GOAL"
        print(f"  {name:<15} {seconds:8.1f} s   goal < {GOALS[name]:.0f} s: {verdict}")
    print(f"  cold / cached   {times['cold build'] / times['cached rebuild']:8.1f}x")
    fig = plot.bar_chart(times, "seconds", title="jupyter-book build: cold vs cached")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "book.png"))


if __name__ == "__main__":
    main()
