"""Course grading pipeline around nbgrader: `python -m autograder --help`."""
