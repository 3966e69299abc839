# %% [config] timeout=300 partial=super_resolution_parse_param,super_resolution_read_bin,super_resolution_pixel_shuffle,super_resolution_metrics

# %% [markdown] id=super_resolution_header locked
# # Chapter 9 — Deploying a real super-resolution network (Real-ESRGAN)
#
# Real-ESRGAN (Wang et al., 2021) makes an image four times larger and sharper. Its authors
# publish the trained networks in several formats; here we use the files of **ncnn**, a small
# inference library for phones: a text file (`.param`) that describes the graph and a binary
# file (`.bin`) with the weights and nothing else — no names, no shapes, no header. In this
# assignment you read those two files yourself, rebuild the network in `tf.keras`, check it
# against a bicubic baseline with PSNR and SSIM, and then deploy it with LiteRT (TensorFlow
# Lite) in float32, float16 and int8 — and find out why the int8 model is not faster.
#
# **Learning goals**
# 1. Parse the ncnn `.param` graph and read the `.bin` blobs: type tags, float16 data and
#    4-byte padding, equation (9.6).
# 2. Write PyTorch's pixel shuffle, equation (9.4), and see why `tf.nn.depth_to_space`,
#    equation (9.5), is not the same operation.
# 3. Build the network of equation (9.2) in `tf.keras` from the parsed graph and weights.
# 4. Compute the bicubic baseline, equation (9.7), and PSNR and SSIM on the Y channel,
#    equations (9.8)–(9.10).
# 5. Convert the network to LiteRT in fp32, fp16, dynamic-range and full int8 with a
#    calibration set (9.11); find the operators that leave the fast int8 path and fix them (9.12).
#
# **Conventions.** Images are RGB, `float32` in $[0, 1]$, NHWC `(1, H, W, 3)` for the networks.
# ncnn weights are OIHW `(C_out, C_in, K, K)`; `tf.keras` wants HWIO. Fill in every cell that
# says `YOUR CODE HERE`, then run the test cell below it. Hidden tests run when the notebook is
# graded; they also check that your reader is **your own code**: the course ships a reference
# reader, `source_lib.ncnn`, which the tool `python -m source_lib.upscale` uses — the hidden tests
# of exercises 1, 2 and 4 fail if any code of that module runs inside your functions.
#
# Weights: Real-ESRGAN by Xintao Wang, Liangbin Xie, Chao Dong and Ying Shan (BSD-3-Clause),
# fetched once by `python -m source_lib.fetch_models`.

# %% [locked] id=super_resolution_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import struct
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
from PIL import Image

from source_lib import config, images, ncnn
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.progress import progress
from source_lib.timing import median_time
from source_lib.upscale import upscale_tiled

print(config.banner())
OUT = Path("output")
OUT.mkdir(exist_ok=True)
PARAM_FILE, BIN_FILE = ncnn.model_files("animevideov3")     # clear error + fetch command if missing
print("model files:", PARAM_FILE.name, f"({PARAM_FILE.stat().st_size:,} B),", BIN_FILE.name,
      f"({BIN_FILE.stat().st_size:,} B)")

# %% [markdown]
# The visible tests use a tiny model written by the cell below in exactly the ncnn format: a
# `.param` text and the bytes of its `.bin` file, built with `struct.pack`. Read it together with
# the book's description of the format; it is the best specification you have.

# %% [locked] id=super_resolution_tiny
TINY_PARAM = """7767517
7 8
Input            in    0 1 data
Split            sp    1 2 data d0 d1
Convolution      c1    1 1 d0 a 0=12 1=3 4=1 5=1 6=324 9=2 -23310=1,1.000000e-01
PReLU            p1    1 1 a b 0=12
PixelShuffle     ps    1 1 b e 0=2
Interp           up    1 1 d1 d1x 0=1 1=2.000000e+00 2=2.000000e+00
BinaryOp         add   2 1 e d1x out
"""


def tiny_weights(seed=0):
    """The arrays of TINY_PARAM (c1: W, b; p1: slopes) and the .bin bytes that store them."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((12, 3, 3, 3)) * 0.3).astype(np.float16).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32) * 0.1
    a = rng.uniform(-0.5, 0.5, 12).astype(np.float32)
    data = struct.pack("<I", 0x01306B47) + w.astype("<f2").tobytes()     # tag + fp16 (648 B, no padding)
    data += b.astype("<f4").tobytes() + a.astype("<f4").tobytes()          # raw fp32, no tag
    return {"c1": [w, b], "p1": [a]}, data


TINY_ARRAYS, TINY_BIN = tiny_weights()
print(TINY_PARAM)
print(f"tiny .bin: {len(TINY_BIN)} bytes")


def expect_value_error(fn, *args, **kwargs):
    """fn(*args, **kwargs) must raise ValueError."""
    try:
        fn(*args, **kwargs)
    except ValueError as err:
        return str(err)
    raise AssertionError(f"{fn.__name__} should raise ValueError here")

# %% [markdown]
# ## 1. The `.param` graph
#
# A `.param` file is text. Line 1 is the magic number `7767517`; line 2 holds the number of
# layers and the number of blobs (tensors). Then one line per layer:
#
# ```
# Type  name  n_in  n_out  in_1 … in_n  out_1 … out_m  key=value  key=value …
# ```
#
# Keys are integers. A value is an `int`, or a `float` when it contains a `.`, an `e` or an `E`
# (`2.000000e-01`). A key $k \le -23300$ holds an **array** for key $-23300 - k$: its first
# number is the length, the rest are the elements — `-23310=1,2.000000e-01` means key `10` is
# `[0.2]`. For a Convolution, key 0 is the number of outputs, 1 the kernel size, 4 the padding,
# 5 whether there is a bias, 6 the number of weights, 9 a fused activation (2 = leaky ReLU with
# slope `params[10][0]`).
#
# Write `parse_param(text)` returning a list with one dict per layer, in file order:
# `{"type": str, "name": str, "inputs": [str], "outputs": [str], "params": {int: int | float | list}}`.
# Raise `ValueError` if the first line is not the magic number or the layer count is wrong.

# %% [solution] id=super_resolution_parse_param
def parse_param(text):
    """Layers of an ncnn .param text: a list of dicts type/name/inputs/outputs/params."""
    ### BEGIN SOLUTION
    def value(s):
        return float(s) if any(ch in s for ch in ".eE") else int(s)

    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0] != ["7767517"]:
        raise ValueError("not an ncnn .param file: the first line must be 7767517")
    n_layers = int(lines[1][0])
    layers = []
    for tok in lines[2:]:
        n_in, n_out = int(tok[2]), int(tok[3])
        params = {}
        for item in tok[4 + n_in + n_out:]:
            key, val = item.split("=", 1)
            key = int(key)
            if key <= -23300:
                vals = val.split(",")
                params[-23300 - key] = [value(v) for v in vals[1:1 + int(vals[0])]]
            else:
                params[key] = value(val)
        layers.append({"type": tok[0], "name": tok[1], "inputs": tok[4:4 + n_in],
                       "outputs": tok[4 + n_in:4 + n_in + n_out], "params": params})
    if len(layers) != n_layers:
        raise ValueError(f"the header says {n_layers} layers, the file has {len(layers)}")
    return layers
    ### END SOLUTION

# %% [tests] id=super_resolution_parse_param_test points=3 needs=super_resolution_parse_param
tiny = parse_param(TINY_PARAM)
assert isinstance(tiny, list) and len(tiny) == 7, "TINY_PARAM has 7 layers"
assert [l["type"] for l in tiny] == ["Input", "Split", "Convolution", "PReLU", "PixelShuffle", "Interp", "BinaryOp"]
c1 = tiny[2]
assert c1["name"] == "c1" and c1["inputs"] == ["d0"] and c1["outputs"] == ["a"], f"c1 parsed as {c1}"
assert c1["params"] == {0: 12, 1: 3, 4: 1, 5: 1, 6: 324, 9: 2, 10: [0.1]}, f"c1 params: {c1['params']}"
assert type(c1["params"][0]) is int and type(c1["params"][10][0]) is float, "ints stay int, floats are float"
assert tiny[1]["outputs"] == ["d0", "d1"] and tiny[6]["inputs"] == ["e", "d1x"], "blob names"
assert tiny[5]["params"] == {0: 1, 1: 2.0, 2: 2.0}, f"Interp params: {tiny[5]['params']}"
real = parse_param(PARAM_FILE.read_text())
print(Counter(l["type"] for l in real))
assert len(real) == 40 and sum(l["type"] == "Convolution" for l in real) == 18, "animevideov3: 40 layers, 18 convolutions"
expect_value_error(parse_param, "123\n1 1\nInput in 0 1 data\n")
expect_value_error(parse_param, "7767517\n2 1\nInput in 0 1 data\n")
passed("parse_param")
### BEGIN HIDDEN TESTS
import sys as _sys
_text = ("7767517\n4 6\nInput  i0 0 1 x\nConvolution conv_A 1 1 x y 0=5 1=1 5=0 6=15 -23310=2,1.5e-01,-2.0E+00\n"
         "Eltwise   sum  2 1 y z w 0=1 -23301=2,2.500000e-01,1.000000e+00\n\n"
         "Concat cat 3 2 w y x q r 0=-3 7=12\n")
_seen = []


def _hook(_frame, _event, _arg):
    if _event == "call" and _frame.f_code.co_filename.replace("\\", "/").endswith("source_lib/ncnn.py"):
        _seen.append(_frame.f_code.co_name)


_sys.setprofile(_hook)
try:
    _got = parse_param(_text)
    _got_real = parse_param(PARAM_FILE.read_text())
finally:
    _own = _sys.getprofile() is _hook
    _sys.setprofile(None)
assert _own and not _seen, "hidden: parse_param must be your own code, not source_lib.ncnn"
assert type(_got) is list and len(_got) == 4, "hidden: 4 layers"
_want = [("Input", "i0", [], ["x"], {}),
         ("Convolution", "conv_A", ["x"], ["y"], {0: 5, 1: 1, 5: 0, 6: 15, 10: [0.15, -2.0]}),
         ("Eltwise", "sum", ["y", "z"], ["w"], {0: 1, 1: [0.25, 1.0]}),
         ("Concat", "cat", ["w", "y", "x"], ["q", "r"], {0: -3, 7: 12})]
for _g, (_t, _n, _i, _o, _p) in zip(_got, _want):
    assert type(_g) is dict, "hidden: layers are dicts"
    assert type(_g["type"]) is str and _g["type"] == _t and type(_g["name"]) is str and _g["name"] == _n, "hidden: type/name"
    assert type(_g["inputs"]) is list and type(_g["outputs"]) is list, "hidden: inputs/outputs are lists"
    assert [str(_v) for _v in _g["inputs"]] == _i and [str(_v) for _v in _g["outputs"]] == _o, f"hidden: blobs of {_n}"
    assert type(_g["params"]) is dict and sorted(_g["params"].keys()) == sorted(_p.keys()), f"hidden: keys of {_n}"
    for _k, _v in _p.items():
        _gv = _g["params"][_k]
        if type(_v) is list:
            assert type(_gv) is list and len(_gv) == len(_v), f"hidden: array key {_k} of {_n}"
            for _a, _b in zip(_gv, _v):
                assert type(_a) is float and abs(_a - _b) < 1e-12, f"hidden: array values of {_n}"
        else:
            assert type(_gv) is type(_v) and _gv == _v, f"hidden: key {_k} of {_n}"
assert type(_got_real) is list and len(_got_real) == 40, "hidden: real file"
assert _got_real[-2]["type"] == "Interp" and abs(_got_real[-2]["params"][1] - 4.0) < 1e-12, "hidden: real Interp"
_raised = False
try:
    parse_param("7767517\n3 3\nInput in 0 1 data\n")
except ValueError:
    _raised = True
assert _raised, "hidden: wrong layer count must raise ValueError"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The `.bin` blobs
#
# The `.bin` file is the weights of the layers, one blob after the other in **layer order**, and
# nothing else. Two kinds of blob, equation **(9.6)**:
#
# * **tagged** (a convolution's weights): a 4-byte little-endian tag, then the data, then zero
#   bytes up to a multiple of 4. Tag `0x01306B47`: float16 values; tag `0`: float32 values. Any
#   other tag (ncnn also knows int8 and lookup-table formats) is an error here. A tagged blob of
#   $n$ float16 values takes $4 + 4\lceil 2n/4 \rceil$ bytes.
# * **raw** (biases, PReLU slopes): $n$ float32 values, no tag, no padding.
#
# Write `read_blob(data, offset, count, tagged)` returning `(values, new_offset)`: `values` a
# `float32` array of length `count`, `new_offset` the offset just after the blob (padding
# included); raise `ValueError` for an unknown tag or when the data ends too early. Then
# `read_weights(layers, data)` (layers from `parse_param`): a dict `{layer name: [arrays]}` with,
# for a Convolution, the weights reshaped to OIHW `(params[0], C_in, K, K)` with `K = params[1]`
# and the `C_in` that `params[6]` implies, followed by the bias (raw, `params[0]` values) if
# `params[5]` is 1; for a PReLU, its slopes (raw, `params[0]` values). Other layers have no
# weights. Raise `ValueError` if bytes are left over at the end.

# %% [solution] id=super_resolution_read_bin
def read_blob(data, offset, count, tagged):
    """(float32 values, offset after the blob) of one blob of a .bin file, equation (9.6)."""
    ### BEGIN SOLUTION
    def take(start, nbytes):
        if start + nbytes > len(data):
            raise ValueError(f"the data ends at byte {len(data)}; needed {nbytes} bytes at {start}")
        return data[start:start + nbytes]

    if not tagged:
        return np.frombuffer(take(offset, 4 * count), "<f4").astype(np.float32), offset + 4 * count
    tag = struct.unpack("<I", take(offset, 4))[0]
    offset += 4
    if tag == 0x01306B47:
        values = np.frombuffer(take(offset, 2 * count), "<f2").astype(np.float32)
        return values, offset + 2 * count + (-2 * count) % 4
    if tag == 0:
        return np.frombuffer(take(offset, 4 * count), "<f4").astype(np.float32), offset + 4 * count
    raise ValueError(f"unknown blob tag 0x{tag:08X} at offset {offset - 4}")
    ### END SOLUTION


def read_weights(layers, data):
    """{name: [W (O, I, K, K), bias?]} for convolutions and {name: [slopes]} for PReLU."""
    ### BEGIN SOLUTION
    out, offset = {}, 0
    for layer in layers:
        p = layer["params"]
        if layer["type"] == "Convolution":
            n_out, k = p[0], p.get(1, 1)
            w, offset = read_blob(data, offset, p[6], tagged=True)
            arrays = [w.reshape(n_out, p[6] // (n_out * k * k), k, k)]
            if p.get(5, 0):
                b, offset = read_blob(data, offset, n_out, tagged=False)
                arrays.append(b)
            out[layer["name"]] = arrays
        elif layer["type"] == "PReLU":
            a, offset = read_blob(data, offset, p.get(0, 1), tagged=False)
            out[layer["name"]] = [a]
    if offset != len(data):
        raise ValueError(f"{len(data) - offset} bytes left over after the last layer")
    return out
    ### END SOLUTION

# %% [tests] id=super_resolution_read_bin_test points=3 needs=super_resolution_parse_param,super_resolution_read_bin
blob = struct.pack("<I", 0x01306B47) + np.array([1.5, -2.0, 0.25], "<f2").tobytes() + b"\0\0"
v, end = read_blob(blob + b"rest", 0, 3, tagged=True)
check_array(v, "read_blob fp16", shape=(3,), dtype=np.float32)
assert_equal(v, [1.5, -2.0, 0.25], "read_blob fp16 values")
assert end == 12, f"4 (tag) + 6 (3 fp16) + 2 (padding) = 12, got new offset {end}"
v, end = read_blob(b"xx" + np.array([7.0, 8.0], "<f4").tobytes(), 2, 2, tagged=False)
assert_equal(v, [7.0, 8.0], "read_blob raw fp32 at an offset"); assert end == 10
v, end = read_blob(struct.pack("<I", 0) + np.array([3.0], "<f4").tobytes(), 0, 1, tagged=True)
assert_equal(v, [3.0], "tag 0 means float32"); assert end == 8
expect_value_error(read_blob, struct.pack("<I", 0x000D4B38) + bytes(8), 0, 2, True)
expect_value_error(read_blob, bytes(6), 0, 2, False)
got = read_weights(parse_param(TINY_PARAM), TINY_BIN)
assert sorted(got) == ["c1", "p1"], f"weights for c1 and p1 only, got {sorted(got)}"
for name in ("c1", "p1"):
    for g, ref in zip(got[name], TINY_ARRAYS[name]):
        check_array(g, f"{name} array", shape=ref.shape, dtype=np.float32)
        assert_equal(g, ref, f"{name} values")
expect_value_error(read_weights, parse_param(TINY_PARAM), TINY_BIN + bytes(4))
real_w = read_weights(parse_param(PARAM_FILE.read_text()), BIN_FILE.read_bytes())
print({k: [a.shape for a in v] for k, v in list(real_w.items())[:3]}, "…")
assert real_w["Conv_0"][0].shape == (64, 3, 3, 3) and real_w["Conv_34"][0].shape == (48, 64, 3, 3)
print(f"{sum(a.size for v in real_w.values() for a in v):,} numbers in the real model")
passed("read_blob and read_weights")
### BEGIN HIDDEN TESTS
import sys as _sys
_rng = np.random.default_rng(202)
_w1 = (_rng.standard_normal((3, 1, 1, 1))).astype(np.float16)      # 3 fp16 -> 2 bytes of padding
_w2 = _rng.standard_normal((2, 3, 3, 3)).astype(np.float32)        # fp32, tag 0, no bias
_b1 = _rng.standard_normal(3).astype(np.float32)
_a1 = _rng.standard_normal(3).astype(np.float32)
_text = ("7767517\n5 5\nInput in 0 1 x\nConvolution k1 1 1 x y 0=3 1=1 5=1 6=3\nPReLU pr 1 1 y z 0=3\n"
         "ReLU rl 1 1 z u\nConvolution k2 1 1 u v 0=2 1=3 4=1 5=0 6=54\n")
_data = (struct.pack("<I", 0x01306B47) + _w1.astype("<f2").tobytes() + b"\0\0" + _b1.astype("<f4").tobytes()
         + _a1.astype("<f4").tobytes() + struct.pack("<I", 0) + _w2.astype("<f4").tobytes())
_layers = [{"type": "Input", "name": "in", "inputs": [], "outputs": ["x"], "params": {}},
           {"type": "Convolution", "name": "k1", "inputs": ["x"], "outputs": ["y"], "params": {0: 3, 1: 1, 5: 1, 6: 3}},
           {"type": "PReLU", "name": "pr", "inputs": ["y"], "outputs": ["z"], "params": {0: 3}},
           {"type": "ReLU", "name": "rl", "inputs": ["z"], "outputs": ["u"], "params": {}},
           {"type": "Convolution", "name": "k2", "inputs": ["u"], "outputs": ["v"], "params": {0: 2, 1: 3, 4: 1, 5: 0, 6: 54}}]
_seen = []


def _hook(_frame, _event, _arg):
    if _event == "call" and _frame.f_code.co_filename.replace("\\", "/").endswith("source_lib/ncnn.py"):
        _seen.append(_frame.f_code.co_name)


_sys.setprofile(_hook)
try:
    _got = read_weights(_layers, _data)
    _blob, _end = read_blob(b"\1" * 3 + _data, 3, 3, True)
finally:
    _own = _sys.getprofile() is _hook
    _sys.setprofile(None)
assert _own and not _seen, "hidden: read_weights must be your own code, not source_lib.ncnn"
assert type(_got) is dict and sorted(_got.keys()) == ["k1", "k2", "pr"], "hidden: weight names"
for _name, _refs in [("k1", [_w1.astype(np.float32), _b1]), ("pr", [_a1]), ("k2", [_w2])]:
    assert len(_got[_name]) == len(_refs), f"hidden: number of arrays of {_name}"
    for _g, _r in zip(_got[_name], _refs):
        assert type(_g) is np.ndarray and _g.dtype == np.float32 and _g.shape == _r.shape, f"hidden: {_name} shape/dtype"
        assert float((_g - _r).__abs__().max()) == 0.0, f"hidden: {_name} values"
assert type(_blob) is np.ndarray and _end == 3 + 12, "hidden: read_blob offset with padding"
assert float((_blob - _w1.reshape(-1).astype(np.float32)).__abs__().max()) == 0.0, "hidden: read_blob values"
for _bad in (_data[:-4], _data + bytes(4)):
    _raised = False
    try:
        read_weights(_layers, _bad)
    except ValueError:
        _raised = True
    assert _raised, "hidden: truncated or too long data must raise ValueError"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Pixel shuffle
#
# SRVGGNetCompact works at the low resolution and makes the image larger only at the very end: its
# last convolution outputs $3 r^2$ channels ($r = 4$: 48 channels) and a **pixel shuffle** moves
# them into an $r \times r$ block of pixels. PyTorch (and ncnn, which copies it) uses the order of
# equation **(9.4)**:
#
# $$ Y[n, c, h r + i, w r + j] = X[n, c r^2 + i r + j, h, w], \qquad 0 \le i, j < r. $$
#
# TensorFlow's `tf.nn.depth_to_space` (NHWC) takes channel $(i r + j) C + c$ instead,
# equation **(9.5)** — the same pixels, a different order. Write `pixel_shuffle(x, r)` in NumPy
# for NCHW arrays: `(N, C r², H, W) -> (N, C, H r, W r)`, same dtype; raise `ValueError` if
# the channels are not a multiple of $r^2$. One `reshape`, one `transpose` and one `reshape`.

# %% [solution] id=super_resolution_pixel_shuffle
def pixel_shuffle(x, r):
    """PyTorch's PixelShuffle, equation (9.4): (N, C·r², H, W) -> (N, C, H·r, W·r)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    n, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"{c} channels are not a multiple of r² = {r * r}")
    y = x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (r * r), h * r, w * r)
    ### END SOLUTION

# %% [tests] id=super_resolution_pixel_shuffle_test points=2 needs=super_resolution_pixel_shuffle
x = np.arange(8, dtype=np.float32).reshape(1, 8, 1, 1)
y = pixel_shuffle(x, 2)
check_array(y, "pixel_shuffle", shape=(1, 2, 2, 2), dtype=np.float32)
assert_equal(y[0, 0], [[0, 1], [2, 3]], "channel c·r² + i·r + j goes to sub-pixel (i, j)")
assert_equal(y[0, 1], [[4, 5], [6, 7]], "the second output channel takes input channels 4..7")
rng = np.random.default_rng(3)
x = rng.standard_normal((2, 12, 3, 5))
y = pixel_shuffle(x, 2)
check_array(y, "pixel_shuffle (2, 12, 3, 5)", shape=(2, 3, 6, 10), dtype=np.float64)
assert y[1, 2, 5, 7] == x[1, 2 * 4 + 1 * 2 + 1, 2, 3], "Y[n, c, h r + i, w r + j] = X[n, c r² + i r + j, h, w]"
d2s = tf.nn.depth_to_space(x.transpose(0, 2, 3, 1), 2).numpy().transpose(0, 3, 1, 2)
print("depth_to_space gives the same result?", bool(np.allclose(d2s, y)), "(it should not, equation (9.5))")
expect_value_error(pixel_shuffle, np.zeros((1, 6, 2, 2)), 2)
passed("pixel_shuffle")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(203)
for _shape, _r, _dt in [((1, 18, 2, 3), 3, np.float32), ((2, 16, 3, 2), 4, np.float64), ((3, 4, 1, 4), 2, np.float32)]:
    _x = _rng.standard_normal(_shape).astype(_dt)
    _got = pixel_shuffle(_x, _r)
    _n, _c, _h, _w = _shape
    _C = _c // (_r * _r)
    assert type(_got) is np.ndarray and _got.shape == (_n, _C, _h * _r, _w * _r) and _got.dtype == _dt, "hidden: shape/dtype"
    _ref = np.zeros((_n, _C, _h * _r, _w * _r), _dt)
    for _a in range(_n):
        for _cc in range(_C):
            for _i in range(_r):
                for _j in range(_r):
                    _ref[_a, _cc, _i::_r, _j::_r] = _x[_a, _cc * _r * _r + _i * _r + _j]
    assert float((_got - _ref).__abs__().max()) == 0.0, f"hidden: pixel_shuffle values for {_shape}, r={_r}"
_raised = False
try:
    pixel_shuffle(np.zeros((1, 8, 2, 2)), 2)
    pixel_shuffle(np.zeros((1, 10, 2, 2)), 3)
except ValueError:
    _raised = True
assert _raised, "hidden: pixel_shuffle must raise ValueError"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The network in `tf.keras`
#
# With the graph and the weights, the network is a loop over the layers, keeping a dict
# `blob name -> Keras tensor`. SRVGGNetCompact, equation **(9.2)**, is
#
# $$ \hat y = \mathrm{PS}_4\big(f(x)\big) + \mathrm{up}_4^{\text{nearest}}(x), $$
#
# where $f$ is 16+2 convolutions 3×3 with PReLU after each but the last, and the network only
# learns what nearest upsampling misses. Write `build_model(layers, weights)` returning a
# `tf.keras.Model` with input shape `(None, None, 3)` (any size, NHWC float32) that handles:
#
# * `Input` (the image), `Split` (every output is the input);
# * `Convolution`: $K \times K$, stride 1, padding `params[4]` (always $K // 2$ here, so
#   `padding="same"`), OIHW → HWIO is `W.transpose(2, 3, 1, 0)`, bias if `params[5]`; fused
#   activation `params[9]`: 1 = ReLU, 2 = leaky ReLU with slope `params[10][0]`;
# * `PReLU`: per-channel slopes ($x$ if $x \ge 0$, $a_c x$ otherwise);
# * `PixelShuffle` with `r = params[0]` in the order (9.4) — in TensorFlow: reshape and transpose,
#   or reorder the channels and call `tf.nn.depth_to_space`;
# * `Interp` with `params[0] == 1`: nearest upsampling by `params[1]` (height) and `params[2]`;
# * `BinaryOp` (add, `params[0]` absent or 0), `Eltwise` (`params[0] == 1`: sum with
#   coefficients `params[1]`, default all 1 — RRDB's $0.2 a + b$), `Concat` (channels);
#
# and returns the model whose output is the **first output blob of the last layer**. Keras
# layers such as `Conv2D` (call `set_weights` after calling the layer), `PReLU(shared_axes=[1, 2])`,
# `LeakyReLU`, `UpSampling2D`, `Add`, `Concatenate` and `Lambda` cover everything.

# %% [solution] id=super_resolution_build
def build_model(layers, weights):
    """tf.keras Model (None, None, 3) -> the ncnn graph's output, equation (9.2)."""
    ### BEGIN SOLUTION
    keras = tf.keras
    blobs, image = {}, None
    for layer in layers:
        kind, p = layer["type"], layer["params"]
        ins = [blobs[b] for b in layer["inputs"]]
        if kind == "Input":
            image = keras.Input((None, None, 3))
            out = [image]
        elif kind == "Split":
            out = ins * len(layer["outputs"])
        elif kind == "Convolution":
            arrays = weights[layer["name"]]
            w = arrays[0]
            b = arrays[1] if p.get(5, 0) else np.zeros(w.shape[0], np.float32)
            conv = keras.layers.Conv2D(w.shape[0], w.shape[2], padding="same")
            x = conv(ins[0])
            conv.set_weights([w.transpose(2, 3, 1, 0), b])
            if p.get(9, 0) == 1:
                x = keras.layers.ReLU()(x)
            elif p.get(9, 0) == 2:
                x = keras.layers.LeakyReLU(negative_slope=p[10][0])(x)
            out = [x]
        elif kind == "PReLU":
            act = keras.layers.PReLU(shared_axes=[1, 2])
            x = act(ins[0])
            act.set_weights([weights[layer["name"]][0].reshape(1, 1, -1)])
            out = [x]
        elif kind == "ReLU":
            out = [keras.layers.ReLU()(ins[0])]
        elif kind == "PixelShuffle":
            def shuffle(t, r=p.get(0, 1)):
                s = tf.shape(t)
                c = t.shape[-1] // (r * r)
                t = tf.reshape(t, [s[0], s[1], s[2], c, r, r])
                t = tf.transpose(t, [0, 1, 4, 2, 5, 3])
                return tf.reshape(t, [s[0], s[1] * r, s[2] * r, c])
            out = [keras.layers.Lambda(shuffle)(ins[0])]
        elif kind == "Interp":
            out = [keras.layers.UpSampling2D((int(p[1]), int(p[2])), interpolation="nearest")(ins[0])]
        elif kind in ("BinaryOp", "Eltwise"):
            coeffs = p.get(1, [1.0] * len(ins)) if kind == "Eltwise" else [1.0] * len(ins)
            terms = [t if c == 1.0 else keras.layers.Rescaling(c)(t) for t, c in zip(ins, coeffs)]
            out = [keras.layers.Add()(terms)]
        elif kind == "Concat":
            out = [keras.layers.Concatenate(axis=-1)(ins)]
        else:
            raise ValueError(f"layer type {kind} is not supported")
        for name, t in zip(layer["outputs"], out):
            blobs[name] = t
    return keras.Model(image, blobs[layers[-1]["outputs"][0]])
    ### END SOLUTION

# %% [tests] id=super_resolution_build_test points=4 needs=super_resolution_parse_param,super_resolution_read_bin,super_resolution_build
tiny_model = build_model(parse_param(TINY_PARAM), read_weights(parse_param(TINY_PARAM), TINY_BIN))
x = np.random.default_rng(4).random((1, 5, 6, 3)).astype(np.float32)
y = np.asarray(tiny_model(x))
check_array(y, "tiny model output", shape=(1, 10, 12, 3), dtype=np.float32)
(w, b), (a,) = TINY_ARRAYS["c1"], TINY_ARRAYS["p1"]
z = tf.nn.conv2d(x, w.transpose(2, 3, 1, 0), 1, "SAME").numpy() + b
z = np.where(z >= 0, z, 0.1 * z)                       # fused leaky ReLU of c1
z = np.where(z >= 0, z, a * z)                         # PReLU p1
ref = pixel_shuffle(z.transpose(0, 3, 1, 2), 2).transpose(0, 2, 3, 1) + x.repeat(2, 1).repeat(2, 2)
assert_close(y, ref, "tiny model vs conv → leaky → PReLU → pixel shuffle (9.4) + nearest ×2", rtol=1e-4, atol=1e-5)
layers_real = parse_param(PARAM_FILE.read_text())
weights_real = read_weights(layers_real, BIN_FILE.read_bytes())
sr_model = build_model(layers_real, weights_real)
patch = np.random.default_rng(5).random((1, 12, 16, 3)).astype(np.float32)
out = np.asarray(sr_model(patch))
check_array(out, "animevideov3 output", shape=(1, 48, 64, 3), dtype=np.float32)
assert_close(out, ncnn.load_model("animevideov3")(patch).numpy(), "your network vs source_lib.ncnn's",
             rtol=1e-3, atol=1e-4)
print(f"{sr_model.count_params():,} parameters")
passed("build_model")
### BEGIN HIDDEN TESTS
import sys as _sys
_rng = np.random.default_rng(204)
_w1 = (_rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float16)
_b1 = (_rng.standard_normal(8) * 0.1).astype(np.float32)
_w2 = (_rng.standard_normal((12, 8, 3, 3)) * 0.2).astype(np.float32)
_w3 = (_rng.standard_normal((3, 6, 1, 1)) * 0.5).astype(np.float16)
_b3 = (_rng.standard_normal(3) * 0.1).astype(np.float32)
_a1 = _rng.uniform(-0.3, 0.3, 8).astype(np.float32)
_text = ("7767517\n10 12\nInput in 0 1 data\nSplit sp 1 2 data d0 d1\n"
         "Convolution c1 1 1 d0 a 0=8 1=3 4=1 5=1 6=216\nPReLU p1 1 1 a b 0=8\n"
         "Convolution c2 1 1 b c 0=12 1=3 4=1 5=0 6=864 9=2 -23310=1,2.000000e-01\n"
         "PixelShuffle ps 1 1 c e 0=2\nInterp up 1 1 d1 f 0=1 1=2.000000e+00 2=2.000000e+00\n"
         "Split sp2 1 2 f f0 f1\nEltwise sum 2 1 e f0 g 0=1 -23301=2,3.000000e-01,1.000000e+00\n"
         "Concat cat 2 1 g f1 h 0=0\n")
_text = _text.replace("10 12", "11 13") + "Convolution c3 1 1 h out 0=3 1=1 5=1 6=18\n"
_data = (struct.pack("<I", 0x01306B47) + _w1.astype("<f2").tobytes() + _b1.tobytes() + _a1.tobytes()
         + struct.pack("<I", 0) + _w2.astype("<f4").tobytes()
         + struct.pack("<I", 0x01306B47) + _w3.astype("<f2").tobytes() + _b3.tobytes())
_x = _rng.random((1, 4, 5, 3)).astype(np.float32)
_seen = []


def _hook(_frame, _event, _arg):
    if _event == "call" and _frame.f_code.co_filename.replace("\\", "/").endswith("source_lib/ncnn.py"):
        _seen.append(_frame.f_code.co_name)


_sys.setprofile(_hook)
try:
    _layers = parse_param(_text)
    _m = build_model(_layers, read_weights(_layers, _data))
finally:
    _own = _sys.getprofile() is _hook
    _sys.setprofile(None)
assert _own and not _seen, "hidden: build_model must be your own code, not source_lib.ncnn"
_y = _m(_x)
_y = _y.numpy() if hasattr(_y, "numpy") else _y
assert type(_y) is np.ndarray and _y.shape == (1, 8, 10, 3), "hidden: tiny graph output shape"


def _conv(_t, _w, _b=None):
    _o = tf.nn.conv2d(tf.constant(_t, tf.float64), tf.constant(_w.astype(np.float64).transpose(2, 3, 1, 0)), 1, "SAME").numpy()
    return _o if _b is None else _o + _b


_t = _conv(_x, _w1, _b1)
_t = (_t >= 0) * _t + (_t < 0) * _t * _a1
_t = _conv(_t, _w2)
_t = (_t >= 0) * _t + (_t < 0) * _t * 0.2
_ps = np.zeros((1, 8, 10, 3))
for _c in range(3):
    for _i in range(2):
        for _j in range(2):
            _ps[0, _i::2, _j::2, _c] = _t[0, :, :, _c * 4 + _i * 2 + _j]
_up = _x.repeat(2, 1).repeat(2, 2).astype(np.float64)
_ref = _conv(np.concatenate([0.3 * _ps + _up, _up], axis=-1), _w3, _b3)
assert float((_y - _ref).__abs__().max()) < 1e-4, "hidden: tiny graph output values"
# the real model against an independent reference (conv / PReLU loop over the .bin)
_raw = BIN_FILE.read_bytes()
_off, _h = 0, np.random.default_rng(205).random((1, 9, 7, 3))
_inp = _h.copy()
for _k in range(18):
    _cin = 3 if _k == 0 else 64
    _cout = 48 if _k == 17 else 64
    _n = _cout * _cin * 9
    assert struct.unpack("<I", _raw[_off:_off + 4])[0] == 0x01306B47
    _wk = np.frombuffer(_raw[_off + 4:_off + 4 + 2 * _n], "<f2").reshape(_cout, _cin, 3, 3)
    _off += 4 + 2 * _n
    _bk = np.frombuffer(_raw[_off:_off + 4 * _cout], "<f4")
    _off += 4 * _cout
    _h = _conv(_h, _wk, _bk)
    if _k < 17:
        _ak = np.frombuffer(_raw[_off:_off + 256], "<f4")
        _off += 256
        _h = (_h >= 0) * _h + (_h < 0) * _h * _ak
_ref = np.zeros((1, 36, 28, 3))
for _c in range(3):
    for _i in range(4):
        for _j in range(4):
            _ref[0, _i::4, _j::4, _c] = _h[0, :, :, _c * 16 + _i * 4 + _j]
_ref += _inp.repeat(4, 1).repeat(4, 2)
_got = sr_model(_inp.astype(np.float32))       # built by your build_model above, from the same files
_got = _got.numpy() if hasattr(_got, "numpy") else _got
assert type(_got) is np.ndarray and _got.shape == (1, 36, 28, 3), "hidden: real model output shape"
assert float((_got - _ref).__abs__().max()) < 2e-3, "hidden: real model output values"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The baseline and the measures: bicubic, PSNR and SSIM on Y
#
# Any super-resolution method must beat **bicubic interpolation**. Output pixel $u$ (0-based) of an
# axis resized from $n$ to $m$ samples sits at input coordinate $s = (u + 0.5)\,n/m - 0.5$ (pixel
# centres aligned, "half-pixel"). With $f = \lfloor s \rfloor$, it mixes the inputs
# $f-1, \dots, f+2$ with the weights of Keys' cubic kernel, $a = -0.5$, equation **(9.7)**:
#
# $$ k(t) = \begin{cases} (a+2)|t|^3 - (a+3)|t|^2 + 1 & |t| \le 1 \\
#    a|t|^3 - 5a|t|^2 + 8a|t| - 4a & 1 < |t| < 2 \\ 0 & \text{otherwise,} \end{cases} \qquad
#    \text{out}[u] = \frac{\sum_{j} k(s - j)\, x[j]}{\sum_j k(s - j)}, $$
#
# where the sums run over the taps $j \in \{f-1, \dots, f+2\}$ **inside** the image ($0 \le j < n$):
# taps outside are dropped and the remaining weights renormalised. The 2-D resize is this along
# rows, then along columns. (This is exactly `tf.image.resize(..., "bicubic")`; PIL and MATLAB
# differ slightly at the borders.)
#
# SR papers measure on the luma channel $Y$ of ITU-R BT.601, for RGB in $[0, 1]$,
# equation **(9.8)**: $Y = 16 + 65.481 R + 128.553 G + 24.966 B$ (range 16–235), after cropping
# `border` pixels on every side (the scale, 4, by convention). Then, equation **(9.9)**,
# $\mathrm{PSNR} = 10 \log_{10} (255^2 / \mathrm{MSE})$, and SSIM, equation **(9.10)**: with
# $\mu, \sigma^2, \sigma_{xy}$ local means, variances and covariance under an 11×11 Gaussian
# window ($\sigma = 1.5$, normalised to sum 1, only positions where the window fits: "valid"),
# $C_1 = (0.01 \cdot 255)^2$, $C_2 = (0.03 \cdot 255)^2$,
#
# $$ \mathrm{SSIM} = \mathrm{mean}\; \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}. $$
#
# Write `bicubic_resize(image, out_h, out_w)` for an `(H, W, C)` float array and output sizes
# a factor 2 or 4 larger (upscaling; returns float64),
# `rgb_to_y(image)` (`(H, W, 3)` in $[0, 1]$ → `(H, W)` float64), `psnr_y(a, b, border=4)` and
# `ssim_y(a, b, border=4)` (floats; `a`, `b` RGB images of equal shape in $[0, 1]$; raise
# `ValueError` for different shapes).

# %% [solution] id=super_resolution_bicubic
def bicubic_resize(image, out_h, out_w):
    """Bicubic resize of an (H, W, C) array with Keys' kernel a = -0.5, equation (9.7)."""
    ### BEGIN SOLUTION
    def kernel(t, a=-0.5):
        t = np.abs(t)
        return np.where(t <= 1, (a + 2) * t**3 - (a + 3) * t**2 + 1,
                        np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0))

    def along(x, m, axis):
        n = x.shape[axis]
        s = (np.arange(m) + 0.5) * n / m - 0.5
        f = np.floor(s).astype(int)
        shape = [1] * x.ndim
        shape[axis] = m
        total, weight = 0.0, 0.0
        for k in range(-1, 3):
            j = f + k
            wk = (kernel(s - j) * ((j >= 0) & (j < n))).reshape(shape)
            total = total + np.take(x, np.clip(j, 0, n - 1), axis=axis) * wk
            weight = weight + wk
        return total / weight

    x = np.asarray(image, np.float64)
    if x.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {x.shape}")
    return along(along(x, int(out_h), 0), int(out_w), 1)
    ### END SOLUTION

# %% [solution] id=super_resolution_metrics
def rgb_to_y(image):
    """BT.601 luma in [16, 235] of an RGB image in [0, 1], equation (9.8)."""
    ### BEGIN SOLUTION
    x = np.asarray(image, np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {x.shape}")
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]
    ### END SOLUTION


def psnr_y(a, b, border=4):
    """PSNR in dB on Y after cropping `border` pixels, equation (9.9)."""
    ### BEGIN SOLUTION
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    if border:
        ya, yb = ya[border:-border, border:-border], yb[border:-border, border:-border]
    mse = np.mean((ya - yb) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))
    ### END SOLUTION


def ssim_y(a, b, border=4):
    """SSIM on Y (11×11 Gaussian window, sigma 1.5, valid positions), equation (9.10)."""
    ### BEGIN SOLUTION
    from scipy.signal import convolve2d
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} and {b.shape}")
    x, y = rgb_to_y(a), rgb_to_y(b)
    if border:
        x, y = x[border:-border, border:-border], y[border:-border, border:-border]
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    filt = lambda t: convolve2d(t, win, mode="valid")
    mx, my = filt(x), filt(y)
    sxx, syy, sxy = filt(x * x) - mx**2, filt(y * y) - my**2, filt(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return float(s.mean())
    ### END SOLUTION

# %% [tests] id=super_resolution_bicubic_test points=2 needs=super_resolution_bicubic
rng = np.random.default_rng(6)
x = rng.random((5, 7, 3))
up = bicubic_resize(x, 20, 28)
check_array(up, "bicubic_resize", shape=(20, 28, 3), dtype=np.float64)
assert_close(up, tf.image.resize(x[None], (20, 28), "bicubic").numpy()[0], "bicubic_resize vs tf.image.resize",
             rtol=1e-5, atol=1e-5)
assert_close(bicubic_resize(np.full((3, 4, 1), 0.7), 9, 8), np.full((9, 8, 1), 0.7), "a constant image stays constant")
passed("bicubic_resize")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(206)
for _shape, _oh, _ow in [((6, 4, 3), 24, 16), ((9, 8, 2), 18, 16), ((3, 5, 1), 12, 20), ((7, 6, 1), 14, 24)]:
    _x = _rng.random(_shape)
    _got = bicubic_resize(_x, _oh, _ow)
    assert type(_got) is np.ndarray and _got.shape == (_oh, _ow, _shape[2]), f"hidden: bicubic shape for {_shape}"
    _ref = tf.image.resize(tf.constant(_x[None]), (_oh, _ow), "bicubic").numpy()[0]
    assert float((_got - _ref).__abs__().max()) < 1e-5, f"hidden: bicubic values for {_shape} -> {(_oh, _ow)}"
### END HIDDEN TESTS

# %% [tests] id=super_resolution_metrics_test points=3 needs=super_resolution_metrics
rng = np.random.default_rng(7)
a = rng.random((24, 20, 3))
b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
ya = rgb_to_y(a)
check_array(ya, "rgb_to_y", shape=(24, 20), dtype=np.float64)
assert_close(rgb_to_y(np.ones((1, 1, 3))), [[235.0]], "white is Y = 235")
assert_close(rgb_to_y(np.zeros((1, 1, 3))), [[16.0]], "black is Y = 16")
yb = rgb_to_y(b)
mse = ((ya[4:-4, 4:-4] - yb[4:-4, 4:-4]) ** 2).mean()
assert abs(psnr_y(a, b) - 10 * np.log10(255**2 / mse)) < 1e-9, "psnr_y with border 4"
ref_ssim = float(tf.image.ssim(tf.constant(ya[4:-4, 4:-4, None]), tf.constant(yb[4:-4, 4:-4, None]), max_val=255.0))
print(f"PSNR {psnr_y(a, b):.2f} dB, SSIM {ssim_y(a, b):.4f} (tf.image.ssim: {ref_ssim:.4f})")
assert abs(ssim_y(a, b) - ref_ssim) < 1e-4, "ssim_y vs tf.image.ssim on the cropped Y channel"
assert abs(ssim_y(a, a) - 1.0) < 1e-9 and psnr_y(a, a) == float("inf"), "identical images"
expect_value_error(psnr_y, a, b[:-1])
passed("rgb_to_y, psnr_y and ssim_y")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(207)
for _shape, _border, _noise in [((30, 26, 3), 4, 0.1), ((20, 23, 3), 0, 0.02), ((40, 33, 3), 2, 0.3)]:
    _a = _rng.random(_shape)
    _b = (_a + _rng.normal(0, _noise, _shape)).clip(0, 1)
    _ya = 16.0 + 65.481 * _a[..., 0] + 128.553 * _a[..., 1] + 24.966 * _a[..., 2]
    _yb = 16.0 + 65.481 * _b[..., 0] + 128.553 * _b[..., 1] + 24.966 * _b[..., 2]
    _gy = rgb_to_y(_a)
    assert type(_gy) is np.ndarray and _gy.shape == _shape[:2], "hidden: rgb_to_y shape"
    assert float((_gy - _ya).__abs__().max()) < 1e-9, "hidden: rgb_to_y values"
    if _border:
        _ya, _yb = _ya[_border:-_border, _border:-_border], _yb[_border:-_border, _border:-_border]
    _mse = float(((_ya - _yb) ** 2).mean())
    _p = psnr_y(_a, _b, border=_border)
    assert type(_p) is float and abs(_p - 10 * np.log10(255.0**2 / _mse)) < 1e-8, f"hidden: psnr_y for {_shape}"
    _s = ssim_y(_a, _b, border=_border)
    _ref = float(tf.image.ssim(tf.constant(_ya[..., None]), tf.constant(_yb[..., None]), max_val=255.0).numpy())
    assert type(_s) is float and abs(_s - _ref) < 1e-4, f"hidden: ssim_y for {_shape}"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Experiment: Real-ESRGAN against bicubic
#
# To have a reference, take a real image as the "high-resolution" truth, shrink it 4× (PIL's
# bicubic with antialiasing — the simplest degradation of equation (9.1)), and upscale it back
# with bicubic and with your network. The course images are photographs; `animevideov3` was
# trained for anime-style content, so we also draw a flat-colour "cartoon". Note what PSNR
# rewards: a GAN-trained network invents plausible detail rather than minimising squared error.

# %% [demo]
def cartoon(size=256, seed=0):
    """A synthetic flat-colour drawing with black outlines (anime-like content)."""
    from PIL import ImageDraw
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (size, size), (250, 240, 220))
    draw = ImageDraw.Draw(im)
    for _ in range(14):
        x0, y0 = rng.integers(0, size - 40, 2)
        r = int(rng.integers(size // 16, size // 4))
        draw.ellipse([int(x0), int(y0), int(x0) + r, int(y0) + r], fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
                     outline=(0, 0, 0), width=max(1, size // 85))
    return np.asarray(im)


def shrink(hr, factor=4):
    """The low-resolution input: PIL bicubic (antialiased) downscale by `factor`."""
    h, w = hr.shape[0] // factor, hr.shape[1] // factor
    return np.asarray(Image.fromarray(hr[:h * factor, :w * factor]).resize((w, h), Image.BICUBIC))


HR_SIZE = config.pick(256, 64)
test_images = {"cartoon": cartoon(HR_SIZE),
               "astronaut": images.load_image("astronaut", size=(HR_SIZE, HR_SIZE)),
               "chelsea": images.load_image("chelsea", size=(HR_SIZE, HR_SIZE)),
               "coffee": images.load_image("coffee", size=(HR_SIZE, HR_SIZE))}
results = {}
print(f"{'image':<10} {'bicubic PSNR':>13} {'SR PSNR':>8} {'bicubic SSIM':>13} {'SR SSIM':>8}")
for name, hr in test_images.items():
    lr = images.to_float(shrink(hr))
    hr_f = images.to_float(hr)
    bic = np.clip(bicubic_resize(lr, *hr.shape[:2]), 0, 1)
    sr = np.clip(np.asarray(sr_model(lr[None]))[0], 0, 1)
    results[name] = (lr, bic, sr, hr_f)
    images.save_image(sr, OUT / f"{name}_x4.png")
    print(f"{name:<10} {psnr_y(bic, hr_f):13.2f} {psnr_y(sr, hr_f):8.2f} {ssim_y(bic, hr_f):13.4f} {ssim_y(sr, hr_f):8.4f}")

fig, axes = plt.subplots(len(results), 4, figsize=(10, 2.6 * len(results)))
for row, (name, (lr, bic, sr, hr_f)) in zip(axes, results.items()):
    crop = slice(HR_SIZE // 4, HR_SIZE // 4 + HR_SIZE // 2)
    for ax, img, title in zip(row, [np.repeat(np.repeat(lr, 4, 0), 4, 1), bic, sr, hr_f],
                              ["input (nearest ×4)", "bicubic", "Real-ESRGAN", "original"]):
        ax.imshow(img[crop, crop]); ax.set_title(f"{name}: {title}", fontsize=8); ax.axis("off")
fig.tight_layout()
fig.savefig(OUT / "sr_vs_bicubic.png", dpi=90)
plt.show()
print("upscaled images saved in", OUT.resolve())

# %% [markdown]
# ## 7. Experiment: tiles with overlap
#
# A 4K frame through this network needs gigabytes of activations (64 channels of float32 per
# low-resolution pixel, 18 layers). `source_lib.upscale.upscale_tiled` cuts the input into
# tiles, gives each tile `overlap` extra pixels of context on every side, and keeps only the
# centre of each upscaled tile. 18 convolutions 3×3 see 18 pixels to each side, so an overlap of
# 18 reproduces the whole-image result; how large is the seam error with less?

# %% [demo]
lr_big = images.to_float(shrink(images.load_image("astronaut", size=(config.pick(512, 128),) * 2)))
run = tf.function(lambda t: sr_model(t, training=False), reduce_retracing=True)
whole = run(tf.constant(lr_big[None])).numpy()[0]
tile = config.pick(48, 16)
for overlap in config.pick([0, 2, 4, 8, 18], [0, 4]):
    tiled = upscale_tiled(lambda t: run(tf.constant(t)).numpy(), lr_big, tile=tile, overlap=overlap,
                          show_progress=False)
    print(f"tile {tile}, overlap {overlap:2d}: max |tiled - whole| = {np.abs(tiled - whole).max():.2e}")

# %% [markdown]
# ## 8. Deployment with LiteRT: fp32, fp16, dynamic range, int8
#
# The deployment path is: model file → conversion → (quantization) → runtime. The LiteRT converter
# takes a TensorFlow function with a **fixed** input shape and writes a flat buffer. Four variants:
#
# * **fp32**: the weights as they are;
# * **fp16**: weights stored in float16 (half the file), computed in float32;
# * **dynamic range**: weights int8 with one scale per output channel, activations quantized on the
#   fly; needs no data;
# * **full int8**: weights *and* activations int8, equation **(9.11)**
#   $q = \mathrm{round}(x / s) + z$; the activation ranges $s, z$ come from a **calibration set**
#   of typical inputs that the converter runs through the float model.
#
# The helpers below convert, run and time a model; `op_counts` lists the operators of the
# converted graph. `DELEGATE` entries are the pieces that the XNNPACK delegate (LiteRT's fast CPU
# kernels) took over: **one piece per run of consecutive supported operators** — every
# unsupported operator splits the graph and runs on the slow reference kernels.

# %% [locked] id=super_resolution_litert
from ai_edge_litert.interpreter import Interpreter
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def to_litert(model, size, mode="fp32", calibration=()):
    """LiteRT flat buffer of `model` for (1, size, size, 3) inputs;
    mode fp32|fp16|dynamic|int8|int8-float-prelu (int8 except PReLU, kept in float32)."""
    fn = tf.function(lambda t: model(t, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec((1, size, size, 3), tf.float32)))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if mode != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        converter.representative_dataset = lambda: ([p[None].astype(np.float32)] for p in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif mode == "int8-float-prelu":     # mixed: the quantization debugger's denylist
        converter.representative_dataset = lambda: ([p[None].astype(np.float32)] for p in calibration)
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["PRELU"])
        with warnings.catch_warnings():   # the debugger uses the deprecated tf.lite.Interpreter
            warnings.simplefilter("ignore")
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=lambda: ([p[None].astype(np.float32)] for p in calibration[:1]),
                debug_options=options)
            return debugger.get_nondebug_quantized_model()
    return converter.convert()


class LiteRTModel:
    """Runs a flat buffer; times pre-processing, inference and post-processing separately."""

    def __init__(self, flatbuffer, threads=2):
        self.interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
        self.interpreter.allocate_tensors()
        self.inp = self.interpreter.get_input_details()[0]["index"]
        self.out = self.interpreter.get_output_details()[0]["index"]
        self.size = len(flatbuffer)

    def __call__(self, image_u8):
        t0 = time.perf_counter()
        x = (image_u8.astype(np.float32) / 255.0)[None]                     # pre: uint8 -> float NHWC
        t1 = time.perf_counter()
        self.interpreter.set_tensor(self.inp, x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self.out)
        t2 = time.perf_counter()
        out = np.clip(np.rint(y[0] * 255.0), 0, 255).astype(np.uint8)       # post: clip, round, uint8
        t3 = time.perf_counter()
        return out, (t1 - t0, t2 - t1, t3 - t2)

    def op_counts(self):
        return Counter(op["op_name"] for op in self.interpreter._get_ops_details())


def timed(runner, image_u8, repeat):
    """Output and median (pre, infer, post) seconds over `repeat` calls after one warm-up."""
    out, _ = runner(image_u8)
    parts = np.median([runner(image_u8)[1] for _ in range(repeat)], axis=0)
    return out, parts

# %% [markdown]
# A calibration set is a list of real low-resolution patches. We cut them from the course images
# (the test image of the table below is left out).

# %% [demo]
SIZE = config.pick(64, 32)            # input side of the deployed model (the benchmark uses 128)
sources = [images.to_float(shrink(images.load_image(n))) for n in ("coffee", "chelsea", "rocket", "grace_hopper")]
rng = config.seed_everything(0)


def calibration_patches(count, size=SIZE, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        src = sources[k % len(sources)]
        y, x = rng.integers(0, src.shape[0] - size), rng.integers(0, src.shape[1] - size)
        out.append(src[y:y + size, x:x + size])
    return out


test_hr = images.load_image("astronaut", size=(4 * SIZE * 2,) * 2)[:4 * SIZE, 4 * SIZE:8 * SIZE]
test_lr = shrink(test_hr)
ref_fp32 = np.clip(np.asarray(sr_model(images.to_float(test_lr)[None]))[0], 0, 1)
print("test input", test_lr.shape, "calibration patches of", SIZE, "×", SIZE)

# %% [demo]
variants = config.pick(["fp32", "fp16", "dynamic", "int8"], ["int8"])     # one conversion while grading
calib = calibration_patches(config.pick(100, 4))
deployed = {}
for mode in progress(variants, desc="convert"):
    start = time.perf_counter()
    deployed[mode] = LiteRTModel(to_litert(sr_model, SIZE, mode, calib))
    print(f"{mode:8s} converted in {time.perf_counter() - start:5.1f} s, {deployed[mode].size / 1e6:.2f} MB, "
          f"ops {dict(deployed[mode].op_counts())}")


def table(models, repeat):
    print(f"{'variant':<14} {'MB':>5} {'pre ms':>7} {'infer ms':>9} {'post ms':>8} {'PSNR vs fp32':>13} {'PSNR vs HR':>11}")
    for name, m in models.items():
        out, (pre, inf, post) = timed(m, test_lr, repeat)
        out = images.to_float(out)
        print(f"{name:<14} {m.size / 1e6:5.2f} {pre * 1e3:7.2f} {inf * 1e3:9.1f} {post * 1e3:8.2f} "
              f"{psnr_y(out, ref_fp32):13.1f} {psnr_y(out, images.to_float(test_hr)):11.2f}")


table(deployed, repeat=config.pick(5, 1))

# %% [markdown]
# ## 9. Experiment: calibration-set size
#
# Full int8 needs activation ranges. With too few calibration patches a rare bright or dark patch
# later saturates the int8 range. But LiteRT keeps the minimum and maximum over *all* patches,
# so each extra patch can only widen a range and make the int8 steps coarser. Which effect wins
# here? (Full mode only: each conversion runs every patch through the model.)

# %% [demo]
if not config.small():
    for count in progress([10, 100, 500], desc="calibration"):
        m = LiteRTModel(to_litert(sr_model, SIZE, "int8", calibration_patches(count, seed=1)))
        out, _ = timed(m, test_lr, 1)
        out = images.to_float(out)
        print(f"{count:4d} patches: PSNR vs fp32 {psnr_y(out, ref_fp32):.2f} dB, vs HR {psnr_y(out, images.to_float(test_hr)):.2f} dB")
else:
    print("(full mode only)")

# %% [markdown]
# ## 10. Why full int8 is not faster — and a fix
#
# Look at the `DELEGATE` count of the int8 model: XNNPACK has int8 kernels for convolution but
# **not for PReLU**, so each of the 17 PReLU layers falls back to the reference kernel and cuts
# the graph: 18 pieces, with the int8 tensors handed back and forth. Three ways out:
#
# 1. Write PReLU with operators that *are* supported, equation **(9.12)**:
#    $\mathrm{PReLU}_a(x) = \mathrm{relu}(x) - a\, \mathrm{relu}(-x)$ — exactly the same function.
#    Whether it helps depends on the converter: count the pieces again.
# 2. Change the activation to one with an int8 kernel (leaky ReLU with a single slope) — the
#    graph is back to as few pieces as the fp32 graph, but the function changes: without
#    fine-tuning the quality drops.
# 3. Keep PReLU in float32 (*mixed* precision): the converter puts a DEQUANTIZE before and a
#    QUANTIZE after each PReLU, and XNNPACK has a float PReLU kernel, so the graph need not split.
#
# `source_lib.ncnn.load_model(..., prelu="relu")` builds variant 1; `prelu="leaky"` variant 2
# (every PReLU becomes a leaky ReLU with the layer's mean slope); `to_litert(..., "int8-float-prelu")`
# variant 3.

# %% [demo]
if not config.small():
    fixes = {"int8 (PReLU)": deployed["int8"],
             "int8 relu-form": LiteRTModel(to_litert(ncnn.load_model("animevideov3", prelu="relu"), SIZE, "int8", calib)),
             "int8 leaky": LiteRTModel(to_litert(ncnn.load_model("animevideov3", prelu="leaky"), SIZE, "int8", calib)),
             "int8 float PReLU": LiteRTModel(to_litert(sr_model, SIZE, "int8-float-prelu", calib))}
    for name, m in fixes.items():
        print(f"{name:<15} pieces (DELEGATE): {m.op_counts()['DELEGATE']:2d}   ops: {dict(m.op_counts())}")
    table({"fp32": deployed["fp32"], **fixes}, repeat=5)
else:
    print("int8 model pieces (DELEGATE):", deployed["int8"].op_counts()["DELEGATE"], "(full mode compares the fixes)")

# %% [markdown]
# ## Check yourself
#
# 1. How many bytes does a tagged float16 blob of 27 values take in a `.bin` file, and why?
# 2. Why must the reader process the layers in file order, and what breaks if it skips a layer
#    that has weights?
# 3. Show that `tf.nn.depth_to_space` equals pixel shuffle (9.4) after a permutation of the
#    channels. Why is it better to apply that permutation to the last convolution's weights?
# 4. Why does a GAN-trained network often have a *lower* PSNR than bicubic on photographs, and
#    still look sharper? What would you measure instead?
# 5. How large must the tile overlap be for an exact result with 18 convolutions 3×3? What about
#    RRDB, whose convolutions run at low resolution and then after two 2× upsamplings?
# 6. Which variant would you ship on a phone GPU, on a CPU with XNNPACK, on an int8-only NPU?
# 7. Fine-tune the leaky-ReLU variant for a few hundred steps against the fp32 network's outputs
#    (distillation). How much of the PSNR comes back?
