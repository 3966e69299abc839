"""Tests for source_lib.tflite_tools (chapter 7): conversion, running, op listing, bad input.

Conversions take seconds each, so a tiny Keras model is converted once per mode, per module.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from source_lib import tflite_tools

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def tiny_model():
    """Two 3×3 convolutions (3→4→4, with bias) and a ReLU between them; static input 1×8×8×3."""
    keras.utils.set_random_seed(0)
    x = keras.Input(shape=(8, 8, 3), batch_size=1)
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    h = keras.layers.Conv2D(4, 3, padding="same")(h)
    return keras.Model(x, h)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(0)
    return [rng.uniform(0, 1, (1, 8, 8, 3)).astype(np.float32) for _ in range(8)]


@pytest.fixture(scope="module")
def flat32(model):
    return tflite_tools.convert(model, "float32")


@pytest.fixture(scope="module")
def flat8(model, samples):
    return tflite_tools.convert(model, "int8", representative=samples)


def test_float32_runner_matches_keras(model, flat32, samples):
    runner = tflite_tools.Runner(flat32, num_threads=1)
    y = runner(samples[0])
    assert y.dtype == np.float32 and y.shape == (1, 8, 8, 4)
    assert np.abs(y - model(samples[0]).numpy()).max() < 1e-4
    assert all(not op["int8"] for op in tflite_tools.ops(flat32))


def test_int8_model_is_smaller_close_and_lists_int8_convs(model, flat8, flat32, samples, tmp_path):
    ref = model(samples[1]).numpy()
    y = tflite_tools.Runner(flat8)(samples[1])
    assert y.dtype == np.float32 and y.shape == ref.shape
    assert np.abs(y - ref).max() < 0.1 * np.abs(ref).max() + 1e-3
    counts = tflite_tools.op_counts(flat8)
    assert counts["CONV_2D"] == {"int8": 2}
    assert counts["QUANTIZE"] == {"float": 1} and counts["DEQUANTIZE"] == {"float": 1}
    assert "CONV_2D" in tflite_tools.format_op_counts(flat8)
    first = tflite_tools.ops(flat8)[0]
    assert set(first) == {"index", "op", "inputs", "outputs", "int8"}
    path = tmp_path / "m.tflite"
    path.write_bytes(flat8)
    assert tflite_tools.Runner(path)(samples[1]).shape == ref.shape


def test_latencies_interleaved_and_psnr(flat32, flat8, samples):
    times = tflite_tools.latencies({"f32": flat32, "int8": flat8, "fn": lambda a: a}, samples[0], repeat=2, warmup=1)
    assert set(times) == {"f32", "int8", "fn"} and all(t > 0 for t in times.values())
    assert tflite_tools.latency(flat32, samples[0], repeat=1, warmup=0) > 0
    a = np.zeros((2, 2))
    assert tflite_tools.psnr(a, a) == float("inf")
    assert abs(tflite_tools.psnr(a, a + 0.1) - 20.0) < 1e-9


def test_bad_input_raises_clear_errors(model, flat32, samples):
    with pytest.raises(ValueError, match="mode"):
        tflite_tools.convert(model, "int4")
    with pytest.raises(ValueError, match="representative"):
        tflite_tools.convert(model, "int8")
    with pytest.raises(ValueError, match="empty"):
        tflite_tools.convert(model, "int8", representative=[])
    with pytest.raises(ValueError, match="NaN"):
        tflite_tools.convert(model, "int8", representative=[np.full((1, 8, 8, 3), np.nan, np.float32)])
    with pytest.raises(ValueError, match="expects"):
        tflite_tools.Runner(flat32)(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(FileNotFoundError):
        tflite_tools.Runner("/nonexistent/model.tflite")
    with pytest.raises(ValueError, match="shapes"):
        tflite_tools.psnr(np.zeros(3), np.zeros(4))



def test_float_ops_stay_float_between_dequantize_and_quantize(samples):
    """`float_ops` (the deny-list of convert_keeping_float): the listed op type (here PReLU, as in
    chapter 9) runs in float32, the convolutions stay int8, the output stays close to Keras."""
    keras.utils.set_random_seed(0)
    x = keras.Input(shape=(8, 8, 3), batch_size=1)
    h = keras.layers.PReLU(shared_axes=[1, 2])(keras.layers.Conv2D(4, 3, padding="same")(x))
    net = keras.Model(x, keras.layers.Conv2D(4, 3, padding="same")(h))
    mixed = tflite_tools.convert(net, "int8", representative=samples, float_ops=("PRELU",))
    ops = tflite_tools.ops(mixed)
    prelus = [op for op in ops if op["op"] == "PRELU"]
    assert prelus and all(not op["int8"] for op in prelus), prelus
    assert all(op["int8"] for op in ops if op["op"] == "CONV_2D")
    assert sum(op["op"] == "DEQUANTIZE" for op in ops) >= 2, tflite_tools.format_op_counts(mixed)
    ref = net(samples[2]).numpy()
    assert np.abs(tflite_tools.Runner(mixed)(samples[2]) - ref).max() < 0.1 * np.abs(ref).max() + 1e-3
