# %% [config] timeout=300 partial=inference_pre_post,inference_accuracy,inference_power_difference_np

# %% [markdown] id=inference_header locked
# # Chapter 8 — Online and offline inference, and a custom operator
#
# A trained network can run in two ways. **Online**, the framework itself executes it at run
# time: TensorFlow runs each operation eagerly, or traces the Python code into a graph
# (`tf.function`), or hands that graph to the XLA compiler (`jit_compile=True`). **Offline**,
# the network is compiled ahead of time into a self-contained file, and a small runtime with no
# framework behind it executes that file: here a LiteRT (TFLite) flatbuffer run by the LiteRT
# interpreter, and the ONNX file run by onnxruntime. The network we deploy is the real-time
# style network of chapter 6, with its real pretrained weights.
#
# **Learning goals**
# 1. Write the pre-processing and post-processing of a deployed image model in NumPy,
#    (8.3) and (8.4).
# 2. Export the network to an offline file, float32 and int8 (dynamic-range, (8.5)), and run it
#    with the interpreter alone — in a fresh process that never imports TensorFlow.
# 3. Measure pre-processing, inference and post-processing separately, (8.1), and cold start,
#    (8.2), online and offline.
# 4. Compare the outputs across platforms: maximum absolute error and PSNR, (8.6).
# 5. Write a custom operator, PowerDifference $(x - y)^z$, (8.7), in NumPy and as a TensorFlow
#    op with its gradient, (8.8), and use it in a loss, (8.9).
#
# **Conventions.** Images are `(H, W, 3)` uint8 RGB; the network takes and returns NHWC
# float32 batches `[1, H, W, 3]` in $[0, 1]$ with $H$ and $W$ multiples of 4. Times are in
# milliseconds, medians of repeats, batch 1. Fill in every cell that says `YOUR CODE HERE`,
# then run the test cell below it. Hidden tests run when the notebook is graded.

# %% [locked] id=inference_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf

from source_lib import config, images, multistyle
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.progress import progress

print(config.banner())
OUTPUT = Path("output")
OUTPUT.mkdir(exist_ok=True)
tf.get_logger().setLevel("ERROR")


@contextlib.contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (C++ runtimes print INFO lines there, once per process)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)

# %% [markdown]
# ## 0. The transform network from chapter 6
#
# The cell below builds the pretrained multi-style network of chapter 6 in Keras for **one**
# style: the conditional instance norm of every layer keeps only that style's $(\gamma, \beta)$,
# so the deployed file is a plain image-to-image network. Every convolution is preceded by a
# reflection padding of $(k-1)/2$ pixels and has no bias; the two upsamplings are
# nearest-neighbour $2\times$ (`tf.image.resize`, which converts to a LiteRT op; Keras'
# `UpSampling2D` does not convert cleanly). Height and width stay unknown (`None`), so one file
# serves every image size that is a multiple of 4. The check compares it with the ONNX
# reference run by onnxruntime.

# %% [locked] id=inference_network
STYLE = 19                      # one of the 26 styles of multistyle26.onnx


def build_transform_net(style=STYLE, weights=None):
    """Keras model [1, H, W, 3] in [0, 1] -> [1, H, W, 3] in [0, 1] for one style (NHWC)."""
    weights = weights or multistyle.load_weights()
    kernels = {k[:-2]: tf.constant(w.transpose(2, 3, 1, 0))            # OIHW -> HWIO, once
               for k, w in weights.items() if k.endswith(".w")}

    def conv_norm(h, name, stride=1, upsample=False, relu=True):
        kernel = kernels[name]
        if upsample:                                        # nearest-neighbour 2x
            h = tf.image.resize(h, tf.shape(h)[1:3] * 2, method="nearest")
        p = (kernel.shape[0] - 1) // 2
        h = tf.pad(h, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
        h = tf.nn.conv2d(h, kernel, stride, "VALID")
        mean, var = tf.nn.moments(h, axes=[1, 2], keepdims=True)      # instance norm
        h = (h - mean) * tf.math.rsqrt(var + 1e-5)
        h = h * weights[name + ".norm.gamma"][style] + weights[name + ".norm.beta"][style]
        return tf.nn.relu(h) if relu else h

    class TransformNet(tf.keras.Model):    # subclassed: nothing is traced until it is called
        def call(self, x):
            h = conv_norm(x, "contract.0")                  # 9x9, 3 -> 32
            h = conv_norm(h, "contract.1", stride=2)        # 3x3, H/2
            h = conv_norm(h, "contract.2", stride=2)        # 3x3, H/4
            for i in range(6):                              # residual blocks
                h = h + conv_norm(conv_norm(h, f"res.{i}.0"), f"res.{i}.1", relu=False)
            h = conv_norm(h, "expand.0", upsample=True)     # H/2, 32 -> 8
            h = conv_norm(h, "expand.1", upsample=True)     # H,   8 -> 4
            return tf.sigmoid(conv_norm(h, "expand.2", relu=False))     # 9x9, 4 -> 3

    return TransformNet(name=f"style_{style}")


def onnx_reference(batch, style=STYLE):
    """multistyle26.onnx by onnxruntime on an NHWC batch (the ground truth)."""
    return multistyle.reference(batch.transpose(0, 3, 1, 2), multistyle.one_hot(style)).transpose(0, 2, 3, 1)


net = build_transform_net()
_x = np.random.default_rng(0).uniform(0, 1, (1, 64, 96, 3)).astype(np.float32)
_err = float(np.abs(net(_x).numpy() - onnx_reference(_x)).max())
assert _err < 1e-4, f"the Keras network does not match the ONNX file: {_err:.2e}"
_n_weights = sum(w[0].size if k.endswith(("gamma", "beta")) else w.size
                 for k, w in multistyle.load_weights().items())
print(f"transform network, style {STYLE}: {_n_weights:,} weights (stored as graph constants); "
      f"max |Keras - ONNX| = {_err:.1e} on 64×96")
print(multistyle.CREDIT)

# %% [markdown]
# ## 1. Pre-processing and post-processing in NumPy
#
# A deployed model runs at a fixed resolution chosen for its latency budget. Pre-processing
# turns a photograph of any size into the network's input: a **nearest-neighbour resize** to
# `size = (H, W)` followed by scaling to $[0, 1]$, equation **(8.3)**: output pixel $(i, j)$ is
# input pixel $\big(\lfloor i\, H_{in} / H \rfloor, \lfloor j\, W_{in} / W \rfloor\big)$
# divided by 255 (integer arithmetic: `i * H_in // H`). Post-processing, equation **(8.4)**,
# turns the output batch back into an image of the **original** size: clip to $[0, 1]$, multiply
# by 255, round to the nearest integer (`np.rint`), convert to uint8, and resize
# nearest-neighbour to `out_hw = (H_out, W_out)` with the same index rule.
#
# Write `preprocess(image, size)` — `(H_in, W_in, 3)` uint8 in, `[1, H, W, 3]` float32 out,
# C-contiguous; `ValueError` for an image that is not `(H, W, 3)` uint8 or a size that is not a
# multiple of 4 — and `postprocess(batch, out_hw)`: `[1, H, W, 3]` float in, `(H_out, W_out, 3)`
# uint8 out. NumPy only, no loops over pixels (index arrays do it: `image[rows][:, cols]`).

# %% [solution] id=inference_pre_post
def preprocess(image, size):
    """(H_in, W_in, 3) uint8 -> [1, H, W, 3] float32 in [0, 1]: nearest resize (8.3), / 255."""
    ### BEGIN SOLUTION
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {image.shape} dtype {image.dtype}")
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0 or h % 4 or w % 4:
        raise ValueError(f"size must be positive multiples of 4, got {size}")
    rows = np.arange(h) * image.shape[0] // h
    cols = np.arange(w) * image.shape[1] // w
    resized = image[rows][:, cols]
    return np.ascontiguousarray(resized[None].astype(np.float32) / np.float32(255))
    ### END SOLUTION


def postprocess(batch, out_hw):
    """[1, H, W, 3] float -> (H_out, W_out, 3) uint8: clip, * 255, rint (8.4), nearest resize."""
    ### BEGIN SOLUTION
    batch = np.asarray(batch)
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected a batch [1, H, W, C], got shape {batch.shape}")
    img = np.rint(np.clip(batch[0], 0.0, 1.0) * 255.0).astype(np.uint8)
    h_out, w_out = int(out_hw[0]), int(out_hw[1])
    rows = np.arange(h_out) * img.shape[0] // h_out
    cols = np.arange(w_out) * img.shape[1] // w_out
    return np.ascontiguousarray(img[rows][:, cols])
    ### END SOLUTION

# %% [tests] id=inference_pre_post_test points=2 needs=inference_pre_post
tiny = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
x = preprocess(tiny, (4, 8))
check_array(x, "preprocess(tiny, (4, 8))", shape=(1, 4, 8, 3), dtype=np.float32)
assert x.flags.c_contiguous, "the batch should be C-contiguous (the interpreter copies it as is)"
assert_close(x[0, :, :, 0] * 255, [[0, 0, 0, 30, 30, 30, 60, 60]] * 2 + [[90, 90, 90, 120, 120, 120, 150, 150]] * 2,
             "channel 0 after the nearest resize (8.3), times 255", rtol=1e-6)
photo = images.load_image("astronaut")                  # 512×512
x = preprocess(photo, (64, 32))
check_array(x, "preprocess(photo, (64, 32))", shape=(1, 64, 32, 3), dtype=np.float32)
assert_close(x[0, 5, 7], photo[5 * 8, 7 * 16] / 255, "pixel (5, 7) comes from (40, 112)", rtol=1e-6)
for bad in [(np.zeros((4, 4, 3), np.float32), (4, 4)), (np.zeros((4, 4), np.uint8), (4, 4)), (photo, (30, 32))]:
    try:
        preprocess(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError("preprocess should raise ValueError for a float image, a gray image, or a size not a multiple of 4")
y = np.array([[[[-0.2, 0.5, 1.3], [0.1, 0.999, 0.002]]]], np.float32)      # [1, 1, 2, 3]
img = postprocess(y, (2, 4))
check_array(img, "postprocess(y, (2, 4))", shape=(2, 4, 3), dtype=np.uint8)
assert_equal(img[0], [[0, 128, 255], [0, 128, 255], [26, 255, 1], [26, 255, 1]], "clip, * 255, rint, resize (8.4)")
assert_equal(postprocess(preprocess(photo, (512, 512)), (512, 512)), photo, "pre then post at the same size gives the photo back")
passed("preprocess and postprocess")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(801)
for _shape, _size in [((7, 9, 3), (8, 12)), ((50, 30, 3), (12, 8)), ((16, 16, 3), (16, 16)), ((5, 200, 3), (4, 20))]:
    _im = _rng.integers(0, 256, _shape, dtype=np.uint8)
    _keep = _im.copy()
    _got = preprocess(_im, _size)
    assert type(_got) is np.ndarray and _got.shape == (1,) + tuple(_size) + (3,) and _got.dtype == np.float32, \
        f"hidden: preprocess shape/dtype for {_shape} -> {_size}"
    _ref = np.empty((1,) + tuple(_size) + (3,), np.float64)
    for _i in range(_size[0]):
        for _j in range(_size[1]):
            _ref[0, _i, _j] = _keep[(_i * _shape[0]) // _size[0], (_j * _shape[1]) // _size[1]] / 255.0
    assert float((_got - _ref).__abs__().max()) < 1e-6, f"hidden: preprocess values for {_shape} -> {_size}"
    assert (_im != _keep).sum() == 0, "hidden: preprocess modified its input"
    _y = _rng.uniform(-0.3, 1.3, (1,) + tuple(_size) + (3,)).astype(np.float32)
    _out = postprocess(_y, _shape[:2])
    assert type(_out) is np.ndarray and _out.shape == _shape and _out.dtype == np.uint8, "hidden: postprocess shape/dtype"
    _refo = np.empty(_shape, np.int64)
    for _i in range(_shape[0]):
        for _j in range(_shape[1]):
            for _c in range(3):
                _v = min(max(float(_y[0, (_i * _size[0]) // _shape[0], (_j * _size[1]) // _shape[1], _c]), 0.0), 1.0)
                _refo[_i, _j, _c] = round(_v * 255.0)
    _dif = (_out.astype(np.int64) - _refo).__abs__()
    assert _dif.max() <= 1 and (_dif > 0).sum() <= max(1, _dif.size // 200), "hidden: postprocess values (clip, * 255, rint)"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Exporting to an offline file
#
# Exporting has two steps. First a **SavedModel**: the graph traced from the network for one
# input signature, with the weights. Keras writes one with `model.export(folder)`; the locked
# cell below writes the same function, `serve`, with TensorFlow's `tf.saved_model.save`, which
# traces the network once instead of three times and leaves out Keras's extra endpoints (half
# the time, and the conversions below read a smaller graph). The LiteRT converter then lowers that
# graph to LiteRT's operator set and writes a flatbuffer: one file with every weight and the
# graph, nothing else needed to run it. With the optimization `tf.lite.Optimize.DEFAULT` in the
# converter's list of `optimizations` and no calibration data, the converter applies
# **dynamic-range quantization**, equation
# **(8.5)**: every weight tensor is stored as int8 with one float scale per output channel, and
# the runtime quantizes activations on the fly where an int8 kernel exists.
#
# Write `convert_to_tflite(saved_model_dir, path, int8=False)`: create the converter with
# `tf.lite.TFLiteConverter.from_saved_model`, add the optimization when `int8`, convert, write
# the bytes to `path` (a `Path` or `str`; create its folder), and return `Path(path)`.

# %% [locked] id=inference_saved_model
SAVED_MODEL = OUTPUT / f"style{STYLE}_savedmodel"
_start = time.perf_counter()
_serving = tf.Module()
_serving.serve = tf.function(lambda image: net(image),
                             input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="image")])
tf.saved_model.save(_serving, str(SAVED_MODEL), signatures=_serving.serve)
print(f"SavedModel written to {SAVED_MODEL} in {time.perf_counter() - _start:.1f} s")

# %% [solution] id=inference_convert
def convert_to_tflite(saved_model_dir, path, int8=False):
    """Convert a SavedModel to a LiteRT flatbuffer at `path` (int8 weights if `int8`, (8.5))."""
    ### BEGIN SOLUTION
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if int8:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    flatbuffer = converter.convert()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flatbuffer)
    return path
    ### END SOLUTION

# %%
_start = time.perf_counter()
FLOAT_FILE = convert_to_tflite(SAVED_MODEL, OUTPUT / f"style{STYLE}_float32.tflite")
INT8_FILE = convert_to_tflite(str(SAVED_MODEL), OUTPUT / "int8" / f"style{STYLE}_int8.tflite", int8=True)   # a str; a new folder
print(f"two conversions in {time.perf_counter() - _start:.1f} s")
for f in [FLOAT_FILE, INT8_FILE]:
    print(f"{f.name:<28} {f.stat().st_size / 1024:8.1f} KiB")
with quiet_stderr():      # LiteRT announces its XNNPACK delegate on stderr the first time it runs
    from ai_edge_litert.interpreter import Interpreter
    _it = Interpreter(model_path=str(FLOAT_FILE))
    _it.resize_tensor_input(_it.get_input_details()[0]["index"], [1, 16, 16, 3])
    _it.allocate_tensors()
    _it.invoke()

# %% [locked] id=inference_interpreter_run
from ai_edge_litert.interpreter import Interpreter


def _interpreter_run(path, batch):
    """Run a .tflite file on one batch with LiteRT: (output, interpreter). Used by the tests below."""
    it = Interpreter(model_path=str(path))
    it.resize_tensor_input(it.get_input_details()[0]["index"], batch.shape)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], batch)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]), it

# %% [tests] id=inference_convert_test points=2 needs=inference_convert
for f in [FLOAT_FILE, INT8_FILE]:
    assert isinstance(f, Path) and f.is_file(), f"convert_to_tflite should return the Path of the file it wrote, got {f!r}"
    assert f.read_bytes()[4:8] == b"TFL3", f"{f} is not a LiteRT flatbuffer (bytes 4-8 should be b'TFL3')"
x = np.random.default_rng(3).uniform(0, 1, (1, 32, 48, 3)).astype(np.float32)
y_keras = net(x).numpy()
y_float, it_float = _interpreter_run(FLOAT_FILE, x)
y_int8, it_int8 = _interpreter_run(INT8_FILE, x)
check_array(y_float, "float32 file output", shape=x.shape, dtype=np.float32)
assert_close(y_float, y_keras, "float32 file vs Keras", atol=2e-4, rtol=0)
int8_tensors = sum(d["dtype"] == np.int8 for d in it_int8.get_tensor_details())
assert int8_tensors >= 12, f"the int8 file should store (most of) the 20 convolution kernels as int8, found {int8_tensors} int8 tensors"
assert FLOAT_FILE.stat().st_size > 2.5 * INT8_FILE.stat().st_size, "the int8 file should be about 4× smaller"
assert float(np.abs(y_int8 - y_keras).max()) < 0.3, "int8 output too far from the float network"
passed("convert_to_tflite: float32 and int8 files")
### BEGIN HIDDEN TESTS
assert INT8_FILE == OUTPUT / "int8" / f"style{STYLE}_int8.tflite", "hidden: convert_to_tflite returns Path(path)"
_xb = np.random.default_rng(802).uniform(0, 1, (1, 24, 20, 3)).astype(np.float32)
_yq, _itq = _interpreter_run(INT8_FILE, _xb)
_yk = net(_xb).numpy()
assert type(_yq) is np.ndarray and _yq.shape == _xb.shape, "hidden: int8 file output shape"
assert float((_yq - _yk).__abs__().max()) < 0.3, "hidden: int8 file output"
assert sum(d["dtype"] == np.int8 for d in _itq.get_tensor_details()) >= 12, "hidden: int8 weights"
_yf, _itf = _interpreter_run(FLOAT_FILE, _xb)
assert float((_yf - _yk).__abs__().max()) < 2e-4, "hidden: float32 file output"
assert sum(d["dtype"] == np.int8 for d in _itf.get_tensor_details()) == 0, "hidden: the float32 file must not be quantized"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Running the file with the interpreter
#
# The LiteRT interpreter needs four calls: load the file, give the input tensor its shape
# (`resize_tensor_input`, because our file has unknown $H$ and $W$) and allocate the tensors,
# copy the input in (`set_tensor`), run (`invoke`) and copy the output out (`get_tensor`).
#
# Write `run_tflite(path, batch)`: import `Interpreter` from `ai_edge_litert.interpreter`, run
# the file on a float32 batch `[1, H, W, 3]` and return the output as a NumPy array (a copy:
# the interpreter reuses its buffers). No TensorFlow in this function.

# %% [solution] id=inference_run_tflite
def run_tflite(path, batch):
    """Run a LiteRT file on one float32 batch with the interpreter only; returns a new array."""
    ### BEGIN SOLUTION
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(np.shape(batch)))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, np.ascontiguousarray(batch, dtype=np.float32))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()
    ### END SOLUTION

# %% [tests] id=inference_run_tflite_test points=2 needs=inference_convert,inference_run_tflite
x = np.random.default_rng(4).uniform(0, 1, (1, 16, 24, 3)).astype(np.float32)
y = run_tflite(FLOAT_FILE, x)
check_array(y, "run_tflite(FLOAT_FILE, x)", shape=x.shape, dtype=np.float32)
assert_close(y, net(x).numpy(), "run_tflite vs Keras", atol=2e-4, rtol=0)
passed("run_tflite")
### BEGIN HIDDEN TESTS
for _hw in [(8, 12), (28, 16)]:
    _xb = np.random.default_rng(803 + _hw[0]).uniform(0, 1, (1,) + _hw + (3,)).astype(np.float32)
    _got = run_tflite(str(INT8_FILE), _xb)
    _ref, _ = _interpreter_run(INT8_FILE, _xb)
    assert type(_got) is np.ndarray and _got.shape == _xb.shape and _got.dtype == np.float32, "hidden: run_tflite shape/dtype"
    assert float((_got - _ref).__abs__().max()) < 1e-5, f"hidden: run_tflite on the int8 file at {_hw}"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Proof that the file is self-contained: a process without TensorFlow
#
# This notebook has imported TensorFlow, so running the file here proves nothing about what the
# file needs. Run it in a **fresh Python process** that imports only NumPy and the interpreter.
#
# Write `run_in_fresh_process(model_path, batch)`: save `batch` to a temporary `.npy` file, start
# `sys.executable` on a small script (a string passed with `-c`, or a file you write) that
# records `time.perf_counter()` at its start, loads the batch, runs the model with
# `ai_edge_litert.interpreter.Interpreter`, saves the output to another `.npy` file and prints
# one JSON line `{"pid": os.getpid(), "tensorflow_loaded": "tensorflow" in sys.modules,
# "seconds": <time from its start to the result>}`. Return `(output, report)` with the output
# array and the parsed JSON as a dict. Raise `RuntimeError` with the child's stderr if it fails.

# %% [solution] id=inference_fresh_process
def run_in_fresh_process(model_path, batch):
    """Run a LiteRT file in a new Python process that never imports TensorFlow.
    Returns (output, {"pid", "tensorflow_loaded", "seconds"})."""
    ### BEGIN SOLUTION
    child = '''
import time
start = time.perf_counter()
import json, os, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
model, src, dst = sys.argv[1:4]
x = np.load(src)
it = Interpreter(model_path=model)
i = it.get_input_details()[0]['index']
it.resize_tensor_input(i, list(x.shape))
it.allocate_tensors()
it.set_tensor(i, x)
it.invoke()
np.save(dst, it.get_tensor(it.get_output_details()[0]['index']))
elapsed = time.perf_counter() - start
report = {'pid': os.getpid(), 'tensorflow_loaded': 'tensorflow' in sys.modules, 'seconds': elapsed}
print(json.dumps(report))
'''
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(src, np.ascontiguousarray(batch, dtype=np.float32))
        proc = subprocess.run([sys.executable, "-c", child, str(model_path), str(src), str(dst)],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"the offline process failed:\n{proc.stderr[-2000:]}")
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        return np.load(dst), report
    ### END SOLUTION

# %% [tests] id=inference_fresh_process_test points=2 needs=inference_convert,inference_fresh_process
x = np.random.default_rng(5).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
y, report = run_in_fresh_process(FLOAT_FILE, x)
check_array(y, "output of the fresh process", shape=x.shape, dtype=np.float32)
assert isinstance(report, dict) and {"pid", "tensorflow_loaded", "seconds"} <= set(report), \
    f"the report should be a dict with pid, tensorflow_loaded, seconds; got {report!r}"
assert report["pid"] != os.getpid(), "the model must run in another process"
assert report["tensorflow_loaded"] is False, "the child process imported TensorFlow: the offline run must not"
assert_close(y, net(x).numpy(), "fresh-process output vs Keras", atol=2e-4, rtol=0)
print(f"child process {report['pid']}: first result {report['seconds'] * 1e3:.0f} ms after it started, without TensorFlow")
passed("run_in_fresh_process")
### BEGIN HIDDEN TESTS
with tempfile.TemporaryDirectory() as _tmp:      # a TensorFlow that cannot be imported
    (Path(_tmp) / "tensorflow").mkdir()
    (Path(_tmp) / "tensorflow" / "__init__.py").write_text("raise ImportError('hidden: TensorFlow imported in the offline process')\n")
    _old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _tmp + (os.pathsep + _old if _old else "")
    try:
        _xb = np.random.default_rng(804).uniform(0, 1, (1, 12, 20, 3)).astype(np.float32)
        _got, _rep = run_in_fresh_process(str(INT8_FILE), _xb)
    finally:
        if _old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = _old
_ref, _ = _interpreter_run(INT8_FILE, _xb)
assert type(_got) is np.ndarray and _got.shape == _xb.shape, "hidden: fresh-process output shape"
assert float((_got - _ref).__abs__().max()) < 1e-5, "hidden: fresh-process output values"
assert type(_rep) is dict and _rep["pid"] != os.getpid() and _rep["tensorflow_loaded"] is False, "hidden: report"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. A timing harness: pre-processing, inference, post-processing
#
# The latency a user sees is the sum of three stages, equation **(8.1)**:
# $T = T_{pre} + T_{infer} + T_{post}$. Deployment reports give them separately because each
# has a different fix (the course material measured 0.64 ms / 26.33 ms / 38.60 ms with C++ on
# an accelerator: there post-processing, not the network, was the bottleneck).
#
# Write `time_pipeline(pre, infer, post, image, repeat=10, warmup=2)`: run the chain
# `post(infer(pre(image)))` `warmup` times untimed, then `repeat` times timing each stage with
# `time.perf_counter()`; return a dict of floats in **milliseconds**: `"pre"`, `"infer"`,
# `"post"` (the median of each stage) and `"total"` (the median of the per-run sums). Use the
# median, not the mean: one slow run (a page fault, another process) must not move the result.

# %% [solution] id=inference_timing
def time_pipeline(pre, infer, post, image, repeat=10, warmup=2):
    """Median milliseconds of each stage of post(infer(pre(image))), (8.1), and of the total."""
    ### BEGIN SOLUTION
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for _ in range(warmup):
        _ = post(infer(pre(image)))
    stages = {"pre": [], "infer": [], "post": [], "total": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        x = pre(image)
        t1 = time.perf_counter()
        y = infer(x)
        t2 = time.perf_counter()
        post(y)
        t3 = time.perf_counter()
        for key, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
            stages[key].append(seconds)
    return {key: float(np.median(values)) * 1e3 for key, values in stages.items()}
    ### END SOLUTION

# %% [tests] id=inference_timing_test points=2 needs=inference_timing
calls = []


def fake_pre(img):
    calls.append("pre"); time.sleep(0.002); return img + 1


def fake_infer(x):
    calls.append("infer"); time.sleep(0.010); return x * 2


def fake_post(y):
    calls.append("post"); time.sleep(0.004); calls.append(("out", y)); return y


t = time_pipeline(fake_pre, fake_infer, fake_post, 1, repeat=4, warmup=1)
assert isinstance(t, dict) and set(t) == {"pre", "infer", "post", "total"}, f"keys should be pre, infer, post, total; got {t!r}"
assert all(isinstance(v, float) for v in t.values()), "values should be Python floats (milliseconds)"
assert calls.count("pre") == calls.count("infer") == calls.count("post") == 5, "warmup + repeat runs of each stage"
assert all(c == ("out", 4) for c in calls if isinstance(c, tuple)), "post must receive infer(pre(image))"
assert 2 <= t["pre"] < 40 and 10 <= t["infer"] < 60 and 4 <= t["post"] < 40, f"milliseconds expected, got {t}"
assert t["total"] >= t["infer"] + t["pre"], f"total is the median of the per-run sums, got {t}"
passed("time_pipeline")
### BEGIN HIDDEN TESTS
_n = {"infer": 0}


def _slow_once(x):
    _n["infer"] += 1
    time.sleep(0.25 if _n["infer"] == 3 else 0.003)      # the first timed run is very slow
    return x


_t = time_pipeline(lambda im: im, _slow_once, lambda y: y, 0, repeat=5, warmup=2)
assert type(_t) is dict and all(type(_t[_k]) is float for _k in ("pre", "infer", "post", "total")), "hidden: dict of floats"
assert _n["infer"] == 7, "hidden: warmup + repeat calls"
assert 3 <= _t["infer"] < 60, f"hidden: the median ignores one slow run (got {_t['infer']:.1f} ms)"
assert _t["pre"] < 20 and _t["post"] < 20, "hidden: empty stages take almost no time"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Accuracy across platforms
#
# The same network gives slightly different numbers on different runtimes: other kernels sum
# in another order (float32 rounding, about $10^{-6}$ relative), and int8 weights change the
# result by much more. Two measures, equation **(8.6)**: the **maximum absolute error**
# $\max_i |a_i - b_i|$ and the **peak signal-to-noise ratio**
# $\mathrm{PSNR} = 10 \log_{10}\big(\mathrm{peak}^2 / \mathrm{MSE}\big)$ in dB, with
# $\mathrm{MSE} = \frac{1}{n}\sum_i (a_i - b_i)^2$, computed in float64. Identical arrays have
# an infinite PSNR (return `float("inf")`); 40 dB is invisible, 30 dB is a close copy.
#
# Write `max_abs_error(a, b)` and `psnr(a, b, peak=1.0)`, both returning Python floats, with a
# `ValueError` when the shapes differ.

# %% [solution] id=inference_accuracy
def max_abs_error(a, b):
    """max |a - b| as a float, (8.6)."""
    ### BEGIN SOLUTION
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return float(np.abs(a - b).max())
    ### END SOLUTION


def psnr(a, b, peak=1.0):
    """Peak signal-to-noise ratio in dB, (8.6); inf for identical arrays."""
    ### BEGIN SOLUTION
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(peak ** 2 / mse))
    ### END SOLUTION

# %% [tests] id=inference_accuracy_test points=1 needs=inference_accuracy
a = np.array([0.0, 0.5, 1.0, 0.25], np.float32)
b = np.array([0.1, 0.5, 0.9, 0.25], np.float32)
e = max_abs_error(a, b)
assert isinstance(e, float) and abs(e - 0.1) < 1e-6, f"max_abs_error: expected 0.1, got {e!r}"
p = psnr(a, b)
assert isinstance(p, float) and abs(p - 23.0103) < 1e-3, f"psnr: MSE = 0.005, 10 log10(1 / 0.005) = 23.0103 dB, got {p!r}"
assert abs(psnr(a * 255, b * 255, peak=255) - 23.0103) < 1e-3, "psnr with peak=255 on 0..255 data"
assert psnr(a, a) == float("inf"), "identical arrays: PSNR = inf"
try:
    max_abs_error(a, b[:3])
except ValueError:
    pass
else:
    raise AssertionError("max_abs_error should raise ValueError for different shapes")
passed("max_abs_error and psnr")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(806)
_a = _rng.uniform(0, 1, (3, 5, 4)).astype(np.float32)
_b = (_a + _rng.normal(0, 0.02, _a.shape)).astype(np.float32)
_d = _a.astype(np.float64) - _b.astype(np.float64)
_e, _p, _p2 = max_abs_error(_a, _b), psnr(_a, _b), psnr(_a, _b, peak=2.0)
assert type(_e) is float and type(_p) is float and type(_p2) is float, "hidden: Python floats"
assert abs(_e - float(_d.__abs__().max())) < 1e-9, "hidden: max_abs_error"
_mse = float((_d * _d).mean())
assert abs(_p - 10 * float(np.log10(1.0 / _mse))) < 1e-6, "hidden: psnr"
assert abs(_p2 - 10 * float(np.log10(4.0 / _mse))) < 1e-6, "hidden: psnr with peak"
try:
    psnr(_a, _b[:2])
    _raised = False
except ValueError:
    _raised = True
assert _raised, "hidden: psnr shape check"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. A custom operator: PowerDifference in NumPy
#
# The course material adds an operator to TensorFlow: $\mathrm{PowerDifference}(x, y, z) =
# (x - y)^z$, equation **(8.7)**, element-wise for $x$ and $y$ of the same shape and a scalar
# exponent $z$. With $d = x - y$ its gradients, equation **(8.8)**, are
#
# $$ \frac{\partial L}{\partial x} = g\, z\, d^{z-1}, \qquad \frac{\partial L}{\partial y} = -g\, z\, d^{z-1},
# \qquad \frac{\partial L}{\partial z} = \sum_i g_i\, d_i^{z} \ln d_i , $$
#
# where $g = \partial L / \partial \mathrm{out}$ is the upstream gradient. $\ln d$ exists only
# for $d > 0$: like TensorFlow's own `pow`, use $0$ in place of $d^z \ln d$ where $d \le 0$
# (for an integer $z$ the forward value is still defined there).
#
# Write `power_difference_forward(x, y, z)` returning `(out, cache)` and
# `power_difference_backward(dout, cache)` returning `(dx, dy, dz)` — `dx`, `dy` arrays like
# `x`, `dz` a Python float. Keep the dtype of `x`; raise `ValueError` if `x` and `y` differ in
# shape.

# %% [solution] id=inference_power_difference_np
def power_difference_forward(x, y, z):
    """out = (x - y) ** z, (8.7); returns (out, cache)."""
    ### BEGIN SOLUTION
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    d = (x - y).astype(x.dtype)
    z = float(z)
    out = np.power(d, x.dtype.type(z)) if x.dtype.kind == "f" else np.power(d, z)
    return out, (d, z, out)
    ### END SOLUTION


def power_difference_backward(dout, cache):
    """Gradients (dx, dy, dz) of PowerDifference, (8.8); dz is a float."""
    ### BEGIN SOLUTION
    d, z, out = cache
    dout = np.asarray(dout)
    local = z * np.power(d, d.dtype.type(z - 1)) if d.dtype.kind == "f" else z * np.power(d, z - 1)
    dx = (dout * local).astype(d.dtype)
    positive = d > 0
    log_d = np.log(np.where(positive, d, 1))
    dz = float(np.sum(np.where(positive, dout * out * log_d, 0)))
    return dx, -dx, dz
    ### END SOLUTION

# %% [tests] id=inference_power_difference_np_test points=3 needs=inference_power_difference_np
from source_lib.gradcheck import numerical_gradient, rel_error

out, cache = power_difference_forward(np.array([3.0, 1.0, 2.5]), np.array([1.0, 3.0, 2.5]), 2.0)
check_array(out, "PowerDifference([3, 1, 2.5], [1, 3, 2.5], 2)", shape=(3,), dtype=np.float64)
assert_close(out, [4.0, 4.0, 0.0], "(x - y)^2")
dx, dy, dz = power_difference_backward(np.ones(3), cache)
assert_close(dx, [4.0, -4.0, 0.0], "dx = z (x - y)^(z-1)")
assert_close(dy, [-4.0, 4.0, 0.0], "dy = -dx")
assert isinstance(dz, float) and abs(dz - 4 * np.log(2)) < 1e-9, f"dz = sum g d^z ln d over d > 0 = 4 ln 2, got {dz!r}"
rng = np.random.default_rng(7)
x = rng.uniform(1.0, 2.0, (3, 4))
y = rng.uniform(0.0, 0.9, (3, 4))
g = rng.normal(size=(3, 4))
z = 2.7
_, cache = power_difference_forward(x, y, z)
dx, dy, dz = power_difference_backward(g, cache)
num_dx = numerical_gradient(lambda v: power_difference_forward(v, y, z)[0], x.copy(), g)
num_dy = numerical_gradient(lambda v: power_difference_forward(x, v, z)[0], y.copy(), g)
num_dz = numerical_gradient(lambda v: power_difference_forward(x, y, v[0])[0], np.array([z]), g)[0]
assert rel_error(dx, num_dx) < 1e-6 and rel_error(dy, num_dy) < 1e-6, "dx or dy differ from the numerical gradient"
assert abs(dz - num_dz) < 1e-6 * max(1.0, abs(num_dz)), f"dz: got {dz}, numerical {num_dz}"
o32, _ = power_difference_forward(x.astype(np.float32), y.astype(np.float32), 2)
check_array(o32, "float32 output", shape=x.shape, dtype=np.float32)
passed("PowerDifference in NumPy")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(807)
for _shape, _z, _lo in [((2, 3, 4), 3.0, -1.0), ((5,), 2.0, -1.0), ((4, 4), 1.5, 0.2), ((3, 2), 0.5, 0.3)]:
    _x = _rng.uniform(_lo, 1.5, _shape)
    _y = _rng.uniform(-0.2, 0.1, _shape)
    _g = _rng.normal(size=_shape)
    _o, _c = power_difference_forward(_x, _y, _z)
    _d = _x - _y
    assert type(_o) is np.ndarray and _o.shape == _shape and _o.dtype == np.float64, "hidden: forward shape/dtype"
    assert float((_o - _d ** _z).__abs__().max()) < 1e-12, f"hidden: forward values z={_z}"
    _dx, _dy, _dz = power_difference_backward(_g, _c)
    assert type(_dx) is np.ndarray and type(_dy) is np.ndarray and type(_dz) is float, "hidden: backward types"
    _rdx = _g * _z * _d ** (_z - 1)
    assert float((_dx - _rdx).__abs__().max()) < 1e-10 and float((_dy + _rdx).__abs__().max()) < 1e-10, f"hidden: dx, dy z={_z}"
    _pos = _d > 0
    _rdz = float((_g * _d ** _z * np.log(np.where(_pos, _d, 1.0)) * _pos).sum())
    assert abs(_dz - _rdz) < 1e-9 * max(1.0, abs(_rdz)), f"hidden: dz z={_z}"
try:
    power_difference_forward(np.ones(3), np.ones(4), 2.0)
    _raised = False
except ValueError:
    _raised = True
assert _raised, "hidden: shape check"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. PowerDifference as a TensorFlow operator with its gradient
#
# TensorFlow's own operators are C++ classes registered three times: the op's signature
# (`REGISTER_OP`), one kernel per device and dtype (`REGISTER_KERNEL_BUILDER`), and a gradient
# function in Python (`@ops.RegisterGradient`) — the book page points to the real files. From
# Python, `@tf.custom_gradient` registers a forward computation built from existing ops together
# with **your** gradient function, which TensorFlow then uses instead of differentiating the
# forward ops; in a graph it appears as an `IdentityN` node carrying a `CustomGradient-…`
# gradient override.
#
# Write `power_difference(x, y, z)` with `@tf.custom_gradient`: the forward value (8.7) from
# TensorFlow ops and a `grad(upstream)` that returns the three gradients of (8.8) (`dz` reduced
# to the shape of `z`, a scalar; 0 where $d \le 0$, as before). Then write `content_loss(a, b)`
# $= \mathrm{mean}\,\mathrm{PowerDifference}(a, b, 2)$, equation **(8.9)**: the squared-error
# loss of chapter 6 written with your operator.

# %% [solution] id=inference_power_difference_tf
@tf.custom_gradient
def power_difference(x, y, z):
    """(x - y) ** z as a TensorFlow op with a hand-written gradient, (8.7) and (8.8)."""
    ### BEGIN SOLUTION
    x = tf.convert_to_tensor(x)
    y = tf.convert_to_tensor(y, dtype=x.dtype)
    z = tf.convert_to_tensor(z, dtype=x.dtype)
    d = x - y
    out = tf.pow(d, z)

    def grad(upstream):
        local = upstream * z * tf.pow(d, z - 1)
        positive = d > 0
        log_d = tf.where(positive, tf.math.log(tf.where(positive, d, tf.ones_like(d))), tf.zeros_like(d))
        dz = tf.reshape(tf.reduce_sum(upstream * out * log_d), tf.shape(z))
        return local, -local, dz

    return out, grad
    ### END SOLUTION


def content_loss(a, b):
    """mean(PowerDifference(a, b, 2)), (8.9): the squared-error loss with the custom op."""
    ### BEGIN SOLUTION
    a = tf.convert_to_tensor(a)
    return tf.reduce_mean(power_difference(a, tf.convert_to_tensor(b, dtype=a.dtype), tf.constant(2.0, a.dtype)))
    ### END SOLUTION

# %% [tests] id=inference_power_difference_tf_test points=3 needs=inference_power_difference_tf
rng = np.random.default_rng(8)
x = tf.constant(rng.uniform(1.0, 2.0, (2, 3, 4)))
y = tf.constant(rng.uniform(0.0, 0.9, (2, 3, 4)))
z = tf.constant(2.5, tf.float64)
with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, y, z])
    ours = power_difference(x, y, z)
    builtin = tf.pow(x - y, z)
assert isinstance(ours, tf.Tensor), f"power_difference should return a tf.Tensor, got {type(ours).__name__}"
assert_close(ours.numpy(), builtin.numpy(), "PowerDifference vs tf.pow(x - y, z)", rtol=1e-12)
for name, var in [("x", x), ("y", y), ("z", z)]:
    g_ours, g_builtin = tape.gradient(ours, var), tape.gradient(builtin, var)
    assert g_ours is not None, f"no gradient with respect to {name}"
    assert_close(np.asarray(g_ours.numpy()), np.asarray(g_builtin.numpy()), f"gradient with respect to {name}", rtol=1e-10)
graph = tf.function(power_difference).get_concrete_function(x, y, z).graph
assert any(op.type == "IdentityN" for op in graph.get_operations()), \
    "power_difference should be decorated with @tf.custom_gradient (no IdentityN node in its graph)"
a = tf.constant(rng.normal(size=(1, 8, 8, 3)).astype(np.float32))
b = tf.constant(rng.normal(size=(1, 8, 8, 3)).astype(np.float32))
with tf.GradientTape(persistent=True) as tape:
    tape.watch(a)
    loss, ref = content_loss(a, b), tf.reduce_mean(tf.math.squared_difference(a, b))
assert_close(np.asarray(loss.numpy(), np.float64), np.asarray(ref.numpy(), np.float64), "content_loss vs mean squared difference", rtol=1e-6)
assert_close(tape.gradient(loss, a).numpy(), tape.gradient(ref, a).numpy(), "gradient of content_loss", rtol=1e-5, atol=1e-9)
passed("power_difference (tf.custom_gradient) and content_loss")
### BEGIN HIDDEN TESTS
from source_lib.gradcheck import numerical_gradient as _numerical_gradient
_rng = np.random.default_rng(808)
for _shape, _z, _lo in [((3, 5), 3.0, -1.0), ((2, 2, 2), 1.7, 0.5), ((6,), 2.0, -1.0)]:
    _xv = _rng.uniform(_lo, 1.5, _shape)
    _yv = _rng.uniform(-0.2, 0.2, _shape)
    _gv = _rng.normal(size=_shape)
    _x, _y, _z_t = tf.constant(_xv), tf.constant(_yv), tf.constant(_z, tf.float64)
    with tf.GradientTape() as _tape:
        _tape.watch([_x, _y, _z_t])
        _o = power_difference(_x, _y, _z_t)
        _l = tf.reduce_sum(_o * _gv)
    _gx, _gy, _gz = _tape.gradient(_l, [_x, _y, _z_t])
    _d = _xv - _yv
    assert type(_o.numpy()) is np.ndarray and _o.shape == _shape, "hidden: output shape"
    assert float((_o.numpy() - _d ** _z).__abs__().max()) < 1e-12, "hidden: forward"
    _num = lambda _f, _v: _numerical_gradient(_f, _v.copy(), _gv)
    _ngx = _num(lambda _t: (_t - _yv) ** _z, _xv)
    _ngy = _num(lambda _t: (_xv - _t) ** _z, _yv)
    assert float((_gx.numpy() - _ngx).__abs__().max()) < 1e-6 * max(1.0, float(_ngx.__abs__().max())), "hidden: dx vs numerical"
    assert float((_gy.numpy() - _ngy).__abs__().max()) < 1e-6 * max(1.0, float(_ngy.__abs__().max())), "hidden: dy vs numerical"
    _pos = _d > 0
    _rdz = float((_gv * np.where(_pos, _d, 1.0) ** _z * np.log(np.where(_pos, _d, 1.0)) * _pos).sum())
    assert _gz is not None and _gz.shape == () and abs(float(_gz.numpy()) - _rdz) < 1e-8 * max(1.0, abs(_rdz)), "hidden: dz"
_a = tf.constant(_rng.normal(size=(2, 5, 3)))
_b = tf.constant(_rng.normal(size=(2, 5, 3)))
with tf.GradientTape() as _tape:
    _tape.watch(_a)
    _loss = content_loss(_a, _b)
_ga = _tape.gradient(_loss, _a)
_ref = ((_a.numpy() - _b.numpy()) ** 2).mean()
assert abs(float(_loss.numpy()) - _ref) < 1e-12, "hidden: content_loss value"
assert float((_ga.numpy() - 2 * (_a.numpy() - _b.numpy()) / _a.numpy().size).__abs__().max()) < 1e-12, "hidden: content_loss gradient"
_fg = tf.function(power_difference).get_concrete_function(_a, _b, tf.constant(2.0, tf.float64)).graph
assert any(_op.type == "IdentityN" and _op.get_attr("_gradient_op_type").decode().startswith("CustomGradient")
           for _op in _fg.get_operations() if _op.type == "IdentityN"), "hidden: tf.custom_gradient registration"
### END HIDDEN TESTS

# %% [markdown]
# ## 9. Experiment: online against offline, stage by stage
#
# The same photograph, the same pre- and post-processing (yours), five ways to run the
# network: **online** — Keras eager (op by op), `tf.function` (a traced graph), XLA
# (`jit_compile=True`, the graph compiled into fused kernels at the first call) — and
# **offline** — the LiteRT float32 and int8 files, plus the original ONNX file in onnxruntime.
# The first call of the graph and XLA versions includes tracing and compiling: the cell reports
# it separately as "first call" (XLA runs in full mode only: its compilation takes seconds).
# Timings on a shared machine are noisy; compare the rows of one run.

# %% [demo]
import onnxruntime as ort
from ai_edge_litert.interpreter import Interpreter

SIZE = config.pick(256, 64)
REPEAT = config.pick(10, 3)
photo = images.load_image("chelsea")                 # 451×300 cat, CC0 (scikit-image)
out_hw = photo.shape[:2]


class LiteRTRunner:
    """Load once, resize once: what a deployed offline runtime keeps between requests."""

    def __init__(self, path):
        self.it = Interpreter(model_path=str(path))
        self.index = self.it.get_input_details()[0]["index"]
        self.shape = None

    def __call__(self, batch):
        if batch.shape != self.shape:
            self.it.resize_tensor_input(self.index, batch.shape)
            self.it.allocate_tensors()
            self.shape = batch.shape
        self.it.set_tensor(self.index, batch)
        self.it.invoke()
        return self.it.get_tensor(self.it.get_output_details()[0]["index"]).copy()


_ort = ort.InferenceSession(str(multistyle.onnx_path()), providers=["CPUExecutionProvider"])
_onehot = multistyle.one_hot(STYLE)
graph_fn = tf.function(lambda t: net(t))
xla_fn = tf.function(lambda t: net(t), jit_compile=True)
runners = {
    "online eager": lambda b: net(b).numpy(),
    "online graph": lambda b: graph_fn(tf.constant(b)).numpy(),
    "offline LiteRT float32": LiteRTRunner(FLOAT_FILE),
    "offline LiteRT int8": LiteRTRunner(INT8_FILE),
    "offline ONNX (onnxruntime)": lambda b: _ort.run(None, {"image": np.ascontiguousarray(b.transpose(0, 3, 1, 2)),
                                                              "style_weights": _onehot})[0].transpose(0, 2, 3, 1),
}
if not config.small():          # compiling with XLA takes several seconds: full mode only
    runners = {**dict(list(runners.items())[:2]), "online XLA": lambda b: xla_fn(tf.constant(b)).numpy(),
               **dict(list(runners.items())[2:])}
pre = lambda im: preprocess(im, (SIZE, SIZE))
post = lambda y: postprocess(y, out_hw)
batch = pre(photo)
timings, first_call, outputs = {}, {}, {}
for name, run in progress(runners.items(), desc="runtimes", total=len(runners)):
    start = time.perf_counter()
    outputs[name] = np.asarray(run(batch))
    first_call[name] = (time.perf_counter() - start) * 1e3
    timings[name] = time_pipeline(pre, run, post, photo, repeat=REPEAT, warmup=1)
print(f"{SIZE}×{SIZE}, batch 1, median of {REPEAT}; {os.cpu_count()} CPU cores")
print(f"{'runtime':<28} {'first call':>10} {'pre (ms)':>9} {'infer (ms)':>10} {'post (ms)':>9} {'total':>8}")
for name, t in timings.items():
    print(f"{name:<28} {first_call[name]:>10.0f} {t['pre']:>9.2f} {t['infer']:>10.1f} {t['post']:>9.2f} {t['total']:>8.1f}")

fig, ax = plt.subplots(figsize=(7, 3.2))
names = list(timings)
left = np.zeros(len(names))
for stage, color in [("pre", "tab:green"), ("infer", "tab:blue"), ("post", "tab:orange")]:
    vals = np.array([timings[n][stage] for n in names])
    ax.barh(names, vals, left=left, color=color, label=stage)
    left += vals
ax.invert_yaxis(); ax.set_xlabel("milliseconds (median, batch 1)"); ax.legend()
ax.set_title(f"style network, {SIZE}×{SIZE}, {os.cpu_count()} CPU cores")
fig.tight_layout()
fig.savefig(OUTPUT / "stages.png", dpi=100)
plt.show()

# %% [markdown]
# ## 10. Experiment: how far apart are the platforms?
#
# The ONNX file run by onnxruntime is the reference. Float32 runtimes differ from it only by
# rounding; the int8 file differs by the quantization of its weights, (8.5).

# %% [demo]
reference = outputs["offline ONNX (onnxruntime)"]
print(f"{'runtime':<28} {'max |error|':>12} {'PSNR (dB)':>10}")
for name, y in outputs.items():
    print(f"{name:<28} {max_abs_error(y, reference):>12.2e} {psnr(y, reference):>10.1f}")

shown = ["online graph", "offline LiteRT float32", "offline LiteRT int8"]
fig, axes = plt.subplots(1, 5, figsize=(13, 3))
axes[0].imshow(photo); axes[0].set_title("input")
for ax, name in zip(axes[1:4], shown):
    ax.imshow(post(outputs[name])); ax.set_title(name, fontsize=9)
diff = np.abs(outputs["offline LiteRT int8"] - reference)[0].max(axis=-1)
axes[4].imshow(diff, cmap="magma", vmin=0, vmax=max(0.05, float(diff.max())))
axes[4].set_title("|int8 - ONNX|, max over RGB", fontsize=9)
for ax in axes:
    ax.axis("off")
fig.tight_layout()
fig.savefig(OUTPUT / "platforms.png", dpi=100)
plt.show()

# %% [markdown]
# ## 11. Experiment: cold start
#
# A command-line tool or a serverless function starts a new process for every request, and
# then the time to the **first** result is what counts, equation **(8.2)**: start the
# interpreter, import the runtime, load the model, run once. Your `run_in_fresh_process`
# measured the offline path. The cell below measures the online path in the same way: a fresh
# process that imports TensorFlow, loads the SavedModel and runs it once (full mode only: it
# costs several seconds). `bench/inference.py` repeats both and reports the ratio.

# %% [demo]
_, offline_report = run_in_fresh_process(FLOAT_FILE, batch)
print(f"offline (LiteRT, no TensorFlow): first result {offline_report['seconds']:.2f} s after the process started")
ONLINE_CHILD = (
    "import time; start = time.perf_counter()\n"
    "import os, sys, json; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'\n"
    "import numpy as np, tensorflow as tf\n"
    "model = tf.saved_model.load(sys.argv[1])\n"
    "x = tf.constant(np.load(sys.argv[2]))\n"
    "model.serve(x).numpy()\n"
    "print(json.dumps({'seconds': time.perf_counter() - start}))\n")
if not config.small():
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", batch)
        proc = subprocess.run([sys.executable, "-c", ONLINE_CHILD, str(SAVED_MODEL), str(Path(tmp) / "x.npy")],
                              capture_output=True, text=True, timeout=300)
    online_seconds = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    print(f"online (TensorFlow + SavedModel): first result {online_seconds:.2f} s "
          f"-> offline is {online_seconds / offline_report['seconds']:.0f}× faster to start")
else:
    print("(quick/grading mode: the online cold start is measured in full mode and by bench/inference.py)")

# %% [markdown]
# ## 12. Experiment: the custom operator in a loss, and its speed
#
# Use your `content_loss` where chapter 6 used a squared difference: the loss between the
# stylised photograph and the photograph itself, differentiated with respect to the input
# image through the whole transform network. It must give the same loss and the same gradient
# as `tf.reduce_mean(tf.math.squared_difference(...))`. Then compare the speed of the NumPy
# operator (forward + backward) and the TensorFlow one (eager and `tf.function`).

# %% [demo]
content = tf.constant(batch)
with tf.GradientTape(persistent=True) as tape:
    tape.watch(content)
    styled = net(content)
    loss_custom = content_loss(styled, content)
    loss_builtin = tf.reduce_mean(tf.math.squared_difference(styled, content))
g_custom, g_builtin = tape.gradient(loss_custom, content), tape.gradient(loss_builtin, content)
print(f"loss: custom {float(loss_custom):.6f}, built-in {float(loss_builtin):.6f}; "
      f"gradient max |difference| {float(tf.reduce_max(tf.abs(g_custom - g_builtin))):.1e} "
      f"(gradient scale {float(tf.reduce_max(tf.abs(g_builtin))):.1e})")

n = config.pick(1_000_000, 20_000)
rng = np.random.default_rng(9)
xa, ya = rng.uniform(1, 2, n).astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)
ga = np.ones(n, np.float32)
xt, yt, zt = tf.constant(xa), tf.constant(ya), tf.constant(3.0)


def tf_forward_backward(x, y, z):
    with tf.GradientTape() as tape:
        tape.watch([x, y, z])
        out = power_difference(x, y, z)
    return tape.gradient(out, [x, y, z])


tf_graph_fb = tf.function(tf_forward_backward)
speed = {
    "numpy": lambda: power_difference_backward(ga, power_difference_forward(xa, ya, 3.0)[1]),
    "tf eager": lambda: tf_forward_backward(xt, yt, zt),
    "tf.function": lambda: tf_graph_fb(xt, yt, zt),
}
from source_lib.timing import median_time

for name, fn in speed.items():
    print(f"{name:<12} forward + backward on {n:,} floats: {median_time(fn, repeat=REPEAT) * 1e3:7.2f} ms")

# %% [markdown]
# ## 13. Your own network from chapter 6, offline
#
# The same path for the network **you** trained in chapter 6 (ungraded).
# `train_style.find_trained()` finds its SavedModel: `$COURSE_TRAINED_STYLE` if set, then the
# chapter 6 notebook's `output/fast_style/` beside this notebook's folder (assignments sit side
# by side after `nbgrader fetch`), then `data/models/*/` (written by
# `python -m source_lib.train_style --out data/models/<name>`). Its `serve` takes the image
# *and* the style weights, so `train_style.export_single_input` first re-saves it with one input
# of a fixed size (the photograph's, the style weights fixed; with unknown $H$ and $W$ the
# converter cannot lower the convolutions after its `tf.repeat` upsampling). Your
# `convert_to_tflite` writes the float32 file, your `run_in_fresh_process` runs it without
# TensorFlow, and your `max_abs_error` and `psnr` compare it with the online run (the
# SavedModel in TensorFlow). If nothing is found, the cell says where it looked.

# %% [demo]
from source_lib import train_style

try:
    own_dir = train_style.find_trained()
except FileNotFoundError as err:          # $COURSE_TRAINED_STYLE points at something else
    own_dir = None
    print(err)
if own_dir is None:
    print(train_style.trained_hint())
else:
    print(f"your network: {own_dir}")
    try:
        own_online = train_style.load_savedmodel(own_dir)(batch)
        with quiet_stderr():
            own_saved = train_style.export_single_input(own_dir, OUTPUT / "own_savedmodel", batch.shape)
            own_file = convert_to_tflite(own_saved, OUTPUT / "own_float32.tflite")
        own_offline, own_report = run_in_fresh_process(own_file, batch)
        print(f"{own_file} ({own_file.stat().st_size / 1024:.1f} KiB), {SIZE}×{SIZE}: run in process "
              f"{own_report['pid']} (TensorFlow loaded: {own_report['tensorflow_loaded']}, first result after "
              f"{own_report['seconds']:.2f} s)")
        print(f"offline LiteRT float32 vs online TensorFlow: max |error| {max_abs_error(own_offline, own_online):.2e}, "
              f"PSNR {psnr(own_offline, own_online):.1f} dB")
    except Exception as err:              # ungraded: a network that does not export is reported, not fatal
        print(f"could not export or run it: {type(err).__name__}: {next(iter(str(err).strip().splitlines()), '')[:300]}")

# %% [markdown]
# ## Check yourself
#
# 1. Which of the three stages of (8.1) would you move to the accelerator first if
#    post-processing took 38 ms and inference 26 ms? What else could you do about it?
# 2. Why does the graph mode pay a large first call and the LiteRT file almost none? Where
#    did the LiteRT file pay that cost instead?
# 3. Dynamic-range quantization stores int8 weights but keeps float activations. Where does
#    the remaining error of the int8 file come from, and why is the instance norm a hard layer
#    for full integer quantization?
# 4. What can you still change in a deployed LiteRT file, and what needs a new export?
#    (Image size? Style? Batch size? Number of threads?)
# 5. Derive $\partial L / \partial z$ in (8.8). Why does it need $d > 0$, while
#    $\partial L / \partial x$ is defined for $d < 0$ when $z$ is an integer?
# 6. `tf.custom_gradient` registers a gradient for a Python function. What do the C++
#    `REGISTER_OP` and `REGISTER_KERNEL_BUILDER` add that it cannot?
