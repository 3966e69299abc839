"""Warm grading kernels: forked from a process that has already imported TensorFlow & co.

A fresh kernel for every submission spends ~1 s starting IPython and 3-5 s importing numpy,
TensorFlow and matplotlib before the notebook's first line runs; at class scale that is most
of the grading time (bench/grading.py). A *template* process imports them once, inside the
grading sandbox, and forks one kernel per submission, like Python's `forkserver`.

    worker (nbgrader, outside)          template (inside bwrap, one per worker)
      WarmKernelManager  --spawn-->       fork() -> kernel child: limits, chdir, IPKernelApp
                         --poll/kill-->   waitpid / kill
                         --reset-->       kill every other process in the sandbox, wipe $TMPDIR

The sandbox is the one `sandbox.py` gives a cold kernel (read-only filesystem, the course
directory hidden, a private scratch $TMPDIR, own PID namespace, dies with its parent), except
that the only writable folder is the worker's *stage* (`<course>/.grader/stage/<worker>`):
the submission's files are copied there before its kernel forks, and the regular files the
notebook wrote are copied back to its autograded folder afterwards (symlinks are not
followed). Between two submissions `reset` kills every process the previous one left behind,
empties the stage and the scratch folder, so nothing of one student reaches the next. The
template makes itself non-dumpable, so a kernel cannot ptrace it or read its memory.

What a kernel inherits from the template is only the imported modules (no student code ever
ran in it); the random generators are reseeded in each child, as a fresh process would be.
Without bubblewrap, or if the template cannot start, the worker grades with a fresh kernel per
submission instead.
"""
from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from . import sandbox

# Imported once in the template: what the course's notebooks import (third-party only; the
# course's own modules are cheap once these are loaded, and some read the environment).
# Not matplotlib's inline backend: importing it hooks it into the running IPython shell,
# which exists only in the kernel (pyplot imports its backend when a figure is first made).
# ipykernel.debugger (debugpy) is what a kernel imports while it starts: half of its 0.2 s.
# numpy.testing: guard.py's check imports it in every kernel before the first cell.
# tqdm.notebook (ipywidgets, ~60 ms): what source_lib.progress's `tqdm.auto` picks in a kernel;
# importing it outside one registers no widget comm targets, which only a browser would use.
PRELOAD = ("numpy", "scipy.sparse", "scipy.signal", "PIL.Image", "matplotlib", "matplotlib.pyplot",
           "tqdm", "ipywidgets", "tqdm.notebook",
           "tensorflow", "keras", "onnx", "onnxruntime", "ai_edge_litert.interpreter",
           "sklearn.datasets", "sklearn.model_selection", "threadpoolctl",
           "IPython", "ipykernel.kernelapp", "ipykernel.debugger", "numpy.testing")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
TF_LOG_LEVEL = "2"  # what every notebook's imports cell sets (setdefault) before importing TensorFlow
READY = "template ready"
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4


class TemplateError(RuntimeError):
    """The warm template could not start or stopped answering."""


# -- inside the sandbox --------------------------------------------------------------------

def _prctl(option: int, value: int) -> None:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _other_processes() -> list[int]:
    """Every process of this PID namespace but bwrap's init (1) and the template itself."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]


def _empty(folder: Path) -> None:
    for entry in list(folder.iterdir()) if folder.is_dir() else []:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _reset(stage: Path, wipe: bool = True) -> None:
    """Kill what earlier kernels left running; empty the stage and the scratch folder."""
    if os.getpid() != 2:  # bwrap --unshare-pid: its init is 1, the template 2
        raise TemplateError("the template is not in a PID namespace of its own; it kills "
                            "every other process it sees, so it must run in the sandbox")
    deadline = time.monotonic() + 5.0  # killed processes are reaped by bwrap's init: on a busy machine, not at once
    while time.monotonic() < deadline:
        pids = _other_processes()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.02)
    else:
        raise TemplateError(f"processes left in the sandbox would not die: {_other_processes()}")
    if wipe:
        _empty(stage)
        _empty(Path(os.environ.get("TMPDIR", "/nonexistent")))


def _run_kernel(request: dict, control: tuple[int, int]) -> None:
    """In the forked child: become one submission's kernel. Never returns."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        for fd in control:
            if fd > 2:
                os.close(fd)
        sandbox.apply_limits()
        scratch = Path(os.environ["TMPDIR"])
        env = {k: v for k, v in request["env"].items() if k != "JPY_PARENT_PID"}
        env.update({k: os.environ[k] for k in sandbox.SCRATCH_ENV if k in os.environ})
        env["MPLBACKEND"] = INLINE_BACKEND
        os.environ.clear()
        os.environ.update(env)
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]
        connection_file = scratch / "kernel.json"
        connection_file.write_text(json.dumps(request["connection"]))
        import random
        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        from ipykernel.kernelapp import IPKernelApp
        sys.argv = [sys.executable, "-f", str(connection_file)]
        app = IPKernelApp.instance()
        app.initialize(["-f", str(connection_file), "--HistoryManager.hist_file=:memory:"])
        app.start()
    except BaseException:  # noqa: BLE001 - the child must never fall back into the template loop
        os._exit(1)
    os._exit(0)


WARM_UP_CELL = "import numpy.testing\nnumpy.testing.assert_array_equal([0.0], [1.0])\n"


def _format_one_traceback() -> None:
    """Format a traceback the way a kernel does (IPython's Context mode, its default theme), once.

    The first error a kernel shows otherwise costs ~0.5-1 s: `inspect.getmodule` meets a cell's
    file, which is on no module, and walks sys.modules resolving the real path of each of
    TensorFlow & co.'s ~4,000 modules (inspect caches them), and the formatting imports
    stack_data and pygments' lexers. Done here, a forked kernel starts with both, and its first
    failing test cell (most cells of an unfinished submission fail) costs no more than the
    next; what the student sees is the same (test_warm.py compares it with a fresh kernel's).
    """
    import linecache

    from IPython.core import ultratb
    from IPython.core.interactiveshell import InteractiveShell

    name = "<template warm-up cell>"
    linecache.cache[name] = (len(WARM_UP_CELL), None, WARM_UP_CELL.splitlines(True), name)
    try:
        exec(compile(WARM_UP_CELL, name, "exec"), {})
    except AssertionError:
        etype, value, tb = sys.exc_info()
        shell = InteractiveShell  # its traits' defaults, not an instance (no shell here)
        ultratb.AutoFormattedTB(mode=shell.xmode.default_value,
                                theme_name=shell.colors.default_value).structured_traceback(etype, value, tb)
    finally:
        linecache.cache.pop(name, None)


class CellFilesInMain(dict):
    """`inspect.modulesbyfile` (file -> module name), which also knows this kernel's cells.

    ipykernel compiles each cell as `<tmp>/ipykernel_<pid>/<hash>.py`, a file that is on no
    module and not on disk. For such a file `inspect.getmodule` walks all ~4,000 of sys.modules
    again on every call, and formatting one traceback calls it 7-9 times: ~0.07 s of each
    failing test cell. Here a cell's file belongs to `__main__`, the notebook's namespace, which
    IPython installs as sys.modules['__main__'] (what `getmodule` says of any function a cell
    defines), so the walk is not needed. Tracebacks are unchanged (test_warm.py compares one
    with a fresh kernel's).
    """

    @staticmethod
    def _is_cell(path) -> bool:
        if not isinstance(path, str) or not path.endswith(".py"):
            return False
        from ipykernel.compiler import get_tmp_directory
        return os.path.dirname(path) == get_tmp_directory()

    def __contains__(self, path) -> bool:
        return dict.__contains__(self, path) or self._is_cell(path)

    def __getitem__(self, path):
        try:
            return dict.__getitem__(self, path)
        except KeyError:
            if self._is_cell(path):
                return "__main__"
            raise


def serve(stage: Path) -> None:
    """The template: import PRELOAD, then answer JSON requests on stdin, one per line."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    # TensorFlow reads its C++ log level once, at its first log line: here, in the template. The
    # course's notebooks all set 2 before importing it (nbgrader scores a test cell with any
    # stderr output 0, and TensorFlow's info lines go to stderr); a kernel cannot change it later.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    # debugpy warns on import that Python's frozen modules may hide breakpoints (kernels send
    # that to /dev/null; here it would fill pipeline.log). Kernels get their own environment.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    if "matplotlib_inline.backend_inline" in sys.modules:
        raise TemplateError("matplotlib's inline backend was imported before any kernel existed: "
                            "figures would not show")
    try:
        _format_one_traceback()
    except Exception as exc:  # noqa: BLE001 - only a saving: kernels format their own anyway
        print(f"warm template: no traceback warm-up ({type(exc).__name__}: {exc})", file=sys.stderr)
    import inspect
    inspect.modulesbyfile = CellFilesInMain(inspect.modulesbyfile)
    # The library check (guard.py) records these modules' functions once, here, not in each kernel.
    from . import guard
    guard.record_before_fork()
    # What the imports created lives as long as the kernels: move it out of the garbage
    # collector's reach, so a kernel's full collections do not walk TensorFlow's millions of
    # objects (nor copy the pages they sit on). Python's advice for fork servers (gc.freeze).
    gc.collect()
    gc.freeze()
    _prctl(PR_SET_DUMPABLE, 0)
    control = (sys.stdin.fileno(), sys.stdout.fileno())
    children: dict[int, int | None] = {}

    def reap(pid: int) -> bool:
        """Record the exit code of a kernel that has ended; False while it runs."""
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children[pid] = os.waitstatus_to_exitcode(status)
        return bool(done)

    def reply(**answer):
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    reply(status=READY, pid=os.getpid())
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "spawn":
                sys.stdout.flush()
                pid = os.fork()
                if pid == 0:
                    _run_kernel(request, control)
                children[pid] = None
                reply(pid=pid)
            elif op == "poll":
                pid = request["pid"]
                if children.get(pid) is None:
                    reap(pid)
                reply(code=children.get(pid))
            elif op == "signal":
                pid = request["pid"]
                if children.get(pid, 0) is None:
                    os.kill(pid, request["signum"])
                    # a killed kernel is reaped here, so the manager's first poll sees it gone
                    # (jupyter_client otherwise sleeps 0.1 s between polls)
                    for _ in range(200 if request["signum"] == signal.SIGKILL else 0):
                        if reap(pid):
                            break
                        time.sleep(0.002)
                reply(ok=True)
            elif op == "reset":
                _reset(stage, wipe=request.get("wipe", True))
                children.clear()
                reply(ok=True)
            else:
                reply(error=f"unknown request {op!r}")
        except (OSError, TemplateError) as exc:
            reply(error=f"{type(exc).__name__}: {exc}")


# -- outside, in the grading worker --------------------------------------------------------

class Template:
    """A running template process (in its sandbox) and the stage folder it sees."""

    def __init__(self, course: Path, name: str, log: Path | None = None):
        self.course = Path(course).resolve()
        self.stage = self.course / ".grader" / "stage" / name
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        if not sandbox.bwrap_path():
            raise TemplateError("warm kernels need the sandbox (bubblewrap is not installed)")
        cmd = sandbox.sandbox_command([sys.executable, "-m", "autograder.warm", str(self.stage)],
                                      self.stage, [self.course])
        self.log = open(log, "ab") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, cwd=self.stage,
                                     env=dict(os.environ, PYTHONUNBUFFERED="1"))
        first = self._read()
        if first.get("status") != READY:
            raise TemplateError(f"the warm template did not start: {first}")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise TemplateError(f"the warm template stopped (exit {self.proc.poll()})")
        return json.loads(line)

    def request(self, **req) -> dict:
        if self.proc.poll() is not None:
            raise TemplateError(f"the warm template stopped (exit {self.proc.returncode})")
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise TemplateError("the warm template stopped") from exc
        answer = self._read()
        if "error" in answer:
            raise TemplateError(answer["error"])
        return answer

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stage_in(self, folder: Path) -> None:
        """Reset the sandbox and copy a submission's folder onto the stage."""
        self.request(op="reset")
        shutil.copytree(folder, self.stage, dirs_exist_ok=True, symlinks=True)

    def stage_out(self, folder: Path) -> None:
        """Kill what the kernel left running, copy the stage's regular files back into
        `folder` (symlinks neither copied nor followed), and empty the stage."""
        if self.alive():
            self.request(op="reset", wipe=False)
        home = Path(folder).resolve()
        for root, dirs, files in os.walk(self.stage):
            rel = Path(root).relative_to(self.stage)
            for name in files:
                src = Path(root) / name
                if src.is_symlink() or not src.is_file():
                    continue
                dest = Path(folder) / rel / name
                # never through a symlink (the submission's own) to outside its folder
                if dest.is_symlink() or not dest.resolve().is_relative_to(home):
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
            dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
        _empty(self.stage)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()
        shutil.rmtree(self.stage, ignore_errors=True)


class _Child:
    """Stands in for the Popen of a kernel that the template forked (pid in its namespace)."""

    stdin = stdout = stderr = None

    def __init__(self, template: Template, pid: int):
        self.template, self.pid, self.returncode = template, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.template.request(op="poll", pid=self.pid)["code"]
            except TemplateError:
                self.returncode = -signal.SIGKILL  # the template (and with it the kernel) died
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("kernel", timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            try:
                self.template.request(op="signal", pid=self.pid, signum=int(signum))
            except TemplateError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


# The worker process's template (autograder/worker.py sets it); one kernel at a time.
TEMPLATE: Template | None = None


class WarmProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernel is forked by the template instead of started by Popen."""

    async def launch_kernel(self, cmd, **kwargs):
        if TEMPLATE is None or not TEMPLATE.alive():
            raise TemplateError("no warm template is running in this process")
        self.submission = Path(kwargs.get("cwd") or os.getcwd())
        TEMPLATE.stage_in(self.submission)
        pid = TEMPLATE.request(op="spawn", cwd=str(TEMPLATE.stage), env=kwargs.get("env") or {},
                               connection=json.loads(Path(self.parent.connection_file).read_text()))["pid"]
        self.process = _Child(TEMPLATE, pid)
        self.pid, self.pgid, self.cwd = pid, None, self.submission
        return self.connection_info

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if getattr(self, "submission", None) is not None and TEMPLATE is not None:
            TEMPLATE.stage_out(self.submission)
            self.submission = None


class WarmKernelManager(AsyncKernelManager):
    """The kernel manager nbgrader's Execute uses in a worker with a warm template."""

    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or __import__("uuid").uuid4().hex
            self.provisioner = WarmProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                               parent=self)
        return await super()._async_pre_start_kernel(**kw)


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
