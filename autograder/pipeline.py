"""The grading pipeline: thin, explicit wrappers around nbgrader's own commands.

Layout of a course directory (default `_course/`, never committed)::

    nbgrader_config.py            copied from autograder/
    gradebook.db                  nbgrader's SQLite gradebook
    source/<a>/                   copied from notebooks/<a>/ (no .src.py)
    release/<a>/                  student version (nbgrader generate_assignment)
    downloads/<a>.zip, <a>.ipynb  what the site links to
    submitted/<student>/<a>/      submissions (sample_* are generated here)
    autograded/, feedback/        nbgrader's outputs
    grades.csv                    nbgrader export
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from .notebook_source import DEFAULT_TIMEOUT

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
DEFAULT_COURSE = REPO / "_course"
CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
IGNORED = shutil.ignore_patterns("*.src.py", "__pycache__", "*.pyc", ".ipynb_checkpoints",
                                 ".jupyter_cache")

SAMPLES = ("sample_solution", "sample_stub", "sample_partial")


class PipelineError(RuntimeError):
    """A pipeline step failed; the message says which and why."""


def assignments(notebooks_dir: Path = NOTEBOOKS) -> list[str]:
    """Assignment names: folders of `notebooks/` holding `<name>/<name>.ipynb`."""
    return sorted(p.parent.name for p in Path(notebooks_dir).glob("*/*.ipynb")
                  if p.stem == p.parent.name)


def source_notebook(course: Path, name: str) -> nbformat.NotebookNode:
    return nbformat.read(Path(course) / "source" / name / f"{name}.ipynb", as_version=4)


def timeout_of(nb: nbformat.NotebookNode) -> int:
    return int(nb.metadata.get("course", {}).get("timeout", DEFAULT_TIMEOUT))


def nbgrader(course: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course directory; raise with its log on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # nbgrader runs helper programs (alembic, the kernel) found on PATH: use this environment's.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", "")]))
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True, env=env)
    if log is not None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"$ {' '.join(cmd[2:])}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        raise PipelineError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n"
                            f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")
    return proc


def init_course(course: Path) -> Path:
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CONFIG, course / "nbgrader_config.py")
    return course


def release(course: Path, names: list[str], notebooks_dir: Path = NOTEBOOKS) -> None:
    """Copy sources in, generate the student versions, and pack them for download."""
    course = init_course(course)
    for name in names:
        src = course / "source" / name
        if src.exists():
            shutil.rmtree(src)
        shutil.copytree(Path(notebooks_dir) / name, src, ignore=IGNORED)
        nbgrader(course, "generate_assignment", name, "--force", log=course / "pipeline.log")
        downloads = course / "downloads"
        downloads.mkdir(exist_ok=True)
        released = course / "release" / name
        shutil.copyfile(released / f"{name}.ipynb", downloads / f"{name}.ipynb")
        with zipfile.ZipFile(downloads / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(released.rglob("*")):
                if path.is_file():
                    zf.write(path, Path(name) / path.relative_to(released))


def _fill_solutions(student_nb, source_nb, grade_ids: set[str]):
    """Copy the instructor's code into the named solution cells of a student notebook."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in student_nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in grade_ids:
            cell.source = solutions[gid]
    return student_nb


def write_samples(course: Path, names: list[str]) -> None:
    """Sample submissions: the instructor notebook, the untouched stub, a partly correct one."""
    course = Path(course).resolve()
    for name in names:
        source_nb = source_notebook(course, name)
        released = course / "release" / name / f"{name}.ipynb"
        partial = set(source_nb.metadata["course"]["partial_sample"])
        versions = {
            "sample_solution": source_nb,
            "sample_stub": nbformat.read(released, as_version=4),
            "sample_partial": _fill_solutions(nbformat.read(released, as_version=4), source_nb, partial),
        }
        for student, nb in versions.items():
            folder = course / "submitted" / student / name
            if folder.exists():
                shutil.rmtree(folder)
            shutil.copytree(course / "release" / name, folder)
            nbformat.write(nb, folder / f"{name}.ipynb")


def autograde(course: Path, names: list[str], students: list[str] | None = None) -> None:
    """nbgrader autograde each assignment with its own per-cell timeout."""
    course = Path(course).resolve()
    for name in names:
        timeout = timeout_of(source_notebook(course, name))
        for student_args in ([[f"--student={s}"] for s in students] if students else [[]]):
            nbgrader(course, "autograde", name, "--force", f"--Execute.timeout={timeout}",
                     *student_args, log=course / "pipeline.log")


def feedback(course: Path, names: list[str]) -> None:
    course = Path(course).resolve()
    for name in names:
        nbgrader(course, "generate_feedback", name, "--force", log=course / "pipeline.log")


def export(course: Path) -> Path:
    course = Path(course).resolve()
    nbgrader(course, "export", "--to=grades.csv", log=course / "pipeline.log")
    return course / "grades.csv"


def cell_scores(course: Path, name: str) -> dict[str, dict[str, tuple[float, float]]]:
    """{student: {grade_id: (score, max_score)}} for the autograded test cells of one assignment."""
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(name)
        for submission in assignment.submissions:
            nb = next(n for n in submission.notebooks if n.name == name)
            out[submission.student.id] = {
                g.cell.name: (float(g.score), float(g.max_score))
                for g in nb.grades if g.cell.cell_type == "code"}
    return out


def expected_partial_score(source_nb) -> float:
    """Points of the test cells whose every `needs` is filled in the partial sample."""
    filled = set(source_nb.metadata["course"]["partial_sample"])
    return sum(c.metadata["nbgrader"]["points"] for c in source_nb.cells
               if c.metadata.get("nbgrader", {}).get("grade")
               and set(c.metadata["course"]["needs"]) <= filled)


def tree_digest(folder: Path) -> str:
    """One sha256 over every file's path and bytes: proves a folder was left untouched."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def run_all(course: Path, names: list[str]) -> dict:
    """Release, write samples, autograde, feedback, export. Returns a summary dict."""
    release(course, names)
    write_samples(course, names)
    before = tree_digest(Path(course) / "submitted")
    autograde(course, names)
    feedback(course, names)
    csv = export(course)
    if tree_digest(Path(course) / "submitted") != before:
        raise PipelineError("grading changed a submitted file; this must never happen")
    summary = {name: cell_scores(course, name) for name in names}
    (Path(course) / "scores.json").write_text(json.dumps(summary, indent=1))
    return {"csv": csv, "scores": summary}
