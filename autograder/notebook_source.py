"""Build nbgrader notebooks from plain-text sources.

Each assignment is written as ``notebooks/<a>/<a>.src.py`` in the "percent" cell
format (the one Jupytext, VS Code and Spyder read), and this module turns it into
``notebooks/<a>/<a>.ipynb`` with the nbgrader metadata filled in. nbgrader
checksums grade cells, so hand-editing that metadata is a trap; generating it is
not. The ``.src.py`` file is never copied into a student release (see
``nbgrader_config.py``).

Cell headers::

    # %% [markdown]                      prose (every line starts with "# ")
    # %% [markdown] id=NAME locked       read-only prose
    # %%                                 ordinary code
    # %% [locked] id=NAME                read-only code (restored at grading)
    # %% [solution] id=NAME              student writes this (### BEGIN/END SOLUTION)
    # %% [tests] id=NAME points=2 needs=SOL1,SOL2
                                         autograded test cell; ``needs`` lists the
                                         solution cells it checks
    # %% [demo]                          ordinary code that only demonstrates (figures,
                                         sweeps, timings): `grade --skip-demos` may leave
                                         it out while grading (see demos.py)
    # %% [config] timeout=300 partial=SOL1,SOL2
                                         notebook settings (not a cell): per-cell
                                         timeout in seconds while grading, and which
                                         solution cells the partly-correct sample fills
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %%(?: \[(?P<kind>[a-z]+)\])?(?P<rest>.*)$")
KINDS = {"markdown", "code", "demo", "locked", "solution", "tests", "config"}
FLAGS = ("locked",)
DEFAULT_TIMEOUT = 300


class NotebookSourceError(ValueError):
    """A ``.src.py`` file that cannot be turned into a notebook."""


def _parse_options(rest: str, where: str) -> dict[str, str]:
    options = {}
    for token in shlex.split(rest):
        if token not in FLAGS and "=" not in token:
            raise NotebookSourceError(f"{where}: option {token!r} is not KEY=VALUE or a flag {FLAGS}")
        key, _, value = token.partition("=")
        options[key] = value
    return options


def _split_cells(text: str, path: str) -> list[tuple[str, dict, list[str], int]]:
    cells, current = [], None
    for lineno, line in enumerate(text.splitlines(), 1):
        m = HEADER.match(line)
        if m:
            kind = m.group("kind") or "code"
            if kind not in KINDS:
                raise NotebookSourceError(f"{path}:{lineno}: unknown cell kind [{kind}]")
            current = (kind, _parse_options(m.group("rest"), f"{path}:{lineno}"), [], lineno)
            cells.append(current)
        elif current is None:
            if line.strip():
                raise NotebookSourceError(f"{path}:{lineno}: text before the first '# %%' header")
        else:
            current[2].append(line)
    return cells


def _markdown_text(lines: list[str], where: str) -> str:
    out = []
    for line in lines:
        if line == "#":
            out.append("")
        elif line.startswith("# "):
            out.append(line[2:])
        elif not line.strip():
            out.append("")
        else:
            raise NotebookSourceError(f"{where}: markdown lines must start with '# '")
    return "\n".join(out).strip("\n")


def _nbgrader_meta(grade_id: str, *, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def build_notebook(src_path: Path) -> nbformat.NotebookNode:
    """Parse one ``.src.py`` file into an nbformat 4 notebook with nbgrader metadata."""
    src_path = Path(src_path)
    text = src_path.read_text(encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "course": {"timeout": DEFAULT_TIMEOUT, "partial_sample": []},
    }
    seen_ids: set[str] = set()
    solution_ids: set[str] = set()
    counters: dict[str, int] = {}
    for kind, opts, lines, lineno in _split_cells(text, str(src_path)):
        where = f"{src_path}:{lineno}"
        body = "\n".join(lines).strip("\n")
        if kind == "config":
            if "timeout" in opts:
                nb.metadata["course"]["timeout"] = int(opts.pop("timeout"))
            if "partial" in opts:
                nb.metadata["course"]["partial_sample"] = opts.pop("partial").split(",")
            if opts:
                raise NotebookSourceError(f"{where}: unknown config {sorted(opts)}")
            continue
        counters[kind] = counters.get(kind, 0) + 1
        grade_id = opts.get("id")
        if kind in {"locked", "solution", "tests"} and not grade_id:
            raise NotebookSourceError(f"{where}: [{kind}] cells need id=NAME")
        if grade_id:
            if grade_id in seen_ids:
                raise NotebookSourceError(f"{where}: duplicate id {grade_id!r}")
            seen_ids.add(grade_id)
        cell_id = grade_id or f"{kind}-{counters[kind]}"
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(_markdown_text(lines, where), id=cell_id)
            if "locked" in opts:
                cell.metadata["nbgrader"] = _nbgrader_meta(grade_id, locked=True)
        else:
            cell = nbformat.v4.new_code_cell(body, id=cell_id)
        if kind == "locked":
            cell.metadata["nbgrader"] = _nbgrader_meta(grade_id, locked=True)
        elif kind == "demo":
            cell.metadata["course"] = {"demo": True}
        elif kind == "solution":
            if "### BEGIN SOLUTION" not in body or "### END SOLUTION" not in body:
                raise NotebookSourceError(f"{where}: solution cell without ### BEGIN/END SOLUTION")
            solution_ids.add(grade_id)
            cell.metadata["nbgrader"] = _nbgrader_meta(grade_id, solution=True)
        elif kind == "tests":
            if "points" not in opts:
                raise NotebookSourceError(f"{where}: [tests] cells need points=N")
            needs = [n for n in opts.get("needs", "").split(",") if n]
            unknown = [n for n in needs if n not in solution_ids]
            if not needs or unknown:
                raise NotebookSourceError(
                    f"{where}: needs= must name solution cells above it (unknown: {unknown})")
            cell.metadata["nbgrader"] = _nbgrader_meta(
                grade_id, grade=True, locked=True, points=float(opts["points"]))
            cell.metadata["course"] = {"needs": needs}
        nb.cells.append(cell)
    unknown = set(nb.metadata["course"]["partial_sample"]) - solution_ids
    if unknown:
        raise NotebookSourceError(f"{src_path}: partial= names unknown solution cells {sorted(unknown)}")
    nbformat.validate(nb)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def source_files(notebooks_dir: Path) -> list[Path]:
    """All ``notebooks/<a>/<a>.src.py`` files, sorted by assignment name."""
    return sorted(p for p in Path(notebooks_dir).glob("*/*.src.py")
                  if p.name == f"{p.parent.name}.src.py")


def stale_notebooks(notebooks_dir: Path) -> list[tuple[Path, str]]:
    """(target .ipynb, text it should have) for every notebook missing or not what its source gives."""
    stale = []
    for src in source_files(notebooks_dir):
        target = src.with_name(src.parent.name + ".ipynb")
        text = notebook_text(build_notebook(src))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            stale.append((target, text))
    return stale


def write_notebooks(notebooks_dir: Path) -> list[Path]:
    """Regenerate every assignment's ``.ipynb`` from its ``.src.py``; return the paths written."""
    stale = stale_notebooks(notebooks_dir)
    for target, text in stale:
        target.write_text(text, encoding="utf-8")
    return [target for target, _ in stale]
