"""The kernel that runs submissions while grading: resource limits and a filesystem sandbox.

`python -m autograder.sandbox CONNECTION_FILE` starts an IPython kernel for one
submission. Before it does, it

* limits the kernel's address space (COURSE_GRADING_MEMORY_MB, default 6144) so a
  memory bomb raises MemoryError or kills only this kernel, limits the size of any
  file it writes (256 MB) and disables core dumps;
* if bubblewrap (`bwrap`) is installed, runs the kernel in a sandbox where the whole
  filesystem is read-only, the course directory (gradebook, sources with hidden tests,
  other students' work) is hidden, and only the submission's own folder and a private
  scratch folder ($TMPDIR) are writable. Every process the submission starts dies with the kernel.

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


def sandbox_command(kernel: list[str], workdir: Path, hidden: list[Path], connection_file: Path) -> list[str]:
    """bwrap argv: read-only root, `hidden` folders replaced by empty ones, `workdir` writable."""
    # A private, empty tmpfs for scratch files. It is mounted on a fixed empty folder rather
    # than on /tmp itself, because the course, its Python environment or both may live in /tmp.
    SCRATCH.mkdir(exist_ok=True)
    cmd = [bwrap_path(), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
           "--tmpfs", str(SCRATCH)]
    for folder in hidden:
        cmd += ["--tmpfs", str(folder)]
    cmd += ["--bind", str(workdir), str(workdir),
            "--ro-bind", str(connection_file), str(connection_file),
            "--unshare-pid", "--die-with-parent",
            "--setenv", "TMPDIR", str(SCRATCH),
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


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m autograder.sandbox CONNECTION_FILE")
    connection_file = Path(argv[0]).resolve()
    workdir = Path.cwd().resolve()
    _limit(resource.RLIMIT_AS, memory_limit_bytes())
    _limit(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)
    _limit(resource.RLIMIT_CORE, 0)
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
