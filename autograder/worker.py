"""A grading worker: one process that autogrades submission after submission.

`python -m autograder.worker COURSE [--cold]` reads one JSON request per line on stdin,
``{"assignment": ..., "student": ..., "timeout": ..., "skip_demos": false}``, runs nbgrader's own `Autograde`
converter on it in this process (the same code `nbgrader autograde --student=...` runs, with
the course's nbgrader_config.py), and answers one JSON line ``{"error": null | reason}``.
`pipeline.autograde` starts one worker per parallel job and hands out submissions as
workers become free.

Compared with one `nbgrader autograde` process per submission this saves nbgrader's start
(~4 s) for each one, and, with a warm template (warm.py, unless --cold), the kernel's start
and its imports of TensorFlow & co. (3-5 s). The grading itself is unchanged: same
preprocessors, same sandbox, same gradebook.
"""
from __future__ import annotations

import functools
import gc
import json
import os
import sys
import time
from pathlib import Path

RETRY_SIGNS = ("database is locked", "Address already in use", "Kernel didn't respond",
               "Kernel died before replying to kernel_info")


def _protocol_stream():
    """A private copy of stdout for answers; fd 1 then goes to stderr, so nothing else that
    prints (nbgrader, libraries) can corrupt the answers."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def share_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this process, instead of one per `Gradebook`.

    nbgrader opens a `Gradebook` (`create_engine`) about nine times a submission, and SQLAlchemy
    caches compiled queries per engine, so every query was compiled again each time (SQLAlchemy
    was a third of a worker's profiled CPU, compiling half of that). `Gradebook.close` disposes
    the engine's pool (connections still checked out by another open `Gradebook` stay valid
    until returned); the engine and its query cache stay.
    """
    import nbgrader.api

    if hasattr(nbgrader.api.create_engine, "cache_info"):  # shared already
        return
    nbgrader.api.create_engine = functools.cache(nbgrader.api.create_engine)

    # Each `Gradebook` also lists the database's tables and asks for each of the 13 of its schema
    # whether it exists (`create_all`), and its `close` disposes the engine's pool, so the next
    # one opens a new connection: ~10 ms of the worker's CPU for each of the nine. Here that
    # happens once per engine: the tables, once made, stay; connections go back to the pool.
    schema_ready: dict[int, list[str]] = {}
    create_all, inspect = nbgrader.api.Base.metadata.create_all, nbgrader.api.inspect

    def create_all_once(bind=None, **kw):
        if id(bind) not in schema_ready:
            create_all(bind=bind, **kw)
            schema_ready[id(bind)] = inspect(bind).get_table_names()

    class KnownTables:
        def __init__(self, names):
            self.names = names

        def get_table_names(self):
            return list(self.names)

    def inspect_known(subject):
        names = schema_ready.get(id(subject))
        return KnownTables(names) if names else inspect(subject)

    nbgrader.api.Base.metadata.create_all = create_all_once
    nbgrader.api.inspect = inspect_known
    nbgrader.api.Gradebook.close = lambda self: self.db.remove()


class Worker:
    def __init__(self, course: Path, warm_kernels: bool = True, name: str | None = None):
        from nbgrader.apps.autogradeapp import AutogradeApp
        from . import sandbox

        share_gradebook_engines()

        self.course = Path(course).resolve()
        self.name = name or f"w{os.getpid()}"
        self.log = self.course / "pipeline.log"
        os.chdir(self.course)
        self.app = AutogradeApp()
        self.app.initialize([f"--Execute.kernel_name={sandbox.KERNEL_NAME}"])
        # traitlets leaves the app's logger at DEBUG (its own handler filters at log_level), and
        # capture_log's handler keeps everything: every kernel message's content, ~0.3 MB a
        # submission in pipeline.log, and CPU to format it. Keep to the app's level (INFO), as
        # `nbgrader autograde` prints.
        self.app.log.setLevel(self.app.log_level)
        import nbgrader.converters  # noqa: F401 - imported by grade(); frozen with the rest below
        gc.collect()
        gc.freeze()  # nbgrader & co. stay for the worker's life: keep full collections off them
        self.warm_kernels = warm_kernels
        self.template = None

    def _ensure_template(self) -> bool:
        """A running template for this worker; False (cold kernels) when none can start."""
        from . import warm

        if not self.warm_kernels:
            return False
        if self.template is not None and self.template.alive():
            return True
        if self.template is not None:
            self.template.close()
        start = time.perf_counter()
        try:
            self.template = warm.Template(self.course, self.name, log=self.log)
        except (warm.TemplateError, OSError) as exc:
            print(f"warning: {exc}; grading with a fresh kernel per submission", file=sys.stderr)
            self.template, self.warm_kernels = None, False
            return False
        warm.TEMPLATE = self.template
        print(f"[{self.name}] warm kernels: template ready in {time.perf_counter() - start:.1f} s",
              file=sys.stderr, flush=True)
        return True

    def grade(self, assignment: str, student: str, timeout: int, skip_demos: bool = False) -> str | None:
        """Autograde one submission; None when graded, else nbgrader's error text."""
        from nbgrader.converters import Autograde
        from nbgrader.utils import capture_log
        from traitlets.config import Config

        warm = self._ensure_template()
        manager = "autograder.warm.WarmKernelManager" if warm else "jupyter_client.manager.AsyncKernelManager"
        # Exporter: one validation of the notebook per nbconvert pass, after its last preprocessor,
        # instead of one after each (a tenth of the worker's CPU); an invalid result still fails.
        # A warm kernel is killed once its notebook has run (every output is in by then): the
        # template kills whatever is left in the sandbox anyway, and a graceful shutdown
        # request costs ~0.1 s a submission. A fresh kernel gets nbclient's usual shutdown.
        self.app.update_config(Config({"Exporter": {"optimistic_validation": True},
                                       "Execute": {"timeout": timeout},
                                       "ResilientExecute": {"kernel_manager_class": manager,
                                                            "shutdown_kernel": "immediate" if warm else "graceful",
                                                            "skip_demos": bool(skip_demos)}}))
        for attempt in range(4):
            self.app.coursedir.assignment_id = assignment
            self.app.coursedir.student_id = student
            converter = Autograde(coursedir=self.app.coursedir, parent=self.app)
            converter.force = True
            converter.create_student = True
            result = capture_log(converter)
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(f"$ autograde {assignment} --student={student} [{self.name}]\n"
                         f"{result.get('log', '')}{result.get('error') or ''}\n")
            if result["success"]:
                return None
            text = f"{result.get('log', '')}\n{result.get('error') or ''}"
            if any(sign in text for sign in RETRY_SIGNS) and attempt < 3:
                time.sleep(1 + 2 * attempt)
                continue
            return text.strip() or "nbgrader autograde failed"
        return None

    def close(self) -> None:
        if self.template is not None:
            self.template.close()


def main(argv: list[str]) -> None:
    answers = _protocol_stream()
    if not argv:
        raise SystemExit("usage: python -m autograder.worker COURSE [--cold]")
    worker = Worker(Path(argv[0]), warm_kernels="--cold" not in argv[1:])
    answers.write(json.dumps({"ready": True, "warm": worker.warm_kernels}) + "\n")
    try:
        for line in sys.stdin:
            request = json.loads(line)
            try:
                error = worker.grade(request["assignment"], request["student"], int(request["timeout"]),
                                     bool(request.get("skip_demos")))
            except Exception as exc:  # noqa: BLE001 - report, keep serving the others
                error = f"{type(exc).__name__}: {exc}"
            answers.write(json.dumps({"error": error}) + "\n")
    finally:
        worker.close()


if __name__ == "__main__":
    main(sys.argv[1:])
