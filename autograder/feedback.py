"""Feedback that never shows hidden tests.

nbgrader's feedback HTML is made from the autograded notebook, whose test cells
hold the hidden tests again, and IPython tracebacks quote the failing line. This
preprocessor, run by `nbgrader generate_feedback` (see nbgrader_config.py), cuts
the hidden region out of every grade cell and shortens the tracebacks of grade
cells to one readable line: the error's type and message.
"""
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader import utils

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
PLACEHOLDER = "# (hidden tests run here; they are not shown)"


def strip_hidden(source: str) -> str:
    """Replace every BEGIN/END HIDDEN TESTS region of `source` with one placeholder line."""
    out, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + PLACEHOLDER)
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            out.append(line)
    return "\n".join(out)


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from grade cells and their tracebacks."""

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            cell.source = strip_hidden(cell.source)
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
                    output["traceback"] = [message]
        return cell, resources
