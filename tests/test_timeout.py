"""The per-assignment cell timeout reaches nbgrader and is honoured, with warm kernels (the
default, autograder/warm.py) and with a fresh kernel per submission (COURSE_GRADING_WARM=0)."""
from __future__ import annotations

import time

import pytest

from autograder import notebook_source, pipeline

SOURCE = """\
# %% [config] timeout=5 partial=tmo_fast
# %% [solution] id=tmo_slow
import time
time.sleep(60)
def slow():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
# %% [tests] id=tmo_slow_test points=1 needs=tmo_slow
assert slow() == 1
### BEGIN HIDDEN TESTS
assert slow() + 0 == 1, "hidden: slow"
### END HIDDEN TESTS
# %% [solution] id=tmo_fast
def fast():
    ### BEGIN SOLUTION
    return 2
    ### END SOLUTION
# %% [tests] id=tmo_fast_test points=1 needs=tmo_fast
assert fast() == 2
### BEGIN HIDDEN TESTS
assert fast() * 1 == 2, "hidden: fast"
### END HIDDEN TESTS
"""


@pytest.mark.xdist_group("timeout")
@pytest.mark.parametrize("warm", [True, False], ids=["warm-kernel", "fresh-kernel"])
def test_cell_timeout_is_honoured_and_later_cells_still_graded(tmp_path, warm):
    notebooks = tmp_path / "notebooks"
    (notebooks / "tmo").mkdir(parents=True)
    (notebooks / "tmo" / "tmo.src.py").write_text(SOURCE)
    notebook_source.write_notebooks(notebooks)
    course = tmp_path / "course"
    pipeline.release(course, ["tmo"], notebooks_dir=notebooks)
    pipeline.write_samples(course, ["tmo"])
    start = time.perf_counter()
    pipeline.autograde(course, ["tmo"], students=["sample_solution"], warm=warm)
    elapsed = time.perf_counter() - start
    scores = pipeline.cell_scores(course, "tmo")["sample_solution"]
    # The cell sleeping 60 s was interrupted after 5 s (nbgrader's default would be 30 s) ...
    assert elapsed < 30, f"grading took {elapsed:.0f} s: the 5 s timeout was not applied"
    # ... so `slow` was never defined and its test scores 0, while the cells after the
    # timeout still ran and were graded.
    assert scores == {"tmo_slow_test": (0.0, 1.0), "tmo_fast_test": (1.0, 1.0)}
