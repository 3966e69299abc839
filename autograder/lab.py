"""JupyterLab with nbgrader for a student and an instructor on one machine (local exchange).

Students work in JupyterLab's Assignments panel (fetch, Validate, Submit, fetch feedback);
the instructor works in the Formgrader panel (release, collect, autograde, feedback). This
module writes the configuration each of them needs into a home folder and starts JupyterLab
on 127.0.0.1 with a token::

    python -m autograder.lab instructor [--course _course] [--exchange DIR] [--port 8888]
    python -m autograder.lab student --student alice [--home DIR] [--exchange DIR] [--port 8889]

Both share one exchange folder ($COURSE_EXCHANGE, else `_course/exchange-local/`), so a
student's submission reaches the instructor on the same machine. Each server gets its own
home (JUPYTER_CONFIG_DIR, data and runtime folders under it), so nothing is read from or
written to the real ~/.jupyter. The instructor's server runs in the course directory, loads
its nbgrader_config.py, and autogrades in the grading sandbox (autograder/sandbox.py) just as
`python -m autograder grade` does. On a JupyterHub the same settings go into the system-wide
configuration instead (see autograder/jupyterhub/ and the README).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from . import pipeline, sandbox

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
# Validate runs the whole notebook; nbgrader's default of 30 s a cell is too short for the
# TensorFlow chapters (the course's own config uses the same value for grading).
VALIDATE_TIMEOUT = 300
# JupyterLab plugins a student does not need (instructor tools) and ones that would reach the
# internet (news announcements).
STUDENT_DISABLED = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"]
ALWAYS_DISABLED = ["@jupyterlab/apputils-extension:announcements"]


def course_id(config: Path = pipeline.CONFIG) -> str:
    """The course id set in the course's nbgrader_config.py."""
    from traitlets.config.loader import PyFileConfigLoader

    loader = PyFileConfigLoader(Path(config).name, path=str(Path(config).parent))
    return loader.load_config().CourseDirectory.course_id


@dataclass
class LabUser:
    """Where one user's JupyterLab keeps its configuration and what it serves."""

    role: str                  # "student" or "instructor"
    home: Path                 # HOME; Jupyter's config, data and runtime folders live under it
    root: Path                 # the folder the server shows (ServerApp.root_dir) and runs in
    exchange: Path             # nbgrader's Exchange.root, shared by everybody
    course: Path | None = None  # the instructor's course directory
    student_id: str | None = None
    extra_env: dict = field(default_factory=dict)

    @property
    def config_dir(self) -> Path:
        return self.home / ".jupyter"

    def env(self) -> dict:
        """The server's environment: a private home, this Python's tools first on PATH."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "JPY_", "NBGRADER", "IPYTHONDIR", "MPLCONFIGDIR"))}
        data = self.home / ".local" / "share" / "jupyter"
        env.update(HOME=str(self.home), JUPYTER_CONFIG_DIR=str(self.config_dir),
                   JUPYTER_DATA_DIR=str(data), JUPYTER_RUNTIME_DIR=str(data / "runtime"),
                   IPYTHONDIR=str(self.home / ".ipython"),
                   MPLCONFIGDIR=str(self.home / ".config" / "matplotlib"),
                   PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]),
                   # The course's nbgrader_config.py takes the exchange from here.
                   COURSE_EXCHANGE=str(self.exchange))
        env.update(self.extra_env)
        return env


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _page_config(user: LabUser, disabled: list[str]) -> None:
    _write(user.config_dir / "labconfig" / "page_config.json",
           json.dumps({"disabledExtensions": {name: True for name in disabled}}, indent=1))


def make_exchange(exchange: Path) -> Path:
    """The shared exchange folder, writable by every user (mode 0777, as nbgrader expects).
    nbgrader's Formgrader offers no Release button while it is missing."""
    exchange = Path(exchange).resolve()
    if not exchange.is_dir():
        exchange.mkdir(parents=True)
        exchange.chmod(0o777)
    return exchange


def setup_student(home: Path, exchange: Path, student_id: str) -> LabUser:
    """A student's home: nbgrader config (exchange, student id, Validate timeout), no instructor tools."""
    home, exchange = Path(home).resolve(), make_exchange(exchange)
    user = LabUser("student", home, home, exchange, student_id=student_id)
    home.mkdir(parents=True, exist_ok=True)
    _write(user.config_dir / "nbgrader_config.py", f'''\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id()!r}
c.Exchange.root = {str(exchange)!r}
# Who submits. On a machine (or JupyterHub) with one OS account per student, leave this out:
# nbgrader then uses the login name.
c.CourseDirectory.student_id = {student_id!r}
# Validate runs the whole notebook: give TensorFlow chapters the same time a cell as grading.
c.Execute.timeout = {VALIDATE_TIMEOUT}
''')
    # Students get the Assignments panel and Validate, not the instructor's Formgrader.
    _write(user.config_dir / "jupyter_server_config.json", json.dumps(
        {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": False}}},
        indent=1))
    _page_config(user, STUDENT_DISABLED + ALWAYS_DISABLED)
    return user


def setup_instructor(home: Path, course: Path, exchange: Path) -> LabUser:
    """An instructor's home: the course directory as the server's root, grading in the sandbox.

    The course directory must already hold nbgrader_config.py (`python -m autograder release`)."""
    home, course, exchange = Path(home).resolve(), Path(course).resolve(), make_exchange(exchange)
    if not (course / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course}/nbgrader_config.py missing: run "
                                f"'python -m autograder release --course {course}' first")
    sandbox.write_kernelspec(course / pipeline.GRADER_DIR)
    user = LabUser("instructor", home, course, exchange, course=course, extra_env={
        # The grading kernel's spec, and the folder the sandbox hides from submissions.
        "JUPYTER_PATH": str(course / pipeline.GRADER_DIR),
        "COURSE_GRADING_ROOT": str(course)})
    home.mkdir(parents=True, exist_ok=True)
    _write(user.config_dir / "nbgrader_config.py", f'''\
c = get_config()  # noqa: F821
# The course's own settings come from {course}/nbgrader_config.py (the server runs there).
c.CourseDirectory.root = {str(course)!r}
c.Exchange.root = {str(exchange)!r}
# Autograde in the sandboxed kernel, like `python -m autograder grade` (Validate is unaffected).
c.ResilientExecute.kernel_name = {sandbox.KERNEL_NAME!r}
# One OS account plays every student here, so submissions are not owned by their student.
c.ExchangeCollect.check_owner = False
''')
    _page_config(user, ALWAYS_DISABLED)
    return user


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LabServer:
    """`jupyter lab` for one LabUser on 127.0.0.1 with a fresh token; a context manager."""

    def __init__(self, user: LabUser, port: int | None = None, token: str | None = None):
        self.user = user
        self.port = port or free_port()
        self.token = token or secrets.token_hex(24)
        self.proc: subprocess.Popen | None = None
        self.log_path = user.home / "jupyterlab.log"

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser",
                f"--ServerApp.ip={HOST}", f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0", f"--ServerApp.root_dir={self.user.root}",
                f"--IdentityProvider.token={self.token}",
                "--LabApp.news_url=None",   # no request to jupyter.org
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly"]   # no queries to PyPI
        if os.geteuid() == 0:   # containers often run as root
            cmd.append("--allow-root")
        return cmd

    def launch(self) -> "LabServer":
        """Start the server process without waiting for it (see wait_ready)."""
        self.user.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), cwd=self.user.root, env=self.user.env(),
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def wait_ready(self, timeout: float = 120) -> "LabServer":
        """Wait until the server answers its REST API; raise with its log if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab ({self.user.role}) exited with {self.proc.returncode}:\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab ({self.user.role}) did not answer within {timeout:.0f} s:\n"
                           + self.log_tail())

    def start(self, timeout: float = 120) -> "LabServer":
        return self.launch().wait_ready(timeout)

    def answers(self) -> bool:
        """Whether anything accepts connections on the server's port."""
        try:
            with socket.create_connection((HOST, self.port), timeout=2):
                return True
        except OSError:
            return False

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def listening(self) -> set[tuple[str, int]]:
        """(address, port) of every TCP socket the server and its kernels listen on."""
        import psutil

        found = set()
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        for proc in procs:
            try:
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add((conn.laddr.ip, conn.laddr.port))
            except psutil.NoSuchProcess:
                continue
        return found

    def stop(self, timeout: float = 20) -> None:
        """Stop the server and its kernels (its whole process group)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)
        except ProcessLookupError:
            pass
        # Kernels are in the same process group; make sure none is left behind.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "LabServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m autograder.lab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=["student", "instructor"])
    p.add_argument("--course", type=Path,
                   default=Path(os.environ.get("COURSE_DIR", pipeline.DEFAULT_COURSE)),
                   help="the instructor's course directory (default: $COURSE_DIR or _course/)")
    p.add_argument("--exchange", type=Path, default=os.environ.get("COURSE_EXCHANGE"),
                   help="nbgrader's exchange folder, shared by students and instructor "
                        "(default: $COURSE_EXCHANGE, else <course>/exchange-local)")
    p.add_argument("--home", type=Path, default=None,
                   help="this user's Jupyter home (default: a new temporary folder)")
    p.add_argument("--student", default=os.environ.get("USER", "student"),
                   help="the student id a student submits as (default: $USER)")
    p.add_argument("--port", type=int, default=None)
    args = p.parse_args(argv)
    exchange = Path(args.exchange or Path(args.course) / "exchange-local")
    home = args.home or Path(tempfile.mkdtemp(prefix=f"lab-{args.role}-"))
    if args.role == "instructor":
        user = setup_instructor(home, args.course, exchange)
    else:
        user = setup_student(home, exchange, args.student)
    server = LabServer(user, port=args.port)
    server.start()
    print(f"JupyterLab for the {args.role} ({user.root}):\n  {server.url()}\n"
          f"Exchange: {exchange}\nHome    : {home}\nLog     : {server.log_path}\nCtrl-C stops it.",
          flush=True)
    try:
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
