"""Submissions that try to break grading, and the score each must get.

Used by the tests (one batch per assignment is graded together with honest
submissions) and by bench/grading.py. Each case starts from the released student
notebook, fills some solution cells with the instructor's code, and then does
something a real student might: crash, hang, flood, cheat, tamper with files.

`expected_scores(case, source_nb)` says what every test cell must score, from the
`needs=` of each test cell: a test passes exactly when all the solution cells it
needs are correctly filled and intact.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import nbformat

# Prepended to a solution cell, each of these breaks that cell (and only that cell,
# or, when the kernel must be restarted, that cell and everything after it).
RAISE = 'raise RuntimeError("a bug in the student\'s code")\n'
SYNTAX_ERROR = "def broken(:\n    pass\n"
INFINITE_LOOP = "while True:\n    pass\n"
C_SLEEP = ("import signal, time\n"
           "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # ignore interrupts\n"
           "time.sleep(10**6)\n")
EXIT = "import os\nos._exit(1)\n"
SEGFAULT = "import ctypes\nctypes.string_at(0)\n"
MEMORY_BOMB = ("_hog = []\n"
               "while True:\n"
               "    _hog.append(bytearray(256 * 2**20))\n")
# 8 MB in one line and 20,000 short lines: four times what test_hostile allows the stored notebook,
# yet quick to send, so the flood cannot run into the test's short cell timeout on a loaded machine.
FLOOD = "print('x' * (8 * 2**20))\nfor _ in range(20000):\n    print('line')\n"

CHEAT = '''\
import numpy as _np, numpy.testing as _npt
import source_lib.checks as _checks


class _Anything:
    """Equal to everything, any shape, any attribute: tries to satisfy any check."""
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return True
    def __ge__(self, other): return True
    def __bool__(self): return True
    def __call__(self, *a, **k): return self
    def __getattr__(self, name): return self
    def __getitem__(self, key): return self
    def __len__(self): return 0
    def __sub__(self, other): return self
    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __abs__ = __sub__
    def __float__(self): return 0.0
    def __int__(self): return 0
    def __iter__(self): return iter(())
    def __hash__(self): return 0


_pass = lambda *a, **k: None
_npt.assert_allclose = _npt.assert_array_equal = _npt.assert_equal = _npt.assert_array_almost_equal = _pass
_np.allclose = _np.array_equal = lambda *a, **k: True
_np.isclose = lambda *a, **k: _np.bool_(True)
for _name in ("assert_close", "assert_equal", "check_array", "passed"):
    setattr(_checks, _name, lambda *a, **k: a[0] if a else None)
'''

# Honest answers, but a checking tool is replaced (here by a harmless wrapper): from then on no
# test can be trusted, so every later test scores 0 and says what was replaced (guard.py).
PATCH_LIBRARY = '''\
import numpy.testing as _npt
_original_assert_allclose = _npt.assert_allclose


def _my_assert_allclose(actual, desired, *args, **kwargs):
    return _original_assert_allclose(actual, desired, *args, **kwargs)


_npt.assert_allclose = _my_assert_allclose
'''

TAMPER = '''\
import pathlib, sqlite3, subprocess, sys
_here = pathlib.Path.cwd()
_course = _here.parents[2] if len(_here.parents) > 2 else _here
_found = [str(p / "gradebook.db") for p in list(_here.parents)[:5] if (p / "gradebook.db").exists()]
for _db in _found:
    try:
        _con = sqlite3.connect(_db)
        _con.execute("UPDATE grade SET auto_score = 0, manual_score = 0")
        _con.commit()
    except Exception:
        pass
    try:
        pathlib.Path(_db).write_text("gone")
    except Exception:
        pass
for _target in [_course / "submitted", _course / "source", _course / "release"]:
    try:
        for _p in _target.rglob("*.ipynb"):
            _p.write_text("{}")
    except Exception:
        pass
try:
    (_course / "PWNED.txt").write_text("outside my folder")
except Exception:
    pass
try:  # a process that outlives the kernel and tries again later
    subprocess.Popen([sys.executable, "-c",
                      "import time, pathlib; time.sleep(8); "
                      f"pathlib.Path({str(_course / 'LATE.txt')!r}).write_text('late')"],
                     start_new_session=True)
except Exception:
    pass
'''

# Reads every kernel connection file it can find (they hold the key that lets a client run
# code in that kernel): another student's kernel, graded at the same time, must stay out of
# reach. The test batch plants a decoy where the grader keeps connection files.
KERNEL_SNOOP = '''\
import glob as _glob, json as _json, os as _os
from jupyter_core.paths import jupyter_runtime_dir as _runtime_dir
_mine = get_ipython().kernel.session.key.decode()
_places = {_runtime_dir(), _os.environ.get("JUPYTER_RUNTIME_DIR", ""), _os.path.expanduser("~/.local/share/jupyter/runtime")}
_others = []
for _place in filter(None, _places):
    for _path in _glob.glob(_os.path.join(_place, "*.json")):
        try:
            if _json.load(open(_path)).get("key") != _mine:
                _others.append(_path)
        except (OSError, ValueError):
            pass
if _others:
    raise RuntimeError(f"another kernel's connection file is readable: {_others}")
'''

# A process that outlives the kernel and keeps writing into the folder the notebook runs in
# (and $TMPDIR): whoever is graded next in the same place must never see its file.
LINGER = '''\
import subprocess as _sp, sys as _sys
_sp.Popen([_sys.executable, "-c",
           "import os, pathlib, time\\n"
           "for _ in range(600):\\n"
           "    for d in ('.', os.environ.get('TMPDIR', '/tmp')):\\n"
           "        try: pathlib.Path(d, 'LINGERING.txt').write_text('still here')\\n"
           "        except OSError: pass\\n"
           "    time.sleep(0.1)\\n"],
          start_new_session=True, stdout=_sp.DEVNULL, stderr=_sp.DEVNULL)
'''
LINGER_FILE = "LINGERING.txt"

# Kills the process that started the kernel (a warm kernel's template, see warm.py), then
# itself: the next student must still be graded as usual.
KILL_PARENT = """\
import os as _os, signal as _signal, time as _time
_os.kill(_os.getppid(), _signal.SIGKILL)
_time.sleep(1)
_os._exit(3)
"""

# Each solution cell looks for the instructor's notebook next to the course's library (the
# repository checkout the grader runs from) and runs the instructor's code for that cell.
READ_SOLUTION = '''\
import json as _json, pathlib as _pathlib, source_lib as _source_lib
_repo = _pathlib.Path(_source_lib.__file__).resolve().parents[1]
for _nb in sorted(_repo.glob("notebooks/*/*.ipynb")):
    try:
        _cells = _json.loads(_nb.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        continue
    for _cell in _cells:
        _meta = _cell.get("metadata", {{}}).get("nbgrader", {{}})
        if _meta.get("grade_id") == {grade_id!r} and "BEGIN SOLUTION" in "".join(_cell["source"]):
            exec("".join(_cell["source"]), globals())
'''


def _read_solutions(nb):
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            cell.source = READ_SOLUTION.format(grade_id=meta["grade_id"])


# Tries to undo the sandbox: unmount what hides the course folder (its path is in the kernel's
# environment) and make the filesystem writable, then write into the course folder.
ESCAPE = '''\
import os as _os, subprocess as _sp
_course = _os.environ.get("COURSE_GRADING_ROOT", "")
for _cmd in (["umount", "-l", _course], ["mount", "-o", "remount,rw,bind", "/"],
             ["mount", "-o", "remount,rw,bind", _course], ["mount", "--bind", "/", "/mnt"]):
    try:
        _sp.run(_cmd, capture_output=True, timeout=10)
    except (OSError, _sp.SubprocessError):
        pass
for _target in (_os.path.join(_course, "PWNED.txt"), "/mnt" + _os.path.join(_course, "PWNED.txt")):
    try:
        open(_target, "w").write("escaped the sandbox")
    except OSError:
        pass
'''

# Code that changes how the kernel runs every later cell (and so every later test cell).
EMPTY_LATER_CELLS = """\
get_ipython().input_transformers_cleanup.append(lambda lines: [])  # later cells run nothing
"""

NO_TRACEBACK = """\
get_ipython().showtraceback = lambda *args, **kwargs: None  # errors print nothing
"""

_SWALLOW = """\
import ast as _ast


class _Swallow(_ast.NodeTransformer):
    \"\"\"Removes every assert, then runs {what} inside try/except Exception.\"\"\"
    def visit_Assert(self, node):
        return _ast.Pass()

    def visit_Module(self, node):
        self.generic_visit(node)
        handler = _ast.ExceptHandler(type=_ast.Name("Exception", _ast.Load()), name=None,
                                     body=[_ast.Pass()])
        groups = {groups}
        node.body = [_ast.Try(body=group, handlers=[handler], orelse=[], finalbody=[])
                     for group in groups if group]
        return _ast.fix_missing_locations(node)


get_ipython().ast_transformers.append(_Swallow())
"""
# Each statement on its own: every failure is skipped and the cell still reaches its end.
SWALLOW_EACH_STATEMENT = _SWALLOW.format(what="each top-level statement",
                                         groups="[[stmt] for stmt in node.body]")
# The whole cell at once: the first failure skips the rest of the cell.
SWALLOW_WHOLE_CELL = _SWALLOW.format(what="the whole cell", groups="[node.body]")


@dataclass
class Case:
    name: str
    broken: str = "none"          # which solution cells end up wrong: none | all | first | last
    fill: str = "all"             # which solution cells get the instructor's code: all | none | partial
    prefix: str = ""              # code put at the top of the broken cell
    edit: Callable | None = None  # final change to the notebook
    file: str = "notebook"        # notebook | missing | renamed | invalid_json | nbformat3
    restarts_kernel: bool = False  # the broken cell kills or hangs the kernel
    may_survive: bool = False     # ... or raises and leaves it running (either score is right)
    expect_zero: bool = False
    cheat: bool = False           # every solution stub returns an object equal to anything (CHEAT)
    prefix_at: int | None = None  # put `prefix` in this solution cell (index, -1: last), whatever `broken` says
    disables_later: bool = False  # the prefix stops every later cell from running: later tests 0
    replaces_library: bool = False  # the prefix replaces a library function: later tests 0 (guard.py)
    expect_full: bool = False     # the grader cannot tell: every test scores full marks
    flagged: bool = False         # the submission must be listed for review (sanitize.machinery_uses)
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _solution_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def _test_cells(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _drop_test(nb):
    tests = _test_cells(nb)
    nb.cells.remove(tests[0])


def _edit_tests_to_pass(nb):
    for cell in _test_cells(nb):
        cell.source = "pass"


def _drop_solution(nb):
    first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    nb.cells.remove(first)


def _reorder(nb):
    # Move every test cell to the end of the notebook, in reverse order.
    tests = _test_cells(nb)
    for cell in tests:
        nb.cells.remove(cell)
    nb.cells.extend(reversed(tests))


def _duplicate_ids(nb):
    first = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    twin = copy.deepcopy(first)
    nb.cells.insert(nb.cells.index(first) + 1, twin)


CHEATER = Case("cheater", fill="none", broken="all", expect_zero=True, cheat=True)

CASES = [
    Case("correct"),
    Case("stub", fill="none", broken="all", expect_zero=True),
    Case("partial", fill="partial"),
    Case("raises", broken="first", prefix=RAISE),
    Case("syntax_error", broken="first", prefix=SYNTAX_ERROR),
    Case("infinite_loop", broken="first", prefix=INFINITE_LOOP),
    Case("c_sleep", broken="last", prefix=C_SLEEP, restarts_kernel=True),
    Case("exit", broken="last", prefix=EXIT, restarts_kernel=True),
    Case("segfault", broken="last", prefix=SEGFAULT, restarts_kernel=True),
    # Under the memory limit the bomb either raises MemoryError or breaks the kernel (no memory
    # left for its threads): a test after it that does not need the broken cell scores either way.
    Case("memory_bomb", broken="last", prefix=MEMORY_BOMB, restarts_kernel=True, may_survive=True),
    Case("print_flood", prefix=FLOOD, broken="none"),
    Case("edited_tests", fill="none", broken="all", edit=_edit_tests_to_pass, expect_zero=True),
    Case("deleted_test", edit=_drop_test),
    Case("deleted_solution", broken="first", edit=_drop_solution),
    Case("reordered", edit=_reorder),
    Case("duplicate_ids", edit=_duplicate_ids),
    CHEATER,
    Case("patched_library", prefix=PATCH_LIBRARY, prefix_at=-1, broken="none", replaces_library=True,
         flagged=True),
    Case("tamper", prefix=TAMPER, broken="none"),
    Case("escape", prefix=ESCAPE, broken="none"),
    Case("read_solution", fill="none", broken="all", edit=_read_solutions, expect_zero=True,
         flagged=True),  # exec(
    Case("kernel_snoop", prefix=KERNEL_SNOOP, broken="none", flagged=True),  # get_ipython()
    Case("lingering", prefix=LINGER, broken="none"),
    Case("kill_parent", broken="last", prefix=KILL_PARENT, restarts_kernel=True),
    Case("renamed", file="renamed", broken="all", expect_zero=True),
    Case("missing", file="missing", broken="all", expect_zero=True),
    Case("invalid_json", file="invalid_json", broken="all", expect_zero=True),
    Case("old_nbformat", file="nbformat3"),
    # Changing how the kernel runs later cells. Every test cell must reach its last line and
    # show a random token (execute.py); these are all also flagged for review.
    # Later cells run nothing: no token, so every test after the second solution cell scores 0.
    Case("emptied_cells", prefix=EMPTY_LATER_CELLS, prefix_at=1, disables_later=True, flagged=True),
    # Silenced tracebacks: nbgrader still records the error from the kernel's reply, and the
    # failing tests never reach their token: the honest partial score.
    Case("no_traceback", fill="partial", prefix=NO_TRACEBACK, flagged=True),
    # A whole test cell in try/except: a failing test stops before its token: the honest score.
    Case("swallow_cell", fill="partial", prefix=SWALLOW_WHOLE_CELL, flagged=True),
    # Every statement in its own try/except, asserts removed: the stubs fail silently and every
    # test still reaches its token. The run-time check cannot see this: full marks, and only the
    # review flag catches it (a person must look at flags.csv).
    Case("swallow_each_statement", fill="none", prefix=SWALLOW_EACH_STATEMENT, expect_full=True,
         flagged=True),
]


def _prefix_target(case: Case, ids: list[str]) -> str:
    """The solution cell that gets `case.prefix` (the first one when no cell is broken)."""
    if case.prefix_at is not None:
        return ids[min(case.prefix_at, len(ids) - 1)]
    return {"first": ids[0], "last": ids[-1], "none": ids[0]}.get(case.broken)


def build(case: Case, release_nb, source_nb):
    """The submission for `case`: (file name relative to the assignment folder, bytes) or None."""
    nb = copy.deepcopy(release_nb)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    ids = _solution_ids(source_nb)
    fill = {"all": set(ids), "none": set(),
            "partial": set(source_nb.metadata["course"]["partial_sample"])}[case.fill]
    target = _prefix_target(case, ids)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in fill:
            cell.source = solutions[gid]
        if case.cheat and gid in ids:
            cell.source = CHEAT + "\n" + cell.source.replace("raise NotImplementedError()",
                                                             "return _Anything()")
        if case.prefix and gid == target:
            cell.source = case.prefix + cell.source
    if case.edit:
        case.edit(nb)
    return nb


def write(case: Case, release_nb, source_nb, folder, notebook_name: str) -> None:
    """Write the submission for `case` into `folder` (the student's assignment folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = build(case, release_nb, source_nb)
    target = folder / f"{notebook_name}.ipynb"
    if case.file == "missing":
        (folder / "notes.txt").write_text("I forgot to attach my notebook\n")
    elif case.file == "renamed":
        nbformat.write(nb, folder / f"{notebook_name}-Copy1.ipynb")
    elif case.file == "invalid_json":
        target.write_text(nbformat.writes(nb)[:-200] + "\n<<<<<<< merge conflict\n")
    elif case.file == "nbformat3":
        target.write_text(nbformat.writes(nbformat.convert(nb, 3), version=3))
    else:
        nbformat.write(nb, target)


def expected_scores(case: Case, source_nb) -> dict[str, float]:
    """{test grade_id: points the test must score} for `case`."""
    ids = _solution_ids(source_nb)
    tests = _test_cells(source_nb)
    if case.expect_zero:
        return {c.metadata["nbgrader"]["grade_id"]: 0.0 for c in tests}
    if case.expect_full:
        return {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in tests}
    good = {"all": set(ids), "none": set(),
            "partial": set(source_nb.metadata["course"]["partial_sample"])}[case.fill]
    broken = {"first": {ids[0]}, "last": {ids[-1]}, "none": set(), "all": set(ids)}[case.broken]
    good -= broken
    out = {}
    restart_at = None
    if case.restarts_kernel:
        restart_at = next(i for i, c in enumerate(source_nb.cells)
                          if c.metadata.get("nbgrader", {}).get("grade_id") in broken)
    if case.disables_later or case.replaces_library:
        target = _prefix_target(case, ids)
        restart_at = next(i for i, c in enumerate(source_nb.cells)
                          if c.metadata.get("nbgrader", {}).get("grade_id") == target)
    for cell in tests:
        gid = cell.metadata["nbgrader"]["grade_id"]
        ok = set(cell.metadata["course"]["needs"]) <= good
        if restart_at is not None and source_nb.cells.index(cell) > restart_at:
            ok = False  # the kernel was restarted or disabled: later cells did not run
        out[gid] = cell.metadata["nbgrader"]["points"] if ok else 0.0
    return out


# Cases whose expected score depends on the notebook's own structure (which cells test what,
# in which order): tests/test_hostile_per_assignment.py grades these for every assignment. The
# rest test the grading machinery, the same for every notebook (tests/test_hostile.py).
# ("partial" and "cheater" are graded per assignment anyway, as sample_partial and sample_cheat.)
STRUCTURAL = ("edited_tests", "deleted_test", "deleted_solution", "reordered", "duplicate_ids",
              "patched_library", "old_nbformat")


def acceptable_scores(case: Case, source_nb) -> list[dict[str, float]]:
    """The scores `case` may get: expected_scores, and for a kernel that may survive the broken
    cell, also the scores of the cell simply failing."""
    out = [expected_scores(case, source_nb)]
    if case.may_survive:
        out.append(expected_scores(dataclasses.replace(case, restarts_kernel=False), source_nb))
    return out


def write_cases(course, name: str, cases: list[Case], students: list[str] | None = None):
    """Write each case's submission of the released assignment `name` (student = the case's
    name, or the matching entry of `students`); returns the instructor's notebook, which
    expected_scores reads."""
    from . import pipeline

    source = pipeline.source_notebook(course, name)
    released = nbformat.read(course / "release" / name / f"{name}.ipynb", 4)
    for case, student in zip(cases, students or [c.name for c in cases], strict=True):
        write(case, released, source, course / "submitted" / student / name, name)
    return source


def run_batch(course, names: list[str], cases: list[Case] | None = None, timeout: int | None = None,
              jobs: int = 1, skip_demos: bool = False) -> dict[str, dict[str, tuple[list, dict, str]]]:
    """Release `names` into `course`, write one submission per case (student = case name), grade
    them all in one batch. Returns {assignment: {case: (acceptable scores, scores, grading error)}}.
    """
    from pathlib import Path

    from . import pipeline

    course = Path(course)
    cases = CASES if cases is None else cases
    pipeline.release(course, names)
    sources = {name: write_cases(course, name, cases) for name in names}
    failures = pipeline.autograde(course, names, students=[c.name for c in cases], timeout=timeout,
                                  jobs=jobs, skip_demos=skip_demos)
    out = {}
    for name in names:
        scores = pipeline.cell_scores(course, name)
        out[name] = {case.name: (acceptable_scores(case, sources[name]),
                                 {k: s for k, (s, _) in scores.get(case.name, {}).items()},
                                 failures.get(name, {}).get(case.name, ""))
                     for case in cases}
    return out


def mismatches(results: dict[str, dict[str, tuple[list, dict, str]]]) -> list[str]:
    """Readable lines for every case of `run_batch`'s results that did not get its exact score.

    A submission that could not be graded at all (missing, renamed, not JSON) must score 0 everywhere
    (nbgrader may record an empty submission or none)."""
    lines = []
    for name, cases in results.items():
        for case, (acceptable, got, error) in cases.items():
            expected = acceptable[0]
            if error:
                if any(got.values()) or any(expected.values()):
                    lines.append(f"{name} / {case}: not graded ({error}) but expected {expected}")
            elif got not in acceptable:
                wrong = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
                lines.append(f"{name} / {case}: (got, expected) {wrong}")
    return lines
