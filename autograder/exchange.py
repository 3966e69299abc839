"""nbgrader's exchange cycle, as a class runs it, on one machine with a local exchange folder.

    instructor: release_assignment                          (course dir → exchange outbound/)
    student:    fetch_assignment → work → submit            (exchange → ~/<a>/ → inbound/)
    instructor: collect → autograde → generate_feedback → release_feedback → export
    student:    fetch_feedback                              (exchange feedback/ → ~/<a>/feedback/)

Every step is nbgrader's own command. The instructor's commands run in the course directory
with the course's configuration (autograder/nbgrader_config.py); grading goes through
`pipeline.autograde` (sandboxed, one process per student). Each student has a home folder and
reads the global configuration a JupyterHub would install (autograder/jupyterhub/
nbgrader_config.py); the exchange folder is named by COURSE_EXCHANGE.

On a real hub each student is a Unix user and nbgrader takes the student id from the user name;
here every simulated student is the same Unix user, so `--student=<id>` names them (nbgrader
supports that flag on submit and fetch_feedback), and `collect` runs with check_owner off.

`python -m autograder cycle [ASSIGNMENT ...] --exchange DIR` runs the whole cycle with the
sample submissions (see `run_cycle`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import pipeline

HUB_CONFIG = Path(__file__).resolve().parent / "jupyterhub" / "nbgrader_config.py"


def _env(exchange: Path, **extra: str) -> dict:
    env = dict(os.environ, COURSE_EXCHANGE=str(exchange),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.update(extra)
    return env


def make_exchange(exchange: Path) -> Path:
    """Create the shared exchange folder, writable by every user (as on a hub: mode 0777)."""
    exchange = Path(exchange).resolve()
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)
    return exchange


def instructor(course: Path, exchange: Path, *args: str) -> subprocess.CompletedProcess:
    """One nbgrader command in the course directory, against `exchange`."""
    return pipeline.nbgrader(course, *args, log=Path(course) / "pipeline.log",
                             env=_env(exchange))


@dataclass
class Student:
    """A student's account: a home folder with the hub's global nbgrader config."""
    student_id: str
    home: Path
    exchange: Path

    def __post_init__(self):
        self.home = Path(self.home).resolve()
        config_dir = self.home / ".jupyter"
        config_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HUB_CONFIG, config_dir / "nbgrader_config.py")

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        env = _env(self.exchange, HOME=str(self.home), JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"),
                   JUPYTER_DATA_DIR=str(self.home / ".local" / "share" / "jupyter"))
        cmd = [sys.executable, "-m", "nbgrader", *args]
        proc = subprocess.run(cmd, cwd=self.home, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise pipeline.PipelineError(f"{self.student_id}: nbgrader {' '.join(args)} failed "
                                         f"(exit {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return proc

    def fetch(self, name: str) -> Path:
        self.nbgrader("fetch_assignment", name)
        return self.home / name / f"{name}.ipynb"

    def submit(self, name: str) -> None:
        self.nbgrader("submit", name, f"--student={self.student_id}")

    def fetch_feedback(self, name: str) -> list[Path]:
        self.nbgrader("fetch_feedback", name, f"--student={self.student_id}")
        return sorted((self.home / name / "feedback").glob("*/*.html"))


def release_assignment(course: Path, exchange: Path, name: str) -> None:
    instructor(course, exchange, "release_assignment", name, "--force")


def collect(course: Path, exchange: Path, name: str) -> list[str]:
    """Copy the newest submission of every student into submitted/; return the students."""
    instructor(course, exchange, "collect", name, "--update", "--CollectApp.check_owner=False")
    return pipeline.submitted_students(course, name)


def release_feedback(course: Path, exchange: Path, name: str) -> None:
    instructor(course, exchange, "release_feedback", name)


def _answers(student: str, fetched, source_nb, partial: set[str]):
    """What each sample student hands in (see pipeline.write_samples)."""
    from . import hostile

    if student == "sample_solution":
        return source_nb
    if student == "sample_partial":
        return pipeline._fill_solutions(fetched, source_nb, partial)
    if student == "sample_cheat":
        return hostile.build(hostile.CHEATER, fetched, source_nb)
    return fetched                                            # sample_stub: untouched


def run_cycle(course: Path, exchange: Path, names: list[str], homes: Path, jobs: int = 1,
              students: tuple[str, ...] = pipeline.SAMPLES) -> dict:
    """The whole cycle with sample students (solution, stub, partial, cheat by default).

    Each student fetches the released notebook, puts its answers in and submits; the partial
    student first submits the untouched notebook and then resubmits (collect must take the
    newest, and both stay in the exchange). The instructor collects, grades, releases feedback
    and exports; each student fetches feedback. Returns {"scores": {assignment: {student:
    {grade_id: (score, max)}}}, "feedback": {student: [paths]}, "csv": path, "homes": {student:
    path}}.
    """
    course = pipeline.init_course(course)
    exchange = make_exchange(exchange)
    pipeline.release(course, names)
    accounts = {s: Student(s, Path(homes) / s, exchange) for s in students}
    for name in names:
        release_assignment(course, exchange, name)
        source_nb = pipeline.source_notebook(course, name)
        partial = set(source_nb.metadata["course"]["partial_sample"])
        for sid, student in accounts.items():
            path = student.fetch(name)
            fetched = nbformat.read(path, as_version=4)
            if sid == "sample_partial":
                student.submit(name)                          # a first, empty attempt
            nbformat.write(_answers(sid, fetched, source_nb, partial), path)
            student.submit(name)
        collect(course, exchange, name)
    pipeline.autograde(course, names, jobs=jobs)
    pipeline.feedback(course, names)
    for name in names:
        release_feedback(course, exchange, name)
    csv = pipeline.export(course)
    fetched = {sid: [p for name in names for p in student.fetch_feedback(name)]
               for sid, student in accounts.items()}
    scores = {name: pipeline.cell_scores(course, name) for name in names}
    return {"scores": scores, "feedback": fetched, "csv": csv,
            "homes": {sid: student.home for sid, student in accounts.items()}}
