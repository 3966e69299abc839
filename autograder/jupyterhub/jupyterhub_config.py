"""JupyterHub for a class: students and an instructor on one server, nbgrader's exchange shared.

This is nbgrader's "one class, one instructor" layout (see book/instructors.md, section "On a
JupyterHub"). Install on the hub machine, as root (JupyterHub's default proxy is the Node.js
package configurable-http-proxy; jupyterhub itself is pinned in requirements.txt):

    python3.11 -m venv /opt/course && /opt/course/bin/pip install -r requirements.txt
    npm install -g configurable-http-proxy
    cp autograder/jupyterhub/jupyterhub_config.py /etc/jupyterhub/jupyterhub_config.py
    cp autograder/jupyterhub/nbgrader_config.py  /etc/jupyter/nbgrader_config.py
    install -d -m 0777 /srv/nbgrader/exchange      # the shared exchange (sticky not needed)
    /opt/course/bin/jupyterhub -f /etc/jupyterhub/jupyterhub_config.py

Users are system accounts (PAM login, one Unix user each): nbgrader's exchange keys every
submission by the Unix user name, and `collect` warns when a file is not owned by the student
it claims to be from. The instructor is a normal user (an admin of the hub): the
course directory (gradebook, sources with hidden tests) lives in the instructor's home, so
students cannot read it; the instructor grades with `python -m autograder grade` (sandboxed,
per-student processes). Formgrader's Autograde button on the hub uses the sandbox only when the
instructor's server is started the way `python -m autograder.lab instructor` starts it (the
grading kernel on JUPYTER_PATH, `c.ResilientExecute.kernel_name = "course-grader"`); otherwise
use Formgrader to collect and browse, and the command to grade. Edit the user lists below.

`tests/test_exchange.py` loads this file with JupyterHub's own config loader and checks every
setting against JupyterHub's traits, so a misspelt option fails the tests.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when JupyterHub loads this file)

COURSE_ID = "ai-computing-systems"
INSTRUCTORS = ["instructor1"]
STUDENTS = ["student1", "student2"]          # one Unix account each

c.JupyterHub.bind_url = os.environ.get("COURSE_HUB_URL", "http://127.0.0.1:8000")
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set(INSTRUCTORS)
c.Spawner.default_url = "/lab"
c.Spawner.cmd = ["/opt/course/bin/jupyterhub-singleuser"]
c.Spawner.environment = {"COURSE_EXCHANGE": "/srv/nbgrader/exchange"}

# One course: every user's nbgrader finds the course id and the exchange in the global
# /etc/jupyter/nbgrader_config.py, so no hub groups or roles are needed. (Several courses on one
# hub use nbgrader's JupyterHubAuthPlugin with `nbgrader-<course>` / `formgrade-<course>` groups.)
