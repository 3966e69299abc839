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
    flags.csv                     submissions to review by hand (see review_flags)
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import nbformat

from . import sandbox
from .notebook_source import DEFAULT_TIMEOUT

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
DEFAULT_COURSE = REPO / "_course"
CONFIG = Path(__file__).resolve().parent / "nbgrader_config.py"
# Not released: the notebook's source, caches, and `output/`, where a notebook run in
# notebooks/<a>/ (by the instructor trying it) leaves what the solution made (git ignores it too).
IGNORED = shutil.ignore_patterns("*.src.py", "__pycache__", "*.pyc", ".ipynb_checkpoints",
                                 ".jupyter_cache", "output")

SAMPLES = ("sample_solution", "sample_stub", "sample_partial", "sample_cheat")
GRADER_DIR = ".grader"   # holds the grading kernel's spec, outside any student's folder
ERRORS_FILE = "grading_errors.json"
REVIEW_FILE = "flags.csv"
REVIEW_FIELDS = ("assignment", "student_id", "cells", "names")


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


def grading_env(course: Path, base: dict | None = None) -> dict:
    """The environment of nbgrader commands and grading workers run for `course`."""
    base = os.environ if base is None else base
    return dict(base,
                PATH=os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")]),
                JUPYTER_PATH=os.pathsep.join([str(Path(course) / GRADER_DIR),
                                              base.get("JUPYTER_PATH", "")]),
                # Kernel connection files (with their keys) inside the course directory, which
                # every sandbox hides: a kernel must not find another one's and take it over.
                JUPYTER_RUNTIME_DIR=str(Path(course) / GRADER_DIR / "runtime"),
                COURSE_GRADING_ROOT=str(course))


# The thread pools of the libraries the notebooks compute with. TensorFlow's inter-op pool keeps
# its default size: ops that wait on one another need more than one thread there.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS")


def kernel_threads_env(jobs: int, base: dict | None = None) -> dict:
    """Thread counts for `jobs` kernels running at once: each gets its share of the cores.

    Every library otherwise sizes its pool to the whole machine, so two kernels on two cores run
    four compute threads that spin waiting for each other (measured: 3-6 % more time for the
    same class). Variables the instructor set are kept.
    """
    base = os.environ if base is None else base
    share = max(1, len(os.sched_getaffinity(0)) // max(1, jobs))
    return {name: str(share) for name in THREAD_VARS if name not in base}


def compile_library() -> bool:
    """Byte-compile source_lib (its __pycache__), as a first import would. Kernels cannot write
    it from their read-only sandbox, and with PYTHONDONTWRITEBYTECODE nothing does: every kernel
    then compiled the modules it imports again (~30 ms for the library check's alone).
    Best effort: False if a file could not be written."""
    import compileall

    return bool(compileall.compile_dir(REPO / "source_lib", quiet=2))


def nbgrader(course: Path, *args: str, log: Path | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course directory; raise with its log on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    # nbgrader runs helper programs (alembic, the kernel) found on PATH: use this environment's.
    # The grading kernel's spec lives in the course directory (see sandbox.py).
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True,
                          env=grading_env(course, env))
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
    sandbox.write_kernelspec(course / GRADER_DIR)
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
    """Sample submissions: the instructor notebook, the untouched stub, a partly correct one,
    and a cheat (wrong answers that patch numpy's and source_lib's checks, see hostile.py)."""
    from . import hostile

    course = Path(course).resolve()
    for name in names:
        source_nb = source_notebook(course, name)
        released = course / "release" / name / f"{name}.ipynb"
        partial = set(source_nb.metadata["course"]["partial_sample"])
        versions = {
            "sample_solution": source_nb,
            "sample_stub": nbformat.read(released, as_version=4),
            "sample_partial": _fill_solutions(nbformat.read(released, as_version=4), source_nb, partial),
            "sample_cheat": hostile.build(hostile.CHEATER, nbformat.read(released, as_version=4), source_nb),
        }
        for student, nb in versions.items():
            folder = course / "submitted" / student / name
            if folder.exists():
                shutil.rmtree(folder)
            shutil.copytree(course / "release" / name, folder)
            nbformat.write(nb, folder / f"{name}.ipynb")


def submitted_students(course: Path, name: str) -> list[str]:
    """Students with a folder for assignment `name` in submitted/."""
    return sorted(p.parent.name for p in (Path(course) / "submitted").glob(f"*/{name}") if p.is_dir())


def shard(students: list[str], spec: str) -> list[str]:
    """The K-th of N slices of a class ("K/N", 1-based): every N-th student from the K-th."""
    try:
        k, n = (int(part) for part in spec.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like K/N (e.g. 2/4), got {spec!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"shard {spec!r}: K must be between 1 and N")
    return sorted(students)[k - 1::n]


def ensure_students(course: Path, students: list[str]) -> None:
    """Add students to the gradebook, so one whose notebook cannot be graded still gets a row."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        for student in students:
            gb.update_or_create_student(student)


def _failure_reason(err: PipelineError, folder: Path, name: str) -> str:
    notebook = folder / f"{name}.ipynb"
    if not notebook.exists():
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        return (f"no {name}.ipynb in the submission" +
                (f" (found {', '.join(others)}: notebooks must keep their name)" if others else ""))
    try:
        nbformat.read(notebook, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable notebook is reported the same way
        return f"{name}.ipynb is not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})"
    return "grading failed: " + str(err).strip().splitlines()[-1][:300]


def _write_failure_feedback(course: Path, name: str, student: str, reason: str) -> None:
    folder = Path(course) / "feedback" / student / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{name}: not graded</title></head>"
        f"<body><h1>{html.escape(name)}: score 0</h1><p>Your submission could not be graded: "
        f"{html.escape(reason)}.</p><p>Your files were kept as you submitted them; ask your "
        f"instructor to grade them again once this is fixed.</p></body></html>\n", encoding="utf-8")


class _Workers:
    """`jobs` grading workers (worker.py), each fed the next submission when it is free."""

    def __init__(self, course: Path, jobs: int, warm: bool, skip_demos: bool = False):
        self.course, self.warm, self.skip_demos = course, warm, skip_demos
        # workers, their templates and kernels inherit it (numpy's BLAS reads it at import)
        self.env = dict(grading_env(course), **kernel_threads_env(jobs))
        self.log = open(course / "pipeline.log", "ab")
        self.procs = [self._spawn() for _ in range(jobs)]  # they start up side by side
        for proc in self.procs:
            proc.stdout.readline()  # {"ready": ...}, or "" when it could not start (seen in _ask)

    def _spawn(self) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "autograder.worker", str(self.course)]
        return subprocess.Popen(cmd + ([] if self.warm else ["--cold"]), cwd=self.course,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=self.env, stderr=self.log)

    def _ask(self, index: int, task: tuple[str, str, int]) -> str | None:
        name, student, timeout = task
        for attempt in range(2):
            proc = self.procs[index]
            try:
                proc.stdin.write(json.dumps({"assignment": name, "student": student, "timeout": timeout,
                                             "skip_demos": self.skip_demos}) + "\n")
                proc.stdin.flush()
                answer = proc.stdout.readline()
            except (BrokenPipeError, OSError):
                answer = ""
            if answer:
                return json.loads(answer)["error"]
            proc.kill()
            proc.wait()
            self.procs[index] = self._spawn()  # it died: a fresh worker, one more try
            self.procs[index].stdout.readline()
        return "the grading worker stopped while grading this submission"

    def run(self, tasks: list[tuple[str, str, int]]) -> dict[tuple[str, str], str | None]:
        pending = list(reversed(tasks))
        results: dict[tuple[str, str], str | None] = {}
        lock = threading.Lock()

        def serve(index: int) -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    task = pending.pop()
                results[task[:2]] = self._ask(index, task)

        threads = [threading.Thread(target=serve, args=(i,)) for i in range(len(self.procs))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()


def warm_kernels_default() -> bool:
    """Warm kernels (warm.py) unless COURSE_GRADING_WARM=0."""
    return os.environ.get("COURSE_GRADING_WARM", "1").strip() not in ("0", "false", "no")


def autograde(course: Path, names: list[str], students: list[str] | None = None,
              timeout: int | None = None, jobs: int = 1, warm: bool | None = None,
              skip_demos: bool = False) -> dict[str, dict[str, str]]:
    """nbgrader autograde every submission, each student on its own, in the grading sandbox.

    `jobs` grading workers (worker.py) run at once, each taking the next submission, of any
    assignment, when it is free; with `warm` (default: warm_kernels_default()) their kernels
    fork from a template that has TensorFlow & co. imported (warm.py). With `skip_demos`, the
    demonstration cells nothing graded depends on are not run (demos.py). A submission that cannot
    be graded (missing or unreadable notebook) scores 0 and gets a feedback page that says why;
    it never stops the others. Returns {assignment: {student: reason}} for those, also written
    to grading_errors.json in the course directory.
    """
    course = Path(course).resolve()
    if not sandbox.bwrap_path():
        print("warning: bubblewrap (bwrap) is not installed: submissions are graded without the "
              "filesystem sandbox (see autograder/sandbox.py)", file=sys.stderr)
    failures: dict[str, dict[str, str]] = {}
    graded: dict[str, list[str]] = {}
    tasks: list[tuple[str, str, int]] = []
    for name in names:
        cell_timeout = timeout or timeout_of(source_notebook(course, name))
        todo = graded[name] = students or submitted_students(course, name)
        ensure_students(course, todo)
        tasks += [(name, student, cell_timeout) for student in todo]
    if tasks:
        compile_library()
        workers = _Workers(course, max(1, min(jobs, len(tasks))),
                           warm_kernels_default() if warm is None else warm, skip_demos)
        try:
            results = workers.run(tasks)
        finally:
            workers.close()
        for (name, student), error in results.items():
            if error is not None:
                failures.setdefault(name, {})[student] = _failure_reason(
                    PipelineError(error), course / "submitted" / student / name, name)
    errors_file = course / ERRORS_FILE
    recorded = json.loads(errors_file.read_text()) if errors_file.exists() else {}
    for name in names:
        recorded[name] = {s: r for s, r in recorded.get(name, {}).items()
                          if s not in graded[name]}
        recorded[name].update(failures.get(name, {}))
    errors_file.write_text(json.dumps(recorded, indent=1, sort_keys=True))
    _write_review_flags(course, graded)
    return failures


def _machinery_uses(course: Path, name: str, student: str) -> dict[str, list[str]]:
    """The names reaching into the kernel's machinery in a submission's own code (see sanitize)."""
    from .sanitize import machinery_uses

    try:
        nb = nbformat.read(course / "submitted" / student / name / f"{name}.ipynb", as_version=4)
    except Exception:  # noqa: BLE001 - missing or unreadable: already reported as not graded
        return {}
    released = course / "release" / name / f"{name}.ipynb"
    course_nbs = [source_notebook(course, name)]
    if released.exists():
        course_nbs.append(nbformat.read(released, as_version=4))
    return machinery_uses(nb, course_nbs)


def _replaced_libraries(course: Path, name: str, student: str) -> dict[str, list[str]]:
    """{test grade id: ["replaced-libraries"]} for the tests that guard.py's check failed."""
    try:
        text = (course / "autograded" / student / name / f"{name}.ipynb").read_text(encoding="utf-8")
        if "LibraryReplaced" not in text:  # the common case: no need to parse the notebook
            return {}
        nb = nbformat.reads(text, as_version=4)
    except Exception:  # noqa: BLE001 - not graded: already reported
        return {}
    return {c.metadata["nbgrader"]["grade_id"]: ["replaced-libraries"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id")
            and any(o.get("ename") == "LibraryReplaced" for o in c.get("outputs", []))}


def _write_review_flags(course: Path, graded: dict[str, list[str]]) -> None:
    """Update flags.csv for the students just graded, and say on stderr who is listed.

    A submission whose own code names the kernel's execution machinery (get_ipython,
    ast_transformers, exec(...), see sanitize.MACHINERY_PATTERNS) may have changed how its test
    cells ran in a way the run-time check cannot see. It keeps its grade; a person decides.
    So is one whose tests scored 0 because it replaced library functions (guard.py): an honest
    student who, say, named a variable `sum` can be told to rename it.
    """
    path = course / REVIEW_FILE
    rows = []
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh)
                    if r["student_id"] not in graded.get(r["assignment"], ())]
    for name, students in graded.items():
        for student in students:
            found = _machinery_uses(course, name, student)
            for cell, names in _replaced_libraries(course, name, student).items():
                found.setdefault(cell, []).extend(names)
            if not found:
                continue
            names = sorted({n for ns in found.values() for n in ns})
            rows.append({"assignment": name, "student_id": student,
                         "cells": " ".join(found), "names": " ".join(names)})
            print(f"review: {name} / {student}: {', '.join(names)} (in {', '.join(found)}); "
                  f"listed in {path}", file=sys.stderr)
    rows.sort(key=lambda r: (r["assignment"], r["student_id"]))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=REVIEW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def review_flags(course: Path) -> dict[str, dict[str, str]]:
    """{assignment: {student: names}} from flags.csv: submissions to look at by hand."""
    path = Path(course) / REVIEW_FILE
    out: dict[str, dict[str, str]] = {}
    if path.exists():
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                out.setdefault(row["assignment"], {})[row["student_id"]] = row["names"]
    return out


def feedback(course: Path, names: list[str]) -> None:
    """nbgrader generate_feedback; submissions that could not be graded get a page saying why."""
    course = Path(course).resolve()
    errors_file = course / ERRORS_FILE
    failed = json.loads(errors_file.read_text()) if errors_file.exists() else {}
    for name in names:
        nbgrader(course, "generate_feedback", name, "--force", log=course / "pipeline.log")
        for student, reason in failed.get(name, {}).items():
            _write_failure_feedback(course, name, student, reason)


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


def run_all(course: Path, names: list[str], jobs: int = 1, skip_demos: bool = False) -> dict:
    """Release, write samples, autograde, feedback, export. Returns a summary dict."""
    release(course, names)
    write_samples(course, names)
    before = tree_digest(Path(course) / "submitted")
    autograde(course, names, jobs=jobs, skip_demos=skip_demos)
    feedback(course, names)
    grades_csv = export(course)
    if tree_digest(Path(course) / "submitted") != before:
        raise PipelineError("grading changed a submitted file; this must never happen")
    summary = {name: cell_scores(course, name) for name in names}
    (Path(course) / "scores.json").write_text(json.dumps(summary, indent=1))
    return {"csv": grades_csv, "scores": summary, "flags": review_flags(course)}
