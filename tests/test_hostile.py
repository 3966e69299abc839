"""Submissions that try to break grading, graded in one batch with honest ones.

The batch uses the preprocessing assignment (the quickest to grade); what is checked is
the grading machinery, which every assignment shares. The cheating case also runs for
every assignment in test_grading.py (sample_cheat), since hidden tests are per chapter.
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from jupyter_core.paths import jupyter_runtime_dir

from autograder import execute, hostile, leaks, pipeline, sandbox

ASSIGNMENT = "preprocessing"
CELL_TIMEOUT = 20  # seconds; the slowest honest cell of this notebook takes a few
pytestmark = pytest.mark.xdist_group("hostile")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = tmp_path_factory.mktemp("hostile-course")
    pipeline.release(course, [ASSIGNMENT])
    source = hostile.write_cases(course, ASSIGNMENT, hostile.CASES)
    # Decoy connection files where the grader keeps its kernels' (another student graded at the
    # same time) and in this user's own Jupyter runtime folder (the instructor's own kernels):
    # the kernel_snoop case must find neither.
    decoys = [Path(pipeline.grading_env(course)["JUPYTER_RUNTIME_DIR"]) / "kernel-decoy.json",
              Path(jupyter_runtime_dir()) / f"kernel-course-test-decoy-{os.getpid()}.json"]
    for decoy in decoys:
        decoy.parent.mkdir(parents=True, exist_ok=True)
        decoy.write_text(json.dumps({"key": "decoy", "shell_port": 1}))
    before = pipeline.tree_digest(course / "submitted")
    start = time.perf_counter()
    failures = pipeline.autograde(course, [ASSIGNMENT], timeout=CELL_TIMEOUT)
    seconds = time.perf_counter() - start
    pipeline.feedback(course, [ASSIGNMENT])
    csv_path = pipeline.export(course)
    time.sleep(10)  # give a process left behind by a submission time to act (see TAMPER)
    for decoy in decoys:
        decoy.unlink(missing_ok=True)
    return SimpleNamespace(course=course, source=source, failures=failures.get(ASSIGNMENT, {}),
                           scores=pipeline.cell_scores(course, ASSIGNMENT), before=before,
                           csv=csv_path, seconds=seconds,
                           flags=pipeline.review_flags(course).get(ASSIGNMENT, {}))


def test_sandbox_is_available():
    assert sandbox.bwrap_path(), ("bubblewrap is not installed: grading runs without the "
                                  "filesystem sandbox. Install it: apt-get install bubblewrap")


@pytest.mark.parametrize("case", hostile.CASES, ids=lambda c: c.name)
def test_each_submission_gets_exactly_its_score(batch, case):
    got = {k: s for k, (s, _) in batch.scores.get(case.name, {}).items()}
    result = (hostile.acceptable_scores(case, batch.source), got, batch.failures.get(case.name, ""))
    wrong = hostile.mismatches({ASSIGNMENT: {case.name: result}})
    assert not wrong, wrong


def test_only_unreadable_submissions_fail_to_grade(batch):
    assert set(batch.failures) == {"renamed", "missing", "invalid_json"}
    assert "preprocessing-Copy1.ipynb" in batch.failures["renamed"]
    assert "not a readable notebook" in batch.failures["invalid_json"]
    for student, reason in batch.failures.items():
        page = batch.course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert reason.split(" (")[0] in leaks.as_text(page.read_text()), f"{student}'s feedback says why"


def test_every_student_has_a_row_in_the_grades_csv(batch):
    rows = {r["student_id"]: r for r in csv.DictReader(open(batch.csv, newline=""))}
    for case in hostile.CASES:
        totals = [sum(scores.values()) for scores in hostile.acceptable_scores(case, batch.source)]
        assert float(rows[case.name]["score"]) in totals, case.name


def test_grading_never_changes_a_submission(batch):
    assert pipeline.tree_digest(batch.course / "submitted") == batch.before


def test_tampering_reaches_nothing_outside_the_submission(batch):
    assert not (batch.course / "PWNED.txt").exists(), "a submission wrote into the course folder"
    assert not (batch.course / "LATE.txt").exists(), "a process left behind wrote into the course folder"
    assert (batch.course / "gradebook.db").read_bytes().startswith(b"SQLite format 3")
    for folder in ("source", "release"):
        for nb in (batch.course / folder).rglob("*.ipynb"):
            assert nb.read_text() != "{}", f"{nb} was overwritten"


def test_the_batch_ran_in_warm_kernels(batch):
    # The other tests hold for warm kernels (warm.py, the default) only if they were used.
    log = (batch.course / "pipeline.log").read_text(errors="replace")
    assert "warm kernels: template ready" in log and "grading with a fresh kernel" not in log


def test_the_log_keeps_to_nbgraders_level(batch):
    # at DEBUG, every kernel message's content went into pipeline.log (~0.3 MB a submission)
    log = (batch.course / "pipeline.log").read_text(errors="replace")
    assert "[INFO]" in log and "[DEBUG]" not in log


def test_nothing_a_submission_leaves_running_reaches_the_next_one(batch):
    seen = sorted(p.relative_to(batch.course) for p in (batch.course / "autograded").rglob(hostile.LINGER_FILE))
    assert all(p.parts[1] == "lingering" for p in seen), f"a process outlived its kernel: {seen}"
    assert not list((batch.course / "source").rglob(hostile.LINGER_FILE))


def test_hidden_tests_stay_out_of_every_feedback_page(batch):
    hidden = leaks.secret_lines(batch.source, kinds=("hidden",))
    found = leaks.find_leaks(batch.course / "feedback", hidden)
    assert not found, found[:3]


def test_output_flood_is_truncated(batch):
    graded = batch.course / "autograded" / "print_flood" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert graded.stat().st_size < 2 * 2**20, f"{graded.stat().st_size} bytes stored"
    assert "truncated" in graded.read_text()


def test_hung_and_crashed_kernels_are_reported_in_the_cell(batch):
    for case, enames in [("c_sleep", {"CellTimeoutError"}), ("exit", {"KernelDied"}),
                         ("segfault", {"KernelDied"}), ("kill_parent", {"KernelDied"}),
                         ("infinite_loop", {"KeyboardInterrupt"}),
                         ("memory_bomb", {"MemoryError", "KernelDied", "KernelFailed"})]:
        nb = nbformat.read(batch.course / "autograded" / case / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
        names = {o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.outputs}
        assert enames & names, f"{case}: expected one of {enames} in some cell, saw {names - {None}}"
        # ... and the student reads it in the feedback page too.
        page = leaks.as_text((batch.course / "feedback" / case / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
        assert any(name in page for name in enames & names), f"{case}: the feedback does not say {enames & names}"


def _graded(batch, student):
    return nbformat.read(batch.course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)


def test_submissions_that_reach_into_the_kernel_are_listed_for_review(batch):
    assert set(batch.flags) == {c.name for c in hostile.CASES if c.flagged}, batch.flags
    assert "input_transformers" in batch.flags["emptied_cells"]
    assert "ast_transformers" in batch.flags["swallow_each_statement"]
    rows = list(csv.DictReader(open(batch.course / pipeline.REVIEW_FILE, newline="")))
    assert {r["student_id"] for r in rows} == set(batch.flags)


def test_tests_that_did_not_run_to_their_end_score_zero_and_say_why(batch):
    for student in ("emptied_cells", "swallow_cell"):
        scores = {k: s for k, (s, _) in batch.scores[student].items()}
        for cell in _graded(batch, student).cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in scores and scores[gid] == 0:
                names = [o.get("ename") for o in cell.outputs]
                assert "GradingError" in names, f"{student} / {gid}: {names}"


def test_the_token_line_never_reaches_a_stored_notebook_or_feedback(batch):
    tests = {c.metadata["nbgrader"]["grade_id"]: c.source for c in batch.source.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    graded = {c.metadata["nbgrader"]["grade_id"]: c.source for c in _graded(batch, "correct").cells
              if c.metadata.get("nbgrader", {}).get("grade_id") in tests}
    assert graded == tests, "test cells must be stored exactly as the instructor wrote them"
    for folder in ("autograded", "feedback"):
        for path in (batch.course / folder).rglob("*"):
            if path.suffix in (".ipynb", ".html"):
                assert execute.TOKEN_MIME not in path.read_text(errors="replace"), path


def test_tests_after_a_replaced_library_function_score_zero_and_say_what(batch):
    scores = {k: s for k, (s, _) in batch.scores["patched_library"].items()}
    zeroed = [gid for gid, s in scores.items() if s == 0]
    assert zeroed, "patched_library: the check zeroed no test"
    for cell in _graded(batch, "patched_library").cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in zeroed:
            errors = [o for o in cell.outputs if o.get("output_type") == "error"]
            assert [o.get("ename") for o in errors] == ["LibraryReplaced"], f"{gid}: {errors}"
            assert "numpy.testing.assert_allclose" in errors[0]["evalue"]
    page = leaks.as_text((batch.course / "feedback" / "patched_library" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
    assert "numpy.testing.assert_allclose" in page and "LibraryReplaced" in page
    assert "replaced-libraries" in batch.flags["patched_library"]
