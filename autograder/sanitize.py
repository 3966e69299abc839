"""Sanitizing a submission before it runs: duplicated cells.

nbgrader's DeduplicateIds keeps the last cell of a duplicated grade id and empties the
`nbgrader` metadata of the others; OverwriteCells then fails on those empty entries
(KeyError 'grade_id') and the whole submission goes ungraded. This version removes the
emptied metadata, so the duplicates become ordinary cells and grading goes on.

Also `machinery_uses`: the names in a submission's own code that reach into the kernel's
execution machinery, which the pipeline lists for review.
"""
import re

from nbgrader.preprocessors import DeduplicateIds


class SafeDeduplicateIds(DeduplicateIds):
    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        return nb, resources


# Names that reach into the kernel's execution machinery: with them a cell can change how later
# cells (and so the test cells) run. A submission whose own code uses one is graded as usual and
# listed for review (pipeline.REVIEW_FILE): a person decides. Written in plain text, strings and
# comments included, so that `getattr(x, "get_ipython")` counts too. `sys.modules` is left out:
# the inference chapter asks for `"tensorflow" in sys.modules`. `exec`, `eval` and `compile`
# count only as plain calls, not as methods (`model.compile(...)`, `re.compile(...)`).
MACHINERY_PATTERNS = {
    name: re.compile(pattern) for name, pattern in [
        ("get_ipython", r"get_ipython"),
        ("input_transformers", r"input_transformers"),
        ("ast_transformers", r"ast_transformers"),
        ("showtraceback", r"showtraceback"),
        ("run_cell", r"run_cell"),
        ("excepthook", r"excepthook"),
        ("InteractiveShell", r"InteractiveShell"),
        ("ipykernel", r"ipykernel"),
        ("IPython", r"IPython"),
        ("__builtins__", r"__builtins__"),
        ("builtins", r"(?<!__)\bbuiltins\b"),
        ("exec(", r"(?<![\w.])exec\s*\("),
        ("eval(", r"(?<![\w.])eval\s*\("),
        ("compile(", r"(?<![\w.])compile\s*\("),
        ("importlib", r"importlib"),
        ("__import__", r"__import__"),
        ("settrace", r"settrace"),       # a trace function can jump over lines (asserts)
        ("_course_guard", r"_course_guard"),  # guard.py's library check, in the kernel
    ]
}


def machinery_uses(nb, course_nbs) -> dict[str, list[str]]:
    """{cell label: names} for the code cells of `nb` that the student wrote or changed.

    A cell whose source is exactly one of the code cells of `course_nbs` (the released student
    version and the instructor's source) is the course's own code and is not read. The label is
    the cell's grade id, else "cell N" (1-based, code and text cells counted).
    """
    own = {c.source for course_nb in course_nbs for c in course_nb.cells if c.cell_type == "code"}
    found: dict[str, list[str]] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source in own:
            continue
        names = [name for name, pattern in MACHINERY_PATTERNS.items() if pattern.search(cell.source)]
        if names:
            label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
            found.setdefault(label, [])
            found[label] += [n for n in names if n not in found[label]]
    return found
