"""Warm grading kernels (autograder/warm.py): forked from a template, yet each as fresh as a
new kernel. The whole grading path with them is covered by test_hostile.py and test_grading.py;
these check the template's own promises directly, on a tiny notebook."""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import sandbox, warm

pytestmark = pytest.mark.xdist_group("warm")

CELLS = [
    # 0: what a fresh kernel would see
    "import gc, os, sys, random, numpy as np, tqdm.auto\n"
    "print(json.dumps({'cwd': os.getcwd(), 'parent_pid' : os.environ.get('JPY_PARENT_PID'),\n"
    "                  'home': os.environ.get('HOME'), 'r': random.random(), 'n': float(np.random.rand()),\n"
    "                  'seen': sorted(os.listdir('.')), 'tf': 'tensorflow' in sys.modules,\n"
    "                  'frozen': gc.get_freeze_count(), 'bar': tqdm.auto.tqdm.__mro__[1].__module__}))",
    # 1: a figure must come out as an image (matplotlib's inline backend hooked into this kernel)
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]); plt.show()",
    # 2: files the notebook writes go back to its folder; a symlink is not followed
    "open('made.txt', 'w').write('made in the kernel')\nos.symlink('/etc/hostname', 'link.txt')",
    # 3: a process left running
    "import subprocess\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\n"
    "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    if not sandbox.bwrap_path():
        pytest.skip("warm kernels need bubblewrap (test_hostile.py fails on its absence)")
    course = tmp_path_factory.mktemp("warm-course")
    warm.TEMPLATE = warm.Template(course, "test")
    yield warm.TEMPLATE
    warm.TEMPLATE.close()
    warm.TEMPLATE = None


def _run(template, folder):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import json")] +
                                  [nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=warm.WarmKernelManager,
                   timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    facts = json.loads(nb.cells[1].outputs[0]["text"])
    pids = nb.cells[4].outputs[0]["text"].split("pids")[1]
    return nb, facts, pids


def test_each_warm_kernel_starts_fresh_and_leaves_nothing_behind(template, tmp_path):
    first, second = tmp_path / "alice", tmp_path / "bob"
    for folder in (first, second):
        folder.mkdir()
        (folder / "data.txt").write_text(folder.name)
    nb1, facts1, pids1 = _run(template, first)
    nb2, facts2, pids2 = _run(template, second)

    for facts in (facts1, facts2):
        assert facts["tf"], "the template's imports are there (that is the point)"
        assert facts["cwd"] == str(template.stage)
        assert facts["parent_pid"] is None, "ipykernel would take a foreign JPY_PARENT_PID as a dead parent"
        assert facts["home"] == str(sandbox.SCRATCH / "home")
        assert facts["frozen"] > 100_000, "the template's objects are out of the kernel's garbage collection"
        assert facts["bar"] == "tqdm.notebook", "tqdm.auto picks notebook bars, as in a fresh kernel"
    assert facts1["seen"] == ["data.txt"] and facts2["seen"] == ["data.txt"], \
        "each kernel sees its own submission's files, nothing of the one before"
    assert (facts1["r"], facts1["n"]) != (facts2["r"], facts2["n"]), "random generators reseeded"

    for nb in (nb1, nb2):
        assert "image/png" in nb.cells[2].outputs[0]["data"], "figures render in warm kernels"
    for folder in (first, second):
        assert (folder / "made.txt").read_text() == "made in the kernel"
        assert not (folder / "link.txt").exists() and not (folder / "link.txt").is_symlink()
    # The first kernel's `sleep` was killed before the second kernel started.
    assert len(pids2.split(",")) == len(pids1.split(",")), (pids1, pids2)
    assert not any(template.stage.iterdir()), "the stage is emptied after each kernel"


def test_the_template_cannot_be_traced_or_read(template, tmp_path):
    folder = tmp_path / "mallory"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nparent = os.getppid()\n"
        "try:\n"
        "    start = int(open(f'/proc/{parent}/maps').readline().split('-')[0], 16)\n"
        "    with open(f'/proc/{parent}/mem', 'rb') as mem:\n"
        "        mem.seek(start); mem.read(1)\n"
        "    print('read the template memory')\n"
        "except PermissionError as exc:\n    print('denied', exc)")])
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=warm.WarmKernelManager,
                   timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    assert nb.cells[0].outputs[0]["text"].startswith("denied"), nb.cells[0].outputs


def test_files_go_back_only_into_the_submissions_own_folder(template, tmp_path):
    # A submitted symlink pointing out of the folder; the kernel replaces it (in its own copy)
    # by a real folder and writes into it: the copy back must not follow the symlink.
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = tmp_path / "trudy"
    folder.mkdir()
    (folder / "out").symlink_to(outside)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nos.remove('out')\nos.mkdir('out')\nopen('out/x.txt', 'w').write('x')\n"
        "open('kept.txt', 'w').write('k')")])
    NotebookClient(nb, kernel_name="python3", kernel_manager_class=warm.WarmKernelManager,
                   timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    assert not list(outside.iterdir()), "a file was written through the submission's symlink"
    assert (folder / "kept.txt").read_text() == "k"


def test_a_killed_kernel_is_reaped_before_the_kill_returns(template, tmp_path):
    # jupyter_client polls a killed kernel every 0.1 s until it is gone; the template reaps it
    # before answering the kill, so the very first poll already has its exit code.
    import asyncio
    import signal

    folder = tmp_path / "oscar"
    folder.mkdir()

    async def start_and_kill():
        km = warm.WarmKernelManager(kernel_name="python3")
        await km.start_kernel(cwd=str(folder))
        child = km.provisioner.process
        assert child.poll() is None, "the kernel runs"
        child.kill()
        code = child.poll()  # one request to the template, no waiting
        await km.shutdown_kernel(now=True)
        return code

    assert asyncio.run(start_and_kill()) == -signal.SIGKILL


def test_a_warm_kernel_shows_an_error_as_a_fresh_one_does_with_the_lookups_done(template, tmp_path):
    # The template formats one traceback before it forks (warm._format_one_traceback), so that
    # a kernel's first error does not walk every module TensorFlow & co. loaded, and no error
    # walks them for a cell's file (warm.CellFilesInMain). The student must see exactly what a
    # fresh kernel shows.
    cells = ["import inspect, sys\nprint(len(inspect.modulesbyfile), inspect.getmodule(sys._getframe()) is sys.modules['__main__'])",
             "import numpy.testing\n\nnumpy.testing.assert_array_equal([1.0, 2.0], [1.0, 3.0])"]
    shown = {}
    for name, manager in (("warm", warm.WarmKernelManager), ("fresh", None)):
        folder = tmp_path / name
        folder.mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        options = {"kernel_manager_class": manager} if manager else {}
        NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}, **options).execute()
        known, main = nb.cells[0].outputs[0]["text"].split()
        shown[name] = (int(known), main, nb.cells[1].outputs[-1])
    (known_warm, main_warm, error_warm), (known_fresh, main_fresh, error_fresh) = shown["warm"], shown["fresh"]
    assert known_warm > 1000 > known_fresh, "the template resolved its modules' files before the fork"
    # and a cell's file is known to belong to __main__ (warm.CellFilesInMain), without a walk
    assert (main_warm, main_fresh) == ("True", "False")
    assert error_warm["ename"] == "AssertionError"
    assert error_warm["traceback"] == error_fresh["traceback"], "same traceback, same colours, same context"
    plain = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error_warm["traceback"]))
    assert "assert_array_equal([1.0, 2.0], [1.0, 3.0])" in plain, "the failing line, in context"
