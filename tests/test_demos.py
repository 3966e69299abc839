"""Which demonstration cells `grade --skip-demos` may leave out (autograder/demos.py).

The rule must never leave out a cell that something run later could depend on; these cases
are built so that each would change a grade if it got that wrong."""
from __future__ import annotations

import nbformat

from autograder import demos


def code(source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


SETUP = "import numpy as np\nphoto = np.ones((4, 4))"
DEMO_FIGURE = "fig = np.fft.fft2(photo)\nfor k in range(3):\n    print(k, fig.sum())"
DEMO_TABLE = "table = {n: n ** 2 for n in range(4)}"
DEMO_USES_TABLE = "rows = [table[k] for k in table]\nprint(rows)"
SOLUTION = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
TEST = "assert double(2) == 4"


def skipped(cells, demo_cells=(DEMO_FIGURE, DEMO_TABLE, DEMO_USES_TABLE)):
    return demos.skippable(cells, set(demo_cells))


def test_unused_demos_are_left_out_and_nothing_else():
    cells = [code(SETUP), code(DEMO_FIGURE), code(SOLUTION, grade_id="sol", solution=True),
             code(DEMO_TABLE), code(DEMO_USES_TABLE), code(TEST, grade_id="t", grade=True)]
    assert skipped(cells) == {1, 3, 4}


def test_a_demo_whose_names_a_later_cell_reads_runs():
    # The student's own solution reads `table`, which only the demo defines.
    student = "def double(x):\n    return 2 * x + 0 * len(table)"
    cells = [code(SETUP), code(DEMO_TABLE), code(student, grade_id="sol", solution=True),
             code(TEST, grade_id="t", grade=True)]
    assert skipped(cells) == set()


def test_a_chain_of_demos_runs_as_a_whole_when_its_end_runs():
    changed = DEMO_USES_TABLE + "\nanswer = 42"  # the student edited the later demo
    cells = [code(DEMO_TABLE), code(changed), code("print(answer)")]
    assert skipped(cells) == set(), "the edited demo runs, so the demo it reads runs too"
    cells = [code(DEMO_TABLE), code(DEMO_USES_TABLE), code("print('done')")]
    assert skipped(cells) == {0, 1}


def test_an_edited_demo_runs():
    cells = [code(SETUP), code(DEMO_FIGURE + "\n# my notes"), code(TEST, grade_id="t", grade=True)]
    assert skipped(cells) == set()


def test_dynamic_name_access_later_keeps_every_demo_before_it():
    for later in ("print(globals()['table'])", "print(eval('table'))", "import sys\nsys.modules['__main__']",
                  "%who", "x = getattr(__import__('__main__'), 'table')", "def f(:"):
        cells = [code(DEMO_TABLE), code(later)]
        assert skipped(cells) == set(), later
    # ... but a demo after it may still be left out
    assert skipped([code("print(globals())"), code(DEMO_TABLE)]) == {1}


def test_namespaces_reached_through_attributes_count_but_an_objects_name_does_not():
    for later in ("def f():\n    pass\nprint(sorted(f.__globals__))", "import sys\nprint(sys._getframe().f_globals)",
                  "import inspect\nprint(inspect.currentframe().f_locals)", "print(get_ipython().user_ns)",
                  "import importlib\nprint(dir(importlib.import_module(__name__)))"):
        assert skipped([code(DEMO_TABLE), code(later)]) == set(), later
    names = "x = 1.5\nassert isinstance(x, float), f'got {type(x).__name__}'"
    assert skipped([code(DEMO_TABLE), code(names)]) == {0}


def test_a_name_in_a_string_counts_as_read():
    cells = [code(DEMO_TABLE), code("value = getattr(results, 'table')")]
    assert skipped(cells) == set()


def test_graded_cells_are_never_left_out_even_with_a_demos_code():
    cells = [code(DEMO_TABLE, grade_id="t", grade=True, locked=True)]
    assert skipped(cells) == set()


def test_names_read_only_after_the_cell_binds_them_do_not_count():
    # `k` and `n` are bound by these cells before they are read: the demos' `k`/`n` are not needed.
    later = "for k in range(2):\n    print(k)\nn = 3\nprint(n)\ndef f(fig):\n    return fig\n[m for m in range(2)]"
    cells = [code(SETUP), code(DEMO_FIGURE), code(later)]
    assert skipped(cells) == {1}
    # ... but read before binding, or inside a function as a global, they do.
    for later in ("print(k)\nk = 1", "def g():\n    return fig", "fig = fig + 1", "x = [fig for _ in range(2)]"):
        assert skipped([code(SETUP), code(DEMO_FIGURE), code(later)]) == set(), later


def test_bound_and_used_names():
    assert demos.bound_names("import numpy as np, os.path\nfrom a import b as c\nx, (y, z) = 1, (2, 3)\n"
                             "for i in range(3):\n    k = i\ndef f(q):\n    w = 1\nclass C:\n    pass\n"
                             "with open('f') as fh:\n    pass") == {
        "np", "os", "c", "x", "y", "z", "i", "k", "f", "C", "fh"}
    assert demos.used_names("print(globals())") is None
    assert demos.used_names("def f(:") is None
    assert demos.used_names("y = x + 1\nprint(y)") == {"x", "print"}


def test_demo_sources_of_a_file_are_read_again_when_it_changes(tmp_path):
    def demo(source):
        cell = code(source)
        cell.metadata["course"] = {"demo": True}
        return cell

    path = tmp_path / "source.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[code(SETUP), demo(DEMO_TABLE)]), path)
    assert demos.demo_sources_in(path) == {DEMO_TABLE}
    nbformat.write(nbformat.v4.new_notebook(cells=[demo(DEMO_FIGURE), demo(DEMO_USES_TABLE)]), path)
    assert demos.demo_sources_in(path) == {DEMO_FIGURE, DEMO_USES_TABLE}
