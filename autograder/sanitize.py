"""Sanitizing a submission before it runs: duplicated cells.

nbgrader's DeduplicateIds keeps the last cell of a duplicated grade id and empties the
`nbgrader` metadata of the others; OverwriteCells then fails on those empty entries
(KeyError 'grade_id') and the whole submission goes ungraded. This version removes the
emptied metadata, so the duplicates become ordinary cells and grading goes on.
"""
from nbgrader.preprocessors import DeduplicateIds


class SafeDeduplicateIds(DeduplicateIds):
    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if "nbgrader" in cell.metadata and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        return nb, resources
