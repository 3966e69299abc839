"""Every assignment, graded for real by nbgrader (one shared run per assignment)."""
from __future__ import annotations

import csv
import json
import re

import nbformat

from autograder import leaks, pipeline


def grade_cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def test_instructor_notebook_scores_full_marks(graded):
    cells = graded.scores["sample_solution"]
    assert set(cells) == set(grade_cells(graded.source)), "every test cell was graded"
    short = {k: v for k, v in cells.items() if v[0] != v[1]}
    assert not short, f"{graded.name}: instructor solution lost points in {short}"


def test_instructor_notebook_runs_without_errors(graded):
    nb = nbformat.read(graded.course / "autograded" / "sample_solution" / graded.name
                       / f"{graded.name}.ipynb", as_version=4)
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, f"{graded.name}: cells raised while grading the solution: {errors}"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _autograded(graded, student):
    return nbformat.read(graded.course / "autograded" / student / graded.name
                         / f"{graded.name}.ipynb", as_version=4)


def test_student_version_runs_to_the_first_exercise_with_a_readable_error(graded):
    """What a student sees on Run All of the released notebook (graded as sample_stub): every
    cell before the first exercise runs cleanly, and the first error is a NotImplementedError
    whose traceback names the function or class the student has to write."""
    nb = _autograded(graded, "sample_stub")
    errors = [(i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors, f"{graded.name}: the untouched student version raised nothing"
    index, error = errors[0]
    assert error.ename == "NotImplementedError", (
        f"{graded.name}: cell {index} fails with {error.ename}: {error.evalue} before any exercise")
    defined = set()
    for cell in nb.cells[:index + 1]:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            defined |= set(re.findall(r"^\s*(?:def|class)\s+(\w+)", cell.source, re.M))
    assert defined, f"{graded.name}: no exercise (solution cell) comes before cell {index}"
    traceback = ANSI.sub("", "\n".join(error.traceback))
    assert any(re.search(rf"\bin {name}\b|\bin {name}\.", traceback) for name in defined), (
        f"{graded.name}: the first error does not name the exercise ({sorted(defined)}):\n{traceback[-800:]}")


def test_every_figure_renders(graded):
    """In the instructor notebook, every matplotlib figure came out as an image (a figure that
    failed to render leaves only its '<Figure size …>' text)."""
    nb = _autograded(graded, "sample_solution")
    figures = blank = 0
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if str(data.get("text/plain", "")).startswith("<Figure"):
                figures += 1
                blank += "image/png" not in data
    assert blank == 0, f"{graded.name}: {blank} of {figures} figures have no image"


def test_untouched_stub_scores_zero_on_every_cell(graded):
    cells = graded.scores["sample_stub"]
    assert cells and set(cells) == set(grade_cells(graded.source))
    scored = {k: v for k, v in cells.items() if v[0] != 0}
    assert not scored, f"{graded.name}: a test cell passes on the empty stub (it checks nothing): {scored}"
    assert all(m > 0 for _, m in cells.values())


def test_cheating_submission_scores_zero_on_every_cell(graded):
    """Wrong answers that patch numpy.testing, np.allclose and source_lib.checks to always
    pass, and return objects equal to anything (autograder/hostile.py CHEAT), get nothing:
    the hidden tests do not rely on anything a student cell can replace."""
    cells = graded.scores["sample_cheat"]
    assert set(cells) == set(grade_cells(graded.source))
    fooled = {k: v for k, v in cells.items() if v[0] != 0}
    assert not fooled, f"{graded.name}: the cheat earned points in {fooled}"


def test_partly_correct_submission_gets_exact_partial_score(graded):
    filled = set(graded.source.metadata["course"]["partial_sample"])
    assert filled, f"{graded.name}: the [config] line must name a partial= set"
    cells = graded.scores["sample_partial"]
    for gid, cell in grade_cells(graded.source).items():
        needs = set(cell.metadata["course"]["needs"])
        score, max_score = cells[gid]
        expected = max_score if needs <= filled else 0.0
        assert score == expected, f"{graded.name}: {gid} scored {score}, expected {expected} (needs {needs})"
    total = sum(s for s, _ in cells.values())
    assert total == pipeline.expected_partial_score(graded.source)
    assert 0 < total < sum(m for _, m in cells.values())


def test_release_contains_no_solution_or_hidden_test(graded):
    secrets = leaks.secret_lines(graded.source)
    assert secrets, "the leak check found no solution or hidden lines to look for"
    # The check works: the instructor source does contain them.
    assert leaks.find_leaks(graded.course / "source" / graded.name, secrets)
    for place in [graded.course / "release" / graded.name,
                  graded.course / "downloads" / f"{graded.name}.zip",
                  graded.course / "downloads" / f"{graded.name}.ipynb"]:
        found = leaks.find_leaks(place, secrets)
        assert not found, f"solution/hidden text in the student release: {found[:3]}"
    released = nbformat.read(graded.course / "release" / graded.name / f"{graded.name}.ipynb", 4)
    assert "BEGIN SOLUTION" not in nbformat.writes(released)
    assert "HIDDEN TESTS" not in nbformat.writes(released)
    assert not list((graded.course / "release" / graded.name).rglob("*.src.py"))


def test_feedback_exists_and_hides_hidden_tests(graded):
    hidden = leaks.secret_lines(graded.source, kinds=("hidden",))
    assert hidden, "every assignment has hidden tests"
    autograded = graded.course / "autograded" / "sample_solution" / graded.name
    assert leaks.find_leaks(autograded, hidden), "the leak check must see hidden tests in autograded/"
    for student in pipeline.SAMPLES:
        page = graded.course / "feedback" / student / graded.name / f"{graded.name}.html"
        assert page.is_file(), f"no feedback for {student}"
        found = leaks.find_leaks(page, hidden)
        assert not found, f"hidden tests in {student}'s feedback: {found[:3]}"
        text = leaks.as_text(page.read_text(encoding="utf-8"))
        assert "BEGIN HIDDEN TESTS" not in text
    stub = leaks.as_text((graded.course / "feedback" / "sample_stub" / graded.name
                          / f"{graded.name}.html").read_text(encoding="utf-8"))
    assert "NotImplementedError" in stub, "the stub's feedback says why it scored 0"


def test_grades_csv_and_scores(graded):
    rows = list(csv.DictReader(open(graded.csv, newline="")))
    ours = {r["student_id"]: r for r in rows if r["assignment"] == graded.name}
    assert set(ours) == set(pipeline.SAMPLES)
    max_score = sum(m for _, m in graded.scores["sample_solution"].values())
    assert float(ours["sample_solution"]["score"]) == max_score
    assert float(ours["sample_stub"]["score"]) == 0
    assert float(ours["sample_partial"]["score"]) == pipeline.expected_partial_score(graded.source)
    assert json.loads((graded.course / "scores.json").read_text())[graded.name] is not None


def test_regrading_gives_the_same_grades_and_keeps_submissions(graded):
    before = pipeline.tree_digest(graded.course / "submitted")
    pipeline.autograde(graded.course, [graded.name], students=["sample_partial"])
    assert pipeline.tree_digest(graded.course / "submitted") == before, "grading changed a submission"
    again = pipeline.cell_scores(graded.course, graded.name)
    assert again == graded.scores


def test_skipping_demos_keeps_every_grade(graded):
    """`grade --skip-demos` (autograder/demos.py) leaves out demonstration cells and nothing else:
    the instructor notebook still gets full marks and the partly-correct one its exact score."""
    import shutil

    from nbgrader.api import Gradebook

    from autograder import demos

    pairs = {"skip_solution": "sample_solution", "skip_partial": "sample_partial"}
    submitted = graded.course / "submitted"
    try:
        for new, old in pairs.items():
            shutil.copytree(submitted / old, submitted / new)
        pipeline.autograde(graded.course, [graded.name], students=sorted(pairs), skip_demos=True)
        scores = pipeline.cell_scores(graded.course, graded.name)
        for new, old in pairs.items():
            assert scores[new] == graded.scores[old], f"{new}: skipping demos changed the grade"
        nb = _autograded(graded, "skip_solution")
        notes = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and any(demos.NOTE in o.get("text", "") for o in c.outputs)]
        marked = [i for i, c in enumerate(graded.source.cells)
                  if c.metadata.get("course", {}).get("demo")]
        assert notes == marked, "exactly the instructor's [demo] cells were left out"
    finally:
        with Gradebook(f"sqlite:///{graded.course / 'gradebook.db'}") as gb:
            for new in pairs:
                try:
                    gb.remove_submission(graded.name, new)
                except Exception:  # noqa: BLE001 - never graded
                    pass
        for new in pairs:
            for folder in ("submitted", "autograded"):
                shutil.rmtree(graded.course / folder / new, ignore_errors=True)
