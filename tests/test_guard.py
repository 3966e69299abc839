"""guard.py: a notebook that replaces what the tests rely on gets no points for it.

The end-to-end case is the cheat this check was written for: the fast style transfer tests
compare the student's network with `source_lib.multistyle.reference` (onnxruntime). A student
whose network never loads the pretrained weights replaces that reference with one that returns
the network's own last output. The check runs only after a test that *passed*, so finding its
`LibraryReplaced` error on that test proves the cheat fooled the test and the check stopped it.
"""
from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pytest

from autograder import guard, hostile, leaks, pipeline

ECHO = '''\
from source_lib import multistyle as _ms
_last = []
_call = TransformNet.call


def _recording_call(self, inputs):
    out = _call(self, inputs)
    _last[:] = [out]
    return out


TransformNet.call = _recording_call
_ms.reference = lambda image, w, path=None: np.asarray(_last[0]).transpose(0, 3, 1, 2)
'''
FAST = "fast_style_transfer"


def _run_in_fresh_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=pipeline.REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_names_read_lists_builtins_and_aliases_the_test_reads_but_never_sets():
    source = ("err = float(abs(x - ref).max())\nassert err < 1e-4\nfor len_ in range(3):\n    pass\n"
              "sum = 0\nprint(sum, np.pi, tf)\n")
    assert guard.names_read(source) == ("abs", "float", "np", "print", "range", "tf")
    assert guard.names_read("def f(max):\n    return max\nimport numpy as np\nnp.zeros(1)") == ()
    assert guard.names_read("this is not python") == ()


def test_the_check_finds_every_kind_of_replacement_and_nothing_else():
    """Install in a fresh interpreter (as the kernel does), then replace things one by one."""
    code = guard.install_code() + '''
import sys, json, numpy as np, numpy.testing as npt
main = sys.modules["__main__"].__dict__
check = sys.modules["_course_guard"].check
out = {"clean": check(("float", "np", "abs"))}
np.set_printoptions(precision=3); np.random.seed(0); np.my_helper = lambda: 1
out["harmless"] = check(("float", "np"))
main["float"] = lambda *a: 0.0
out["shadowed_builtin"] = check(("float",)) + check(("abs",))
del main["float"]
from source_lib import multistyle
original = multistyle.reference
multistyle.reference = lambda *a, **k: None
out["library"] = check()
del multistyle.reference
out["deleted"] = check()
multistyle.reference = original
import builtins; real_abs = builtins.abs; builtins.abs = lambda x: 0
out["builtins_module"] = check()
builtins.abs = real_abs
main["np"] = type("FakeNumpy", (), {"ndarray": np.ndarray})()
out["alias"] = check(("np",))
main["np"] = np
import source_lib.layers_tf as later          # imported after the snapshot
later.conv_forward = lambda *a: None
out["later_module"] = check()
del later.conv_forward
from tensorflow.python.framework import ops   # tensors' class, imported after the snapshot too
ops._EagerTensorBase.numpy = lambda self: None
out["later_class"] = check()
print(json.dumps(out))
'''
    found = json.loads(_run_in_fresh_python(code))
    assert found["clean"] == [] and found["harmless"] == [], found
    assert found["shadowed_builtin"] == ["float"]
    assert found["library"] == ["source_lib.multistyle.reference"]
    assert found["deleted"] == ["source_lib.multistyle.reference"]
    assert found["builtins_module"] == ["builtins.abs"]
    assert found["alias"] == ["np"]
    assert found["later_module"] == ["source_lib.layers_tf.conv_forward"]
    assert found["later_class"] == ["tensorflow.python.framework.ops._EagerTensorBase.numpy"]


def test_methods_of_tensors_layers_and_models_are_watched():
    """As in a warm kernel, TensorFlow and Keras are imported before the snapshot: a method
    swapped for another library function (not one defined in the notebook) is found too."""
    code = "import tensorflow as tf, keras\n" + guard.install_code() + '''
import sys, json, numpy as np
check = sys.modules["_course_guard"].check
x = tf.constant([1.0, 2.0]) * 2
v = tf.Variable([1.0]); v.assign([3.0])


class Net(keras.Model):
    def call(self, inputs):
        return keras.layers.Dense(2)(inputs)


Net()(np.zeros((1, 3), np.float32))
out = {"used": check()}
real = keras.layers.Layer.__call__
keras.layers.Layer.__call__ = keras.layers.Layer.build
out["layer_call"] = check()
keras.layers.Layer.__call__ = real
tf.Tensor.__eq__ = lambda self, other: True
out["tensor_eq"] = check()
print(json.dumps(out))
'''
    found = json.loads(_run_in_fresh_python(code))
    assert found["used"] == [], found
    assert found["layer_call"] == ["keras.src.layers.layer.Layer.__call__"]
    assert found["tensor_eq"] == ["tensorflow.python.framework.tensor.Tensor.__eq__"]


def test_a_kernel_forked_from_the_template_checks_against_the_templates_record():
    """warm.py's template records its modules once (record_before_fork); the kernel's install
    reuses that record, so a change made after it, even before the install, is found."""
    code = """
import sys, json, numpy as np, tensorflow as tf
from autograder import guard
guard.record_before_fork()
recorded = sys.modules["_course_guard"].recorded_before_fork
real_mean = np.mean
np.mean = lambda *a, **k: 0.0
""" + guard.install_code() + """
check = sys.modules["_course_guard"].check
out = {"template_recorded": sorted(n for n in ("numpy", "tensorflow", "builtins") if n in recorded),
       "changed_after_record": check()}
np.mean = real_mean
out["clean"] = check()
tf.reduce_sum = lambda *a, **k: 0
out["tf"] = check()
print(json.dumps(out))
"""
    found = json.loads(_run_in_fresh_python(code))
    assert found["template_recorded"] == ["builtins", "numpy", "tensorflow"]
    assert found["changed_after_record"] == ["numpy.mean"]
    assert found["clean"] == []
    assert "tensorflow.reduce_sum" in found["tf"]


def test_verdict_reads_the_kernels_answer():
    ok = {"user_expressions": {"found": {"status": "ok", "data": {"text/plain": "[]"}}}}
    assert guard.verdict(ok) is None
    bad = {"user_expressions": {"found": {"status": "ok", "data": {"text/plain": "['builtins.abs', 'float']"}}}}
    assert "builtins.abs, float" in guard.verdict(bad)
    gone = {"user_expressions": {"found": {"status": "error", "ename": "ModuleNotFoundError",
                                           "evalue": "No module named '_course_guard'"}}}
    assert "ModuleNotFoundError" in guard.verdict(gone) and "0 points" in guard.verdict(gone)
    assert "0 points" in guard.verdict({})
    assert "0 points" in guard.verdict({"user_expressions": {"found": {"status": "ok", "data": {"text/plain": "42"}}}})


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    course = tmp_path_factory.mktemp("guard-course")
    pipeline.release(course, [FAST])
    source = pipeline.source_notebook(course, FAST)
    released = nbformat.read(course / "release" / FAST / f"{FAST}.ipynb", 4)
    nb = hostile.build(hostile.Case("echo"), released, source)     # every answer right, but...
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{FAST}_load":
            assert "variable.assign(value)" in cell.source
            # ... the pretrained weights are never loaded, and the reference echoes the network
            cell.source = ECHO + cell.source.replace("variable.assign(value)", "pass")
    folder = course / "submitted" / "echo" / FAST
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{FAST}.ipynb")
    assert not pipeline.autograde(course, [FAST], skip_demos=True)
    pipeline.feedback(course, [FAST])
    graded = nbformat.read(course / "autograded" / "echo" / FAST / f"{FAST}.ipynb", 4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in graded.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    return course, pipeline.cell_scores(course, FAST)["echo"], cells


def test_an_echoed_reference_fools_the_test_and_the_check_takes_the_points(echo):
    course, scores, cells = echo
    load = cells[f"{FAST}_load_test"]
    errors = [o for o in load.outputs if o.get("output_type") == "error"]
    # LibraryReplaced is only ever given to a test that ran to its end without an error: the
    # echo fooled both the visible and the hidden checks, and only the check stopped it.
    assert [o["ename"] for o in errors] == ["LibraryReplaced"], errors
    assert "source_lib.multistyle.reference" in errors[0]["evalue"]
    assert scores[f"{FAST}_load_test"][0] == 0
    page = leaks.as_text((course / "feedback" / "echo" / FAST / f"{FAST}.html").read_text())
    assert "source_lib.multistyle.reference" in page
    assert "replaced-libraries" in pipeline.review_flags(course)[FAST]["echo"]


def test_tests_before_the_replacement_keep_their_points(echo):
    _, scores, cells = echo
    for gid in (f"{FAST}_cin_test", f"{FAST}_residual_test", f"{FAST}_net_test"):
        assert scores[gid][0] == scores[gid][1] > 0, (gid, scores[gid])
        assert not [o for o in cells[gid].outputs if o.get("output_type") == "error"]

