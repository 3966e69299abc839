"""The hostile cases whose expected score depends on the notebook itself, for every assignment.

test_hostile.py grades all of hostile.CASES on one assignment: crashes, hangs, floods and escapes
test the grading machinery, the same for every notebook. Edited, deleted and reordered cells,
duplicated ids, an old notebook format and a replaced library function are scored through each
notebook's own cells, so they are graded here for every assignment, in one batch each.
(`python -m autograder hostile` grades all the cases for any assignment.)
"""
from __future__ import annotations

import nbformat
import pytest

from autograder import hostile, pipeline

CASES = [c for c in hostile.CASES if c.name in hostile.STRUCTURAL]


@pytest.mark.parametrize(
    "name", [pytest.param(a, id=a, marks=pytest.mark.xdist_group(f"grade-{a}")) for a in pipeline.assignments()])
def test_structural_cases_get_their_exact_scores(name, tmp_path):
    assert {c.name for c in CASES} == set(hostile.STRUCTURAL), "a STRUCTURAL name matches no case"
    course = tmp_path / "course"
    results = hostile.run_batch(course, [name], cases=CASES, skip_demos=True)
    assert all(any(acceptable[0].values()) for case, (acceptable, _, _) in results[name].items()
               if case not in ("edited_tests", "deleted_solution")), \
        "cases with honest answers keep some points: a batch of zeros would prove little"
    wrong = hostile.mismatches(results)
    assert not wrong, "\n".join(wrong)
    # The tests after the replaced function passed, and only the check took their points
    # (LibraryReplaced is given to a test that ran to its end without an error; guard.py).
    expected = results[name]["patched_library"][0][0]
    graded = nbformat.read(course / "autograded" / "patched_library" / name / f"{name}.ipynb", 4)
    for cell in graded.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if expected.get(gid) == 0:
            assert [o.get("ename") for o in cell.outputs if o.get("output_type") == "error"] == ["LibraryReplaced"], gid
