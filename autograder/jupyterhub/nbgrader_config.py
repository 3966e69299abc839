"""Global nbgrader settings on a JupyterHub (or any shared machine): /etc/jupyter/nbgrader_config.py.

Every user's nbgrader (students' Assignments panel, the instructor's commands) reads this file.
It names the course and the shared exchange. The instructor's course directory adds the grading
settings of autograder/nbgrader_config.py (`python -m autograder` copies it there).
"""
import os

c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "ai-computing-systems"
# The exchange: released assignments (outbound/), submissions (inbound/), feedback (feedback/).
c.Exchange.root = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
# Fetched assignments land in ~/<assignment>/ (not ~/<course>/<assignment>/).
c.Exchange.path_includes_course = False
# Validate (the student's button) runs the whole notebook with the student's settings:
# nbgrader's default of 30 s a cell is too short for the TensorFlow chapters.
c.Execute.timeout = 300
