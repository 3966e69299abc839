"""The run-to-the-end token of autograder/execute.py on a tiny notebook (one plain kernel, seconds).

The hostile batch (test_hostile.py) proves the scores through nbgrader; this proves the
mechanics: where the token line goes, that honest test cells keep their outputs and sources,
and that a cell changed by an earlier input transformer gets a GradingError.
"""
from __future__ import annotations

import ast

import nbformat
import pytest

from autograder import execute

STATEMENT = execute.token_statement("ab12")


def _lines(source):
    return execute.with_token(source, STATEMENT).splitlines()


@pytest.mark.parametrize("source, expected", [
    ("assert x == 1", ["assert x == 1", STATEMENT]),
    ("for i in range(3):\n    assert i < 3", ["for i in range(3):", "    assert i < 3", STATEMENT]),
    ("assert x  # a comment ending with a backslash \\", ["assert x  # a comment ending with a backslash \\", STATEMENT]),
    ("x = 1\nx + 1\n", ["x = 1", STATEMENT, "x + 1"]),                  # keeps the displayed value
    ("\n\nx = 1\nf(x,\n  2)  # c\n# end\n", ["", "", "x = 1", STATEMENT, "f(x,", "  2)  # c", "# end"]),
    ("x = 1\nx;", ["x = 1", STATEMENT, "x;"]),
    ("%time y = 2\ny", ["%time y = 2", STATEMENT, "y"]),
    ("%%time\nx = 1\nx", ["%%time", "x = 1", "x", STATEMENT]),          # a cell magic: at the end
    ("  x = 1\n  x", ["  x = 1", "  x", STATEMENT]),                    # indented cell: at the end
    ("def broken(:\n    pass", ["def broken(:", "    pass", STATEMENT]),
])
def test_the_token_line_goes_after_the_code_at_top_level(source, expected):
    assert _lines(source) == expected


def test_the_token_statement_is_one_python_line():
    assert len(STATEMENT.splitlines()) == 1
    ast.parse(STATEMENT)


def _test_cell(source, gid):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True,
                                 "grade_id": gid, "points": 1, "schema_version": 3}
    return cell


def test_honest_cells_keep_outputs_and_sources_and_emptied_cells_score_zero(tmp_path):
    cells = [
        _test_cell("x = 1\nprint('checked')\nx + 1", "shows_value"),
        _test_cell("assert 1 == 2, 'a real failure'\ny = 3", "fails"),
        _test_cell("if True:\n    z = 1", "ends_indented"),
        _test_cell("import sys, os\nsys.stdout = open(os.devnull, 'w')  # output hidden, test still counts", "quiet"),
        nbformat.v4.new_code_cell("get_ipython().input_transformers_cleanup.append(lambda lines: [])"),
        _test_cell("assert False", "emptied"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    sources = [c.source for c in nb.cells]
    ep = execute.ResilientExecute(timeout=60, kernel_name="python3")
    nb, _ = ep.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert [c.source for c in nb.cells] == sources
    text = nbformat.writes(nb)
    assert execute.TOKEN_MIME not in text and "__import__(\\\"IPython\\\")" not in text
    shows, fails, indented, quiet, _, emptied = nb.cells
    assert [o.output_type for o in shows.outputs] == ["stream", "execute_result"]
    assert shows.outputs[1].data["text/plain"] == "2"
    assert [o.get("ename") for o in fails.outputs] == ["AssertionError"]
    assert "a real failure" in "".join(fails.outputs[0].traceback)
    assert indented.outputs == [] and quiet.outputs == []
    assert [(o.ename, o.evalue) for o in emptied.outputs] == [("GradingError", execute.NOT_RUN_TO_END)]


def test_a_missing_token_replaces_outputs_with_a_grading_error():
    cell = _test_cell("assert x", "t")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✔ looks fine\n")]
    assert not execute.settle_token(cell, "ff00")
    assert [o.ename for o in cell.outputs] == ["GradingError"]
    cell.outputs = [nbformat.v4.new_output("display_data", data={execute.TOKEN_MIME: "ff00"})]
    assert execute.settle_token(cell, "ff00") and cell.outputs == []
    cell.outputs = [nbformat.v4.new_output("display_data", data={execute.TOKEN_MIME: "forged"})]
    assert not execute.settle_token(cell, "ff00")


def test_kernels_start_with_the_quick_ready_client_and_the_first_output_arrives(tmp_path, monkeypatch):
    """QuickReadyClient skips jupyter_client's 0.2 s wait for a quiet IOPub: the first cell's
    output must still be caught (IOPub is connected before the first request)."""
    used = []
    wait = execute.QuickReadyClient.wait_for_ready

    async def recording(self, timeout=None):
        used.append(type(self))
        return await wait(self, timeout)

    monkeypatch.setattr(execute.QuickReadyClient, "wait_for_ready", recording)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('first')"),
                                         _test_cell("print('second')", "t")])
    nb, _ = execute.ResilientExecute(timeout=60, kernel_name="python3").preprocess(
        nb, {"metadata": {"path": str(tmp_path)}})
    assert used == [execute.QuickReadyClient]
    assert [o.get("text") for o in nb.cells[0].outputs] == ["first\n"]
    assert [o.get("text") for o in nb.cells[1].outputs] == ["second\n"]
