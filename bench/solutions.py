"""Load an assignment's instructor solutions for benchmarking.

Benchmarks time the course's own implementations. Those live only in the instructor
notebook (never in source_lib), so this executes its locked setup cells and its
solution cells in a fresh namespace and returns it.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent


def load_solutions(name: str) -> dict:
    """Namespace with everything the instructor notebook's locked and solution cells define."""
    nb = nbformat.read(REPO / "notebooks" / name / f"{name}.ipynb", as_version=4)
    namespace: dict = {"__name__": f"solutions_{name}"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("locked")) and not meta.get("grade"):
            exec(compile(cell.source, f"<{name}:{meta['grade_id']}>", "exec"), namespace)
    return namespace
