"""nbgrader configuration for the course.

`python -m autograder` copies this file into the course directory (default `_course/`)
and runs nbgrader there, so instructors who call `nbgrader ...` by hand in that
directory get the same settings.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "ai-computing-systems"
# nbgrader's exchange (release_assignment, collect, release_feedback); on a JupyterHub the same
# folder is named in /etc/jupyter/nbgrader_config.py (autograder/jupyterhub/).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
# Never ship the notebook sources (they hold the solutions) or caches to students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            "*.src.py", ".jupyter_cache"]

# nbgrader's default is 30 s a cell; TensorFlow's import alone takes several seconds
# and full-size experiments take minutes. The CLI overrides this per assignment from
# the notebook's `course.timeout` metadata (see notebook_source.py).
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading runs each cell with recovery from hung or dead kernels (autograder/execute.py)
# and caps printed output (lines and characters) so a flood is not stored whole.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.sanitize.SafeDeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "autograder.metadata.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "autograder.execute.ResilientExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.output_limit.LimitOutputSize",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "autograder.metadata.CheckCellMetadata",
]
c.LimitOutput.max_lines = 1000
c.LimitOutputSize.max_chars = 20000

# A student who deletes a test cell must not silently lose (or dodge) it.
c.OverwriteCells.add_missing_cells = True

# Feedback must not show hidden tests, neither in the cell nor in tracebacks.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
