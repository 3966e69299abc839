"""Shared fixtures. Each expensive thing runs once per pytest-xdist worker group:

* `graded`: one full grading run (release, samples, autograde, feedback, export) per
  assignment, in a temporary course directory; every grading test of that assignment
  shares it (tests are grouped per assignment, `--dist loadgroup`).
* `built_book`: one `jupyter-book build --all -W -n --keep-going` of a copy of the site.

New assignments are picked up automatically from notebooks/<a>/<a>.ipynb.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from autograder import pipeline

REPO = pipeline.REPO
ASSIGNMENTS = pipeline.assignments()
BOOK_FILES = ["_config.yml", "_toc.yml", "index.md", "book"]

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
    """The strict build used in tests: every warning (broken reference, missing file,
    failing notebook) is an error, and all of them are reported."""
    jb = Path(sys.executable).parent / "jupyter-book"
    env = dict(os.environ, PATH=os.pathsep.join([str(jb.parent), os.environ.get("PATH", "")]))
    return subprocess.run([str(jb), "build", "--all", "-W", "-n", "--keep-going",
                           "--path-output", str(out), str(folder)],
                          capture_output=True, text=True, env=env)


def copy_book(target: Path) -> Path:
    """A copy of the book's sources, so a test build never touches the repository."""
    target.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        else:
            shutil.copy2(src, target / name)
    return target


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
