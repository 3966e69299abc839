"""Shared fixtures. Each expensive thing runs once per pytest-xdist worker group:

* `graded`: one full grading run (release, samples, autograde, feedback, export) per
  assignment, in a temporary course directory; every grading test of that assignment
  shares it (tests are grouped per assignment, `--dist loadgroup`).
* `built_book`: one `jupyter-book build --all -W -n --keep-going` of a copy of the site.

New assignments are picked up automatically from notebooks/<a>/<a>.ipynb.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from autograder import book, pipeline

REPO = pipeline.REPO
ASSIGNMENTS = pipeline.assignments()

os.environ.setdefault("COURSE_QUICK", "1")


def assignment_params():
    return [pytest.param(a, id=a, marks=pytest.mark.xdist_group(f"grade-{a}")) for a in ASSIGNMENTS]


@pytest.fixture(scope="session", params=assignment_params())
def graded(request, tmp_path_factory):
    """One grading run of one assignment; see pipeline.run_all."""
    name = request.param
    course = tmp_path_factory.mktemp(f"course-{name}")
    start = time.perf_counter()
    result = pipeline.run_all(course, [name])
    return SimpleNamespace(
        name=name, course=course, scores=result["scores"][name], csv=result["csv"],
        source=pipeline.source_notebook(course, name), seconds=time.perf_counter() - start)


def jupyter_book_build(folder: Path, out: Path) -> subprocess.CompletedProcess:
    """The strict build used in tests (broken references, missing files, failing pages fail)."""
    return book.jupyter_book(folder, *book.STRICT, "--path-output", str(out))


copy_book = book.copy_book


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    folder = copy_book(tmp_path_factory.mktemp("book-src"))
    pipeline.release(folder / "_course", ASSIGNMENTS)
    out = tmp_path_factory.mktemp("book-out")
    start = time.perf_counter()
    proc = jupyter_book_build(folder, out)
    return SimpleNamespace(proc=proc, html=out / "_build" / "html", src=folder,
                           seconds=time.perf_counter() - start)


def instructor_notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "notebooks" / name / f"{name}.ipynb", as_version=4)
