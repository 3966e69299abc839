"""The kernel that runs submissions while grading: resource limits and a filesystem sandbox.

`python -m autograder.sandbox CONNECTION_FILE` starts an IPython kernel for one
submission. Before it does, it

* limits the kernel's address space (COURSE_GRADING_MEMORY_MB, default 6144) so a
  memory bomb raises MemoryError or kills only this kernel, limits the size of any
  file it writes (256 MB) and disables core dumps;
* if bubblewrap (`bwrap`) is installed, runs the kernel in a sandbox that shows only the
  system, Python with its packages, and the course's library and data, all read-only
  (`readable_paths`): the course directory (gradebook, sources with hidden tests, other
  students' work), the repository's instructor notebooks and git history, homes (Jupyter
  connection files) and the exchange are not there. Only the submission's own folder and a
  private scratch folder ($TMPDIR, $HOME) are writable. Every process the submission starts
  dies with the kernel.

Without bubblewrap the limits still apply, but code can read and write wherever the
grading user can: `python -m autograder` warns about that. Install it with
`apt-get install bubblewrap` (Debian/Ubuntu) or your distribution's package.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "course-grader"
FILE_SIZE_LIMIT = 256 * 2**20
SCRATCH = Path(tempfile.gettempdir()) / "course-grader-scratch"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def memory_limit_bytes() -> int:
    return int(os.environ.get("COURSE_GRADING_MEMORY_MB", "6144")) * 2**20


def write_kernelspec(folder: Path) -> Path:
    """Write kernels/course-grader/kernel.json under `folder` (put `folder` on JUPYTER_PATH)."""
    spec_dir = Path(folder) / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "autograder.sandbox", "{connection_file}"],
            "display_name": "Python 3 (course grader)", "language": "python",
            # Interrupt through the kernel's control channel: a signal sent from outside
            # does not reach the kernel inside the sandbox's PID namespace.
            "interrupt_mode": "message",
            "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


SCRATCH_ENV = ("TMPDIR", "HOME", "MPLCONFIGDIR", "IPYTHONDIR")


# The system: programs, shared libraries, configuration (fonts, certificates, locales).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
ENV_PATHS = ("COURSE_DATA", "COURSE_WEIGHTS", "COURSE_TRAINED_STYLE")


def readable_paths() -> list[str]:
    """What a grading kernel may read: the system, this Python and its packages, the course's
    library and data. Nothing else: not the repository's notebooks (solutions, hidden tests)
    or its git history, not other course folders, not anyone's home (Jupyter connection files
    and server tokens live there), not the exchange with the other students' work."""
    import source_lib
    from source_lib import config

    here = Path(__file__).resolve().parent
    paths = [*SYSTEM_PATHS, sys.prefix, sys.base_prefix, str(Path(os.path.realpath(sys.executable)).parent),
             str(here), str(Path(source_lib.__file__).resolve().parent),
             str(config.DATA_DIR), *(os.environ[name] for name in ENV_PATHS if os.environ.get(name))]
    found = []
    for path in paths:
        path = os.path.abspath(path)
        if os.path.lexists(path) and path not in found:
            found.append(path)
    # Parents before children, and a path inside another exposed one needs no bind of its own.
    found.sort(key=lambda p: (p.count(os.sep), p))
    kept: list[str] = []
    for path in found:
        if not any(path.startswith(k.rstrip(os.sep) + os.sep) for k in kept if not os.path.islink(k)):
            kept.append(path)
    return kept


def sandbox_command(kernel: list[str], workdir: Path, hidden: list[Path],
                    connection_file: Path | None = None) -> list[str]:
    """bwrap argv: only readable_paths() visible (read-only), `hidden` folders replaced by empty
    ones, `workdir` writable, a private $TMPDIR and $HOME."""
    SCRATCH.mkdir(exist_ok=True)
    cmd = [bwrap_path(), "--tmpfs", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in readable_paths():
        if os.path.islink(path):
            cmd += ["--symlink", os.readlink(path), path]
        else:
            cmd += ["--ro-bind", path, path]
    # A private, empty tmpfs for scratch files (and the kernel's home).
    cmd += ["--tmpfs", str(SCRATCH), "--dir", str(SCRATCH / "home")]
    for folder in hidden:
        cmd += ["--tmpfs", str(folder)]
    cmd += ["--bind", str(workdir), str(workdir)]
    if connection_file is not None:
        cmd += ["--ro-bind", str(connection_file), str(connection_file)]
    # No capabilities, even when grading runs as root (bwrap keeps them for root otherwise, and
    # with CAP_SYS_ADMIN a kernel could unmount what hides the course); a PID, IPC and UTS
    # namespace of its own; a new session, so it cannot push input into the grader's terminal.
    cmd += ["--cap-drop", "ALL", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
            "--new-session", "--die-with-parent",
            "--setenv", "TMPDIR", str(SCRATCH),
            "--setenv", "HOME", str(SCRATCH / "home"),
            "--setenv", "MPLCONFIGDIR", str(SCRATCH / "matplotlib"),
            "--setenv", "IPYTHONDIR", str(SCRATCH / "ipython"),
            # Inside the PID namespace the kernel's parent is bwrap's init (pid 1), which
            # ipykernel would read as "parent exited"; --die-with-parent covers that instead.
            "--unsetenv", "JPY_PARENT_PID",
            "--chdir", str(workdir)]
    return cmd + kernel


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def apply_limits() -> None:
    """Memory (address space), file size and core dump limits of a grading kernel."""
    _limit(resource.RLIMIT_AS, memory_limit_bytes())
    _limit(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)
    _limit(resource.RLIMIT_CORE, 0)


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m autograder.sandbox CONNECTION_FILE")
    connection_file = Path(argv[0]).resolve()
    workdir = Path.cwd().resolve()
    apply_limits()
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file),
              "--HistoryManager.hist_file=:memory:"]
    course = os.environ.get("COURSE_GRADING_ROOT")
    if bwrap_path() and course:
        hidden = [Path(course).resolve()]
        if workdir == hidden[0] or hidden[0] not in workdir.parents:
            raise SystemExit(f"sandbox: the kernel's folder {workdir} is not inside the course {course}")
        cmd = sandbox_command(kernel, workdir, hidden, connection_file)
    else:
        cmd = kernel
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
