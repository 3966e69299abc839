"""Convert a Keras model to LiteRT (TensorFlow Lite) flatbuffers, run them, and read their ops.

(Defined in chapter 7, int8 quantization; used again in chapters 8 and 9.)

Four conversions, `MODES`:

* ``"float32"``  — the plain float model;
* ``"float16"``  — weights stored as float16 (half the size), computed in float32;
* ``"dynamic"``  — dynamic-range quantization: int8 weights, activations quantized on the fly
  per call (no calibration data needed);
* ``"int8"``     — full-integer quantization: int8 weights and int8 activations whose ranges
  are calibrated on a *representative data set* (a list of input arrays). Model input and output
  stay float32 (a QUANTIZE op enters the int8 path, a DEQUANTIZE leaves it); ops without an
  int8 kernel run in float between extra QUANTIZE/DEQUANTIZE pairs.

Keras 3 note: conversion goes through ``model.export(folder)`` (a SavedModel) and
``tf.lite.TFLiteConverter.from_saved_model``; converting from concrete functions fails during
int8 calibration. Give the model a static input shape (``keras.Input(batch_size=1, shape=...)``).

Small API::

    flat = convert(model, "int8", representative=[x1, x2, ...])   # bytes (optionally path=...)
    flat = convert(model, "int8", representative=xs, float_ops=("MEAN", "RSQRT"))  # keep ops float
    flat = convert_saved_model(folder, "dynamic")   # a SavedModel folder with one static input
    runner = Runner(flat, num_threads=2); y = runner(x)           # float32 in, float32 out
    interpreter(flat, xnnpack=False)   # a raw ai_edge_litert Interpreter
    ops(flat)             # [{'index', 'op', 'inputs', 'outputs', 'int8'}] in execution order
    op_counts(flat)       # {'CONV_2D': {'int8': 18}, 'MEAN': {'float': 36}, ...}
    format_op_counts(flat)  # the same as a text table
    latency(flat, x)      # median seconds per call
    latencies({"f32": flat32, "int8": flat8, "tf": fn}, x)   # interleaved, {name: seconds}
    psnr(a, b)            # dB, images in [0, 1]

Bad input raises: an unknown mode, int8 without (or with an empty, or non-finite)
representative set -> ValueError; a missing .tflite file -> FileNotFoundError; an input of the
wrong shape -> ValueError naming the expected shape.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

MODES = ("float32", "float16", "dynamic", "int8")
INT_TYPES = ("int8", "uint8", "int16", "int32")


def _check_inputs(arrays, name: str) -> list[np.ndarray]:
    if arrays is None:
        raise ValueError(f"{name} is required for full-integer (int8) conversion")
    arrays = [np.asarray(a, np.float32) for a in arrays]
    if not arrays:
        raise ValueError(f"{name} is empty: give at least one input array for calibration")
    for a in arrays:
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or Inf")
    return arrays


def convert(model, mode: str = "float32", representative=None, path: str | Path | None = None,
            float_ops=()) -> bytes:
    """Convert a Keras model (static input shape) to a LiteRT flatbuffer; return its bytes.

    `mode` is one of `MODES`. `representative` (a list of input arrays shaped like the model's
    input, batch included) is required for ``"int8"`` and ignored otherwise. `float_ops` (int8
    only) names op kinds to keep in float, e.g. ``("MEAN", "RSQRT")`` — done with TensorFlow's
    quantization debugger (its ``denylisted_ops``). If `path` is given the flatbuffer is also
    written there.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    samples = _check_inputs(representative, "representative") if mode == "int8" else None
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")          # silence "Assets written to ..." from model.export
    try:
        with tempfile.TemporaryDirectory() as folder:
            saved = os.path.join(folder, "saved_model")
            model.export(saved, verbose=False)
            flat = _convert(tf, saved, mode, samples, float_ops)
    finally:
        logger.setLevel(level)
    return _write(flat, path)


def convert_saved_model(folder, mode: str = "float32", representative=None, path: str | Path | None = None,
                        float_ops=()) -> bytes:
    """Like `convert`, from a SavedModel folder whose serving signature takes one input — e.g. a
    chapter 6 network re-saved by `source_lib.train_style.export_single_input` with a static
    shape (needed for ``"int8"`` calibration and for `Runner`)."""
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not (Path(folder) / "saved_model.pb").is_file():
        raise FileNotFoundError(f"no SavedModel (saved_model.pb) in {folder}")
    samples = _check_inputs(representative, "representative") if mode == "int8" else None
    return _write(_convert(tf, str(folder), mode, samples, float_ops), path)


def _write(flat: bytes, path) -> bytes:
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(flat)
    return flat


def _convert(tf, saved, mode, samples, float_ops=()) -> bytes:
    """Convert the SavedModel folder `saved` (the shared part of both entry points)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode == "int8":
        converter.representative_dataset = lambda: ([s] for s in samples)
    if mode == "int8" and float_ops:
        return convert_keeping_float(converter, samples, float_ops)
    return converter.convert()


def convert_keeping_float(converter, samples, float_ops) -> bytes:
    """Full int8 except the op types `float_ops` (e.g. ``("PRELU",)``), which stay float32 between
    DEQUANTIZE/QUANTIZE: the quantization debugger's deny-list. `converter` is a configured
    ``tf.lite.TFLiteConverter`` with its representative data set; `samples` are model inputs
    (with the batch axis). Used by `convert` (chapter 7) and bench/super_resolution.py (chapter 9)."""
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops))
    with warnings.catch_warnings():      # the debugger uses the deprecated tf.lite.Interpreter
        warnings.simplefilter("ignore")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([s] for s in samples[:1]), debug_options=options)
        return debugger.get_nondebug_quantized_model()


def _content(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"no LiteRT model at {path}")
    return path.read_bytes()


def interpreter(model, num_threads: int | None = 2, xnnpack: bool = True):
    """An allocated `ai_edge_litert.interpreter.Interpreter` for flatbuffer bytes or a .tflite path.

    `xnnpack=False` runs LiteRT's built-in kernels only (no XNNPACK delegate): the ops are then
    listed one by one, as converted, instead of being grouped into DELEGATE nodes.
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_content=_content(model), num_threads=num_threads,
                         experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    return interp


class Runner:
    """Call a LiteRT model like a function: ``Runner(flat)(x) -> y`` (one input, one output).

    Float inputs are quantized if the model's input is integer (scale and zero point read from
    the model), and integer outputs dequantized, so callers always see float32.
    """

    def __init__(self, model, num_threads: int | None = 2, xnnpack: bool = True):
        self.interpreter = interpreter(model, num_threads, xnnpack)
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"Runner handles one input and one output, the model has {len(inputs)} and {len(outputs)}")
        self.input, self.output = inputs[0], outputs[0]
        self.input_shape = tuple(int(d) for d in self.input["shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.shape != self.input_shape:
            raise ValueError(f"input of shape {x.shape}, the model expects {self.input_shape}")
        dtype = self.input["dtype"]
        if np.dtype(dtype).kind in "iu":
            scale, zero = self.input["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale) + zero, info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self.input["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.output["index"])
        if np.dtype(y.dtype).kind in "iu":
            scale, zero = self.output["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32, copy=False)


def ops(model) -> list[dict]:
    """The ops of a LiteRT model in execution order.

    Each entry: ``index``, ``op`` (builtin name, e.g. 'CONV_2D'), ``inputs`` and ``outputs``
    (dtype names of its input and output tensors, '' for an omitted optional input), and
    ``int8``: True when the op computes on integers (its first input and its output are integer
    tensors; QUANTIZE, which turns float into int8, counts as float).
    """
    interp = interpreter(model, num_threads=1, xnnpack=False)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}

    def dtype_name(i):
        return np.dtype(tensors[i]["dtype"]).name if i >= 0 and i in tensors else ""

    result = []
    for op in interp._get_ops_details():
        ins = [dtype_name(i) for i in op["inputs"]]
        outs = [dtype_name(i) for i in op["outputs"]]
        integer = bool(ins) and ins[0] in INT_TYPES and bool(outs) and outs[0] in INT_TYPES
        result.append({"index": int(op["index"]), "op": op["op_name"], "inputs": ins, "outputs": outs,
                       "int8": integer})
    return result


def op_counts(model) -> dict[str, dict[str, int]]:
    """How many ops of each kind run on integers and how many in float: {op: {'int8': n, 'float': m}}."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for op in ops(model):
        counts[op["op"]]["int8" if op["int8"] else "float"] += 1
    return {name: dict(c) for name, c in sorted(counts.items())}


def format_op_counts(model) -> str:
    """`op_counts` as a small text table."""
    counts = op_counts(model)
    width = max([len(k) for k in counts] + [2])
    lines = [f"{'op':<{width}}  {'int8':>5}  {'float':>5}"]
    lines += [f"{name:<{width}}  {c.get('int8', 0):>5}  {c.get('float', 0):>5}" for name, c in counts.items()]
    return "\n".join(lines)


def latency(model, x: np.ndarray, repeat: int = 10, warmup: int = 2, num_threads: int | None = 2) -> float:
    """Median seconds of one call of the LiteRT model on input `x`."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    run = model if isinstance(model, Runner) else Runner(model, num_threads)
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def latencies(models: dict, x: np.ndarray, repeat: int = 10, warmup: int = 2,
              num_threads: int | None = 2) -> dict[str, float]:
    """Median seconds per call of several models on the same input, measured **interleaved**
    (one call of each model per round), so that load on a shared machine hits all alike.

    `models` maps a name to flatbuffer bytes, a .tflite path, a `Runner`, or any callable
    (e.g. a TensorFlow function) that takes `x`.
    """
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    calls = {}
    for name, m in models.items():
        calls[name] = m if callable(m) else Runner(m, num_threads)
    for _ in range(warmup):
        for fn in calls.values():
            fn(x)
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio of `a` against `b` in dB (inf when equal)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak ** 2 / mse)
