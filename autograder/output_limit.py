"""Cap the size of what a graded cell printed, so a flood cannot bloat the gradebook or feedback.

nbgrader's LimitOutput caps the number of *lines*; one print of 100 MB is a single
line. This caps the characters of each cell's text outputs.
"""
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer


class LimitOutputSize(NbGraderPreprocessor):
    """Truncate each code cell's text outputs to `max_chars` characters in all."""

    max_chars = Integer(20_000, help="characters of text output kept per cell").tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        budget = self.max_chars
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                if len(text) > budget:
                    dropped = len(text) - budget
                    output["text"] = text[:budget] + f"\n... [{dropped} characters of output truncated]\n"
                budget = max(0, budget - len(text))
            elif output.get("output_type") in {"execute_result", "display_data"}:
                data = output.get("data", {})
                plain = data.get("text/plain")
                if isinstance(plain, str) and len(plain) > self.max_chars:
                    data["text/plain"] = plain[: self.max_chars] + "\n... [truncated]"
        return cell, resources
