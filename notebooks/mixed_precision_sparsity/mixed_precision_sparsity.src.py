# %% [config] timeout=300 partial=mixed_precision_sparsity_bfloat16,mixed_precision_sparsity_loss_scaling,mixed_precision_sparsity_magnitude,mixed_precision_sparsity_csr

# %% [markdown] id=mixed_precision_sparsity_header locked
# # Chapter 10 — Mixed precision and sparse training
#
# Training spends its time and memory on numbers: weights, activations, gradients. This
# assignment makes them cheaper in two ways. **Mixed precision** stores and multiplies in 16-bit
# floats (float16 or bfloat16) while a float32 copy of the weights takes the updates; **loss
# scaling** keeps the small gradients that float16 would round to zero. **Sparse training** keeps
# most weights at exactly zero — by magnitude pruning, by a random fixed mask, or by *sparse
# momentum* (Dettmers & Zettlemoyer, 2019), which moves the non-zero weights to the layers and
# positions where the gradient says they are needed. Then you measure what either idea buys on
# this machine's CPU: in step time, in accuracy, and in the time of a sparse matrix product.
#
# **Learning goals**
# 1. Round float32 to bfloat16 and float16 by manipulating bits: round-to-nearest-even,
#    subnormals, overflow and NaN, (10.1)–(10.3).
# 2. Write a mixed-precision update with float32 master weights and loss scaling, (10.4), and a
#    dynamic loss scaler that skips steps on overflow, (10.5).
# 3. Build magnitude-pruning masks and the gradual pruning schedule, (10.6) and (10.7).
# 4. Write one sparse-momentum step: prune, redistribute, regrow, (10.8).
# 5. Store a sparse matrix in CSR and multiply it with a dense one, (10.9); measure when a sparse
#    product beats a dense one, (10.10).
#
# **Conventions.** "Rounding a float32 array to float16" means: return a **float32** array whose
# values are exactly the float16 values that `x.astype(np.float16)` would give (the same for
# bfloat16 and `tf.bfloat16`). Masks are boolean arrays with `True` for a weight that is kept.
# Fill in every cell that says `YOUR CODE HERE`, then run the test cell below it. Hidden tests
# run when the notebook is graded.

# %% [locked] id=mixed_precision_sparsity_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
import keras

from source_lib import config
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.progress import progress

OUTPUT = Path("output")          # results of the experiments (JSON), made by the first experiment
print(config.banner())

# %% [markdown]
# The visible tests use the helpers below: the float32 bit pattern of a value, the reference
# casts (NumPy's `float16`, TensorFlow's `bfloat16`) and a check that a function raises
# `ValueError` or `TypeError` on bad input.

# %% [locked] id=mixed_precision_sparsity_references
def bits32(x):
    """The float32 bit patterns of x as uint32."""
    return np.asarray(x, np.float32).view(np.uint32)


def reference_float16(x):
    """float32 -> float16 -> float32 with NumPy's cast (round to nearest even)."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def reference_bfloat16(x):
    """float32 -> bfloat16 -> float32 with TensorFlow's cast (round to nearest even)."""
    return tf.cast(tf.cast(tf.constant(np.asarray(x, np.float32)), tf.bfloat16), tf.float32).numpy()


def same_floats(got, ref):
    """True when got and ref have equal bits, except that any NaN matches any NaN."""
    nan_g, nan_r = np.isnan(got), np.isnan(ref)
    return bool((nan_g == nan_r).all() and (bits32(got)[~nan_r] == bits32(ref)[~nan_r]).all())


def expect_error(fn, *args, errors=(ValueError, TypeError), **kwargs):
    """fn(*args, **kwargs) must raise one of `errors`."""
    try:
        fn(*args, **kwargs)
    except errors as err:
        return str(err)
    raise AssertionError(f"{fn.__name__} should raise {' or '.join(e.__name__ for e in errors)} here")


# Special values every rounding function must get right
SPECIALS = np.array([0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 65519.99,
                     1e5, -1e5, 6.1035156e-05, 6.0e-05, 5.9604645e-08, 2.9802322e-08, 2.9802326e-08,
                     1e-8, 3.0e-8, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8,
                     3.3895314e38, 3.4e38, 1e-39, 1e-45, -1e-42, 2.0**-133, 1.5 * 2.0**-133], np.float32)

# %% [markdown]
# ## 1. bfloat16: keep the top 16 bits, rounded
#
# A float32 number is a sign bit, 8 exponent bits and 23 fraction bits, equation **(10.1)**.
# bfloat16 keeps the sign and all 8 exponent bits — the same range as float32 — and only the top
# 7 fraction bits. Rounding a float32 to bfloat16 therefore means rounding its 32-bit pattern $b$
# to a multiple of $2^{16}$, to the nearest one, and on a tie to the one whose lowest kept bit is
# 0 (*round to nearest, ties to even*), equation **(10.2)**:
#
# $$ b' = \big(b + \texttt{0x7FFF} + \text{bit}_{16}(b)\big) \;\&\; \texttt{0xFFFF0000}. $$
#
# A carry may run into the exponent: that is correct (1.99999 rounds to 2.0), and the largest
# values round to infinity. Subnormals need no special case. NaN does: adding to a NaN pattern can
# turn it into infinity, so for NaN keep the top 16 bits and set the quiet bit `0x00400000`.
#
# Write `round_to_bfloat16(x)`: `x` a float32 array (raise `TypeError` for any other dtype),
# return a float32 array of the same shape. Use `x.view(np.uint32)` and integer operations (work
# in `np.int64` or `np.uint64` to avoid overflow); do not call a bfloat16 cast.

# %% [solution] id=mixed_precision_sparsity_bfloat16
def round_to_bfloat16(x):
    """float32 -> nearest bfloat16 value (ties to even), as float32; equation (10.2)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"round_to_bfloat16 needs a float32 array, got {x.dtype}")
    bits = np.ascontiguousarray(x).view(np.uint32).astype(np.int64)
    lsb = (bits >> 16) & 1
    rounded = (bits + 0x7FFF + lsb) & 0xFFFF0000
    is_nan = (bits & 0x7FFFFFFF) > 0x7F800000
    out = np.where(is_nan, (bits | 0x00400000) & 0xFFFF0000, rounded)
    return out.astype(np.uint32).view(np.float32).reshape(x.shape)
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_bfloat16_test points=2 needs=mixed_precision_sparsity_bfloat16
r = round_to_bfloat16(np.array([1.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8, -3.14159], np.float32))
check_array(r, "round_to_bfloat16", shape=(4,), dtype=np.float32)
assert_equal(r, [1.0, 1.0, 1.0 + 2.0**-6, -3.140625], "round_to_bfloat16: ties go to the even neighbour")
r = round_to_bfloat16(SPECIALS)
check_array(r, "round_to_bfloat16(SPECIALS)", shape=SPECIALS.shape, dtype=np.float32, finite=False)
ref = reference_bfloat16(SPECIALS)
for i, (g, e) in enumerate(zip(r, ref)):
    assert same_floats(np.array([g]), np.array([e])), \
        f"round_to_bfloat16({SPECIALS[i]!r}) = {g!r}, TensorFlow's bfloat16 cast gives {e!r}"
rng = np.random.default_rng(0)
x = (rng.standard_normal((3, 50)) * 10.0 ** rng.integers(-40, 38, (3, 50))).astype(np.float32)
assert same_floats(round_to_bfloat16(x), reference_bfloat16(x)), "random values of all magnitudes"
expect_error(round_to_bfloat16, np.ones(3), errors=(TypeError,))
passed("round_to_bfloat16 matches tf.bfloat16")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1001)
_u = _rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
_u[:8] = [0x3F808000, 0x3F818000, 0x7F7FFFFF, 0xFF7F8000, 0x00008000, 0x80018000, 0x7FC00001, 0xFF800001]
for _x in [_u.view(np.float32), _u.view(np.float32).reshape(100, 200), SPECIALS.reshape(5, 6)]:
    _got = round_to_bfloat16(_x.copy())
    _ref = tf.cast(tf.cast(tf.constant(_x), tf.bfloat16), tf.float32).numpy()
    assert type(_got) is np.ndarray and _got.dtype == np.float32 and _got.shape == _x.shape, \
        "hidden: round_to_bfloat16 returns a float32 ndarray of the input's shape"
    _nan_r = _ref != _ref
    assert ((_got != _got) != _nan_r).sum() == 0, "hidden: NaN positions"
    assert (_got.view(np.uint32)[~_nan_r] != _ref.view(np.uint32)[~_nan_r]).sum() == 0, "hidden: bfloat16 bits"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. float16: fewer exponent bits, subnormals and overflow
#
# float16 has 5 exponent bits and 10 fraction bits. Its normal numbers run from
# $2^{-14} \approx 6.1 \cdot 10^{-5}$ to $65504$; below $2^{-14}$ come the **subnormals**, the
# multiples of $2^{-24} \approx 6.0 \cdot 10^{-8}$, equation **(10.3)**; anything that rounds above
# 65504 becomes infinity. To round a float32 $x$ with bit pattern $b$, magnitude bits
# $a = b \,\&\, \texttt{0x7FFFFFFF}$ and biased exponent $e = a \gg 23$:
#
# * **NaN and ±inf** ($a \ge \texttt{0x7F800000}$): infinity stays infinity, NaN stays NaN.
# * **normal range** ($e \ge 113$, i.e. $|x| \ge 2^{-14}$): round $a$ to a multiple of $2^{13}$
#   as in (10.2), $a' = (a + \texttt{0xFFF} + \text{bit}_{13}(a)) \,\&\, \lnot\texttt{0x1FFF}$;
#   if $a' \ge \texttt{0x47800000}$ ($2^{16}$) the value overflowed: infinity.
# * **subnormal range** ($e < 113$): $|x| = m \cdot 2^{e - 150}$ with $m = (a \,\&\, \texttt{0x7FFFFF})
#   \,|\, 2^{23}$, so $|x| / 2^{-24} = m / 2^{s}$ with $s = 126 - e$ (use $s = \min(s, 25)$:
#   everything smaller rounds to 0). Round $m / 2^s$ to the nearest integer $q$, ties to even
#   (compare the remainder $m \,\&\, (2^s - 1)$ with $2^{s-1}$), and the result is $q \cdot 2^{-24}$.
# * put the sign bit back: $-0.0$ stays $-0.0$.
#
# Write `round_to_float16(x)` with the same contract as `round_to_bfloat16` (float32 in, float32
# out, `TypeError` otherwise). Integer and bit operations only — no float16 cast.

# %% [solution] id=mixed_precision_sparsity_float16
def round_to_float16(x):
    """float32 -> nearest float16 value (ties to even, subnormals, overflow to inf), as float32;
    equations (10.1)-(10.3)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise TypeError(f"round_to_float16 needs a float32 array, got {x.dtype}")
    bits = np.ascontiguousarray(x).view(np.uint32).astype(np.int64)
    sign = bits & 0x80000000
    mag = bits & 0x7FFFFFFF
    exp = mag >> 23
    # normal float16 range: keep 10 fraction bits, round to nearest even, overflow -> inf
    normal = (mag + 0xFFF + ((mag >> 13) & 1)) & ~0x1FFF
    normal = np.where(normal >= 0x47800000, 0x7F800000, normal)
    # subnormal float16 range: round |x| / 2**-24 to an integer q
    shift = np.clip(126 - exp, 14, 25)
    m = (mag & 0x7FFFFF) | 0x800000
    q = m >> shift
    rem = m & ((np.int64(1) << shift) - 1)
    half = np.int64(1) << (shift - 1)
    q = q + ((rem > half) | ((rem == half) & ((q & 1) == 1)))
    sub = (q.astype(np.float32) * np.float32(2.0**-24)).view(np.uint32).astype(np.int64)
    special = np.where(mag > 0x7F800000, (mag | 0x00400000) & ~0x1FFF, mag)    # inf stays, NaN stays quiet NaN
    out = np.where(mag >= 0x7F800000, special, np.where(exp >= 113, normal, sub)) | sign
    return out.astype(np.uint32).view(np.float32).reshape(x.shape)
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_float16_test points=3 needs=mixed_precision_sparsity_float16
r = round_to_float16(np.array([1.0, 1.0 + 2.0**-11, 1.0 + 3 * 2.0**-11, 70000.0, 1e-8, 5e-8], np.float32))
check_array(r, "round_to_float16", shape=(6,), dtype=np.float32, finite=False)
assert_equal(r[:3], [1.0, 1.0, 1.0 + 2.0**-9], "round_to_float16: ties go to the even neighbour")
assert r[3] == np.inf, f"70000 is above float16's largest value 65504: expected inf, got {r[3]}"
assert r[4] == 0.0, f"1e-8 is below half the smallest subnormal 2**-24: expected 0, got {r[4]}"
assert r[5] == np.float32(2.0**-24), f"5e-8 rounds to the smallest subnormal 2**-24, got {r[5]}"
r = round_to_float16(SPECIALS)
ref = reference_float16(SPECIALS)
for i, (g, e) in enumerate(zip(r, ref)):
    assert same_floats(np.array([g]), np.array([e])), \
        f"round_to_float16({SPECIALS[i]!r}) = {g!r}, NumPy's float16 cast gives {e!r}"
rng = np.random.default_rng(2)
x = (rng.standard_normal((4, 60)) * 2.0 ** rng.integers(-30, 18, (4, 60))).astype(np.float32)
assert same_floats(round_to_float16(x), reference_float16(x)), "random values around float16's range"
expect_error(round_to_float16, np.ones(3, np.float16), errors=(TypeError,))
passed("round_to_float16 matches np.float16")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1002)
_u = _rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
_near = (_rng.standard_normal(20000) * 2.0 ** _rng.integers(-28, 17, 20000)).astype(np.float32)
_ties = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, 2.0**-25, 3 * 2.0**-25, 3 * 2.0**-26, 65520.0, 65519.996,
                  2.0**-14 - 2.0**-25, 2.0**-14 - 2.0**-26, -5 * 2.0**-26, 1e-45, 1.17e-38], np.float32)
for _x in [_u.view(np.float32), _near.reshape(200, 100), _ties, np.float32(np.nan) * np.ones((2, 2), np.float32)]:
    _got = round_to_float16(_x.copy())
    with np.errstate(all="ignore"):
        _ref = _x.astype(np.float16).astype(np.float32)
    assert type(_got) is np.ndarray and _got.dtype == np.float32 and _got.shape == _x.shape, \
        "hidden: round_to_float16 returns a float32 ndarray of the input's shape"
    _nan_r = _ref != _ref
    assert ((_got != _got) != _nan_r).sum() == 0, "hidden: NaN positions"
    assert (_got.view(np.uint32)[~_nan_r] != _ref.view(np.uint32)[~_nan_r]).sum() == 0, "hidden: float16 bits"
### END HIDDEN TESTS

# %% [markdown]
# What the two formats do to typical training numbers (your functions, no casts):

# %% [demo]
samples = np.array([3.14159265, 1000.3, 70000.0, 1e-3, 1e-5, 1e-8, 1e-20], np.float32)
print(f"{'float32':>14} {'bfloat16':>14} {'float16':>14}")
for v, b, h in zip(samples, round_to_bfloat16(samples), round_to_float16(samples)):
    print(f"{v:14.8g} {b:14.8g} {h:14.8g}")
print("float16 loses 1e-8 and 1e-20 (underflow to 0) and 70000 (overflow to inf);",
      "bfloat16 keeps the range but only ~3 significant digits")

# %% [markdown]
# ## 3. Loss scaling with float32 master weights
#
# In mixed precision the forward and backward passes run in float16, but the weights that
# receive the updates — the **master weights** — stay float32: an update $\eta g$ is often
# smaller than the float16 spacing of the weight it is added to. Gradients themselves can be
# smaller than $2^{-24}$ and flush to zero. The cure, equation **(10.4)**: multiply the loss by a
# scale $S$ (a power of two) before the backward pass, so every gradient on the way is $S$ times
# larger, and divide by $S$ in float32 before the update:
#
# $$ w_{16} = \mathrm{fp16}(w), \qquad g = \frac{\mathrm{fp32}\big(\nabla_{w_{16}} (S L)\big)}{S}, \qquad
#    w \leftarrow w - \eta\, g \quad \text{(only if every } g \text{ is finite).} $$
#
# If the scaled gradients overflowed (an `inf` or `nan` anywhere in $g$), the step is
# **skipped**: the weights stay as they are.
#
# Write `loss_scaled_sgd_step(w_master, grad16_fn, lr, scale)`. `w_master` is a float32 array;
# `grad16_fn(w16, scale)` runs the float16 backward pass of the loss multiplied by `scale` and
# returns float16 gradients shaped like `w16`. Return `(w_new, grads, finite)`: `w_new` a new
# float32 array (never modify `w_master`), `grads` the unscaled float32 gradients $g$, and
# `finite` a Python `bool`. Do the unscaling and the update in float32.

# %% [locked] id=mixed_precision_sparsity_backward16
def linear_backward16(x, dy):
    """grad16_fn for y = x @ w with upstream gradient dy of the *unscaled* loss.

    The backward pass of a float16 network sees S·dy rounded to float16; the weight gradient
    x16.T @ dy16 is accumulated in float32 (as tensor cores do) and stored as float16."""
    x16 = np.asarray(x, np.float32).astype(np.float16)

    def grad16_fn(w16, scale):
        with np.errstate(over="ignore", invalid="ignore"):      # overflow to inf is the point here
            dy16 = (np.asarray(dy, np.float32) * np.float32(scale)).astype(np.float16)
            return (x16.T.astype(np.float32) @ dy16.astype(np.float32)).astype(np.float16)
    return grad16_fn

# %% [solution] id=mixed_precision_sparsity_loss_scaling
def loss_scaled_sgd_step(w_master, grad16_fn, lr, scale):
    """One SGD step with float32 master weights and loss scale S, equation (10.4).
    Returns (w_new float32, grads float32, finite bool); the step is skipped if not finite."""
    ### BEGIN SOLUTION
    w_master = np.asarray(w_master)
    if w_master.dtype != np.float32:
        raise TypeError(f"master weights must be float32, got {w_master.dtype}")
    g16 = np.asarray(grad16_fn(w_master.astype(np.float16), scale))
    if g16.shape != w_master.shape:
        raise ValueError(f"grad16_fn returned shape {g16.shape}, the weights have {w_master.shape}")
    grads = g16.astype(np.float32) / np.float32(scale)
    finite = bool(np.isfinite(grads).all())
    w_new = w_master - np.float32(lr) * grads if finite else w_master.copy()
    return w_new.astype(np.float32, copy=False), grads, finite
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_loss_scaling_test points=2 needs=mixed_precision_sparsity_loss_scaling
rng = np.random.default_rng(3)
x = rng.standard_normal((16, 4)).astype(np.float32)
dy = np.full((16, 3), 1e-8, np.float32)                  # upstream gradients below float16's 6e-8
true_grad = x.T.astype(np.float64) @ dy.astype(np.float64)
w = rng.standard_normal((4, 3)).astype(np.float32)
w_copy = w.copy()
w1, g1, ok1 = loss_scaled_sgd_step(w, linear_backward16(x, dy), lr=1e6, scale=1.0)
check_array(g1, "grads", shape=(4, 3), dtype=np.float32)
check_array(w1, "w_new", shape=(4, 3), dtype=np.float32)
assert ok1 is True, "finite should be the Python bool True"
assert np.all(g1 == 0), "without scaling, 1e-8 underflows in float16: every gradient should be exactly 0"
assert_equal(w, w_copy, "loss_scaled_sgd_step must not modify w_master")
w2, g2, ok2 = loss_scaled_sgd_step(w, linear_backward16(x, dy), lr=1e6, scale=2.0**16)
assert ok2, "with S = 2**16 the scaled gradients are finite"
assert_close(g2, true_grad, "grads with S = 2**16 (recovered to float16 precision)", rtol=2e-3, atol=1e-11)
assert_close(w2, w - np.float32(1e6) * g2, "w_new = w - lr * g (float32)", rtol=1e-6)
w3, g3, ok3 = loss_scaled_sgd_step(w, linear_backward16(x * 1e4, dy * 1e4), lr=0.1, scale=2.0**16)
assert ok3 is False, "scaled gradients overflowed float16: finite should be False"
assert_equal(w3, w, "an overflowed step is skipped: w_new equals w_master")
passed("loss scaling recovers the 1e-8 gradients and skips overflowed steps")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1003)
for _n, _d, _k, _mag, _S, _lr in [(8, 5, 2, 3e-9, 2.0**20, 1e7), (32, 3, 4, 1e-3, 1024.0, 0.5),
                                  (10, 6, 3, 1e-7, 1.0, 2.0), (12, 2, 2, 5.0, 2.0**15, 0.1)]:
    _x = _rng.standard_normal((_n, _d)).astype(np.float32)
    _dy = (_rng.standard_normal((_n, _k)) * _mag).astype(np.float32)
    _w = _rng.standard_normal((_d, _k)).astype(np.float32)
    _keep = _w.copy()
    _x16 = _x.astype(np.float16)
    with np.errstate(all="ignore"):
        _g16 = (_x16.T.astype(np.float32) @ (_dy * np.float32(_S)).astype(np.float16).astype(np.float32)).astype(np.float16)
    _g = _g16.astype(np.float32) / np.float32(_S)
    _fin = bool((_g == _g).all() and (_g.__abs__() < np.inf).all())
    _ref_w = _keep - np.float32(_lr) * _g if _fin else _keep
    _got_w, _got_g, _got_f = loss_scaled_sgd_step(_w, linear_backward16(_x, _dy), _lr, _S)
    assert type(_got_w) is np.ndarray and _got_w.dtype == np.float32 and _got_w.shape == _w.shape, "hidden: w_new"
    assert type(_got_g) is np.ndarray and _got_g.dtype == np.float32 and _got_g.shape == _w.shape, "hidden: grads"
    assert _got_f is _fin, f"hidden: finite flag for case {(_n, _d, _k, _mag, _S)}"
    assert (_w != _keep).sum() == 0, "hidden: w_master modified"
    _ok = _g.__abs__() < np.inf
    assert ((_got_g[_ok] - _g[_ok]).__abs__().max() if _ok.any() else 0.0) <= 1e-6 * (_g[_ok].__abs__().max() if _ok.any() else 1.0), "hidden: grads"
    assert (_got_w - _ref_w).__abs__().max() <= 1e-6 * max(1.0, float(_ref_w.__abs__().max())), "hidden: w_new"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A dynamic loss scaler
#
# Which $S$? Too small and gradients underflow; too large and they overflow. A **dynamic** scaler
# (the one `keras.mixed_precision.LossScaleOptimizer` uses) starts large and adapts, equation
# **(10.5)**: after a step whose gradients are not all finite, halve $S$ (never below `min_scale`),
# reset the count of good steps and skip the update; after a finite step, count it, and when the
# count reaches `growth_interval`, double $S$ (never above `max_scale`) and reset the count.
#
# $$ (S, n) \leftarrow \begin{cases} (\max(S / f, S_{min}),\ 0) & \text{non-finite: skip the step} \\
#    (\min(f S, S_{max}),\ 0) & \text{finite and } n + 1 = N \\ (S,\ n + 1) & \text{finite otherwise} \end{cases} $$
#
# Write `update_loss_scale(scale, good_steps, finite, growth_interval=2000, factor=2.0,
# min_scale=1.0, max_scale=2.0**24)` returning `(new_scale, new_good_steps, apply_step)` as
# `(float, int, bool)`.

# %% [solution] id=mixed_precision_sparsity_dynamic_scale
def update_loss_scale(scale, good_steps, finite, growth_interval=2000, factor=2.0, min_scale=1.0,
                      max_scale=2.0**24):
    """Dynamic loss scaling, equation (10.5): (new_scale, new_good_steps, apply_step)."""
    ### BEGIN SOLUTION
    if not finite:
        return float(max(scale / factor, min_scale)), 0, False
    good_steps = int(good_steps) + 1
    if good_steps >= growth_interval:
        return float(min(scale * factor, max_scale)), 0, True
    return float(scale), good_steps, True
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_dynamic_scale_test points=2 needs=mixed_precision_sparsity_dynamic_scale
s, n, apply = update_loss_scale(2.0**15, 5, False)
assert (s, n, apply) == (2.0**14, 0, False), f"overflow: halve, reset, skip — got {(s, n, apply)}"
assert isinstance(s, float) and isinstance(n, int) and isinstance(apply, bool), "types (float, int, bool)"
assert update_loss_scale(1024.0, 3, True, growth_interval=10) == (1024.0, 4, True), "a good step is counted"
assert update_loss_scale(1024.0, 9, True, growth_interval=10) == (2048.0, 0, True), "the 10th good step doubles S"
assert update_loss_scale(1.0, 0, False)[0] == 1.0, "S never drops below min_scale"
assert update_loss_scale(2.0**24, 1999, True)[0] == 2.0**24, "S never grows above max_scale"
trace, s, n = [], 8.0, 0
for finite in [True, True, True, False, False, True, True, True, True]:
    s, n, apply = update_loss_scale(s, n, finite, growth_interval=3)
    trace.append(s)
assert trace == [8, 8, 16, 8, 4, 4, 4, 8, 8], f"scale trace {trace}"
passed("update_loss_scale")
### BEGIN HIDDEN TESTS
import random as _random
_r = _random.Random(1004)
for _trial in range(30):
    _N = _r.choice([1, 2, 3, 7, 2000])
    _f = _r.choice([2.0, 4.0, 1.5])
    _lo, _hi = _r.choice([(1.0, 2.0**24), (0.25, 64.0), (16.0, 16.0 * 2 ** 10)])
    _s, _n = _lo * 2.0 ** _r.randint(0, 4), 0
    _rs, _rn = _s, 0
    for _step in range(60):
        _fin = _r.random() > 0.3
        _s, _n, _ap = update_loss_scale(_s, _n, _fin, growth_interval=_N, factor=_f, min_scale=_lo, max_scale=_hi)
        if not _fin:
            _rs, _rn = max(_rs / _f, _lo), 0
        elif _rn + 1 >= _N:
            _rs, _rn = min(_rs * _f, _hi), 0
        else:
            _rn += 1
        assert type(_s) is float and type(_n) is int and type(_ap) is bool, "hidden: result types"
        assert _s == _rs and _n == _rn and _ap == _fin, f"hidden: scaler state at trial {_trial}, step {_step}"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Magnitude pruning
#
# The simplest way to make a layer sparse is to drop its smallest weights. For a layer with $n$
# weights and target sparsity $s$, prune $k = \mathrm{round}(s n)$ of them — the $k$ smallest in
# $|w|$ — and keep the rest, equation **(10.6)**:
#
# $$ \text{mask}_j = \big[\, |w_j| \text{ is not among the } k \text{ smallest of } |w| \,\big],
#    \qquad k = \mathrm{round}(s\, n). $$
#
# Pruning all at once hurts; **gradual** pruning (Zhu & Gupta, 2017) raises the sparsity from
# $s_i$ to $s_f$ between steps $t_0$ and $t_1$ along a cubic, equation **(10.7)**, fast at first
# while there are many redundant weights and slowly at the end:
#
# $$ s_t = s_f + (s_i - s_f) \Big(1 - \frac{t - t_0}{t_1 - t_0}\Big)^3, \qquad t_0 \le t \le t_1 , $$
#
# with $s_t = s_i$ before $t_0$ and $s_f$ after $t_1$.
#
# Write `magnitude_masks(weights, sparsity)`: `weights` a list of arrays (one per layer),
# `sparsity` one number in $[0, 1)$ for all layers or a list with one per layer; return a list of
# boolean masks shaped like the weights, pruning exactly $k$ weights in each layer (sort with
# `np.argsort(np.abs(w).ravel(), kind="stable")`; raise `ValueError` for a sparsity outside
# $[0, 1)$ or a list of the wrong length). And `gradual_sparsity(t, s_final, t_start, t_end,
# s_init=0.0)`, a float.

# %% [solution] id=mixed_precision_sparsity_magnitude
def magnitude_masks(weights, sparsity):
    """Per-layer magnitude pruning masks, equation (10.6): True = kept."""
    ### BEGIN SOLUTION
    weights = [np.asarray(w) for w in weights]
    levels = list(sparsity) if np.ndim(sparsity) else [sparsity] * len(weights)
    if len(levels) != len(weights):
        raise ValueError(f"{len(levels)} sparsities for {len(weights)} layers")
    masks = []
    for w, s in zip(weights, levels):
        if not 0.0 <= float(s) < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {s}")
        k = int(np.round(float(s) * w.size))
        mask = np.ones(w.size, dtype=bool)
        mask[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = False
        masks.append(mask.reshape(w.shape))
    return masks
    ### END SOLUTION


def gradual_sparsity(t, s_final, t_start, t_end, s_init=0.0):
    """Sparsity at step t of the cubic schedule, equation (10.7)."""
    ### BEGIN SOLUTION
    if t_end <= t_start:
        raise ValueError(f"t_end ({t_end}) must be after t_start ({t_start})")
    progress_ = min(max((t - t_start) / (t_end - t_start), 0.0), 1.0)
    return float(s_final + (s_init - s_final) * (1.0 - progress_) ** 3)
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_magnitude_test points=2 needs=mixed_precision_sparsity_magnitude
w1 = np.array([[0.5, -0.1, 0.3], [-0.9, 0.05, 0.2]])
w2 = np.array([1.0, -2.0, 3.0, -4.0])
m1, m2 = magnitude_masks([w1, w2], 0.5)
check_array(m1, "mask of layer 1", shape=(2, 3), dtype=bool)
check_array(m2, "mask of layer 2", shape=(4,), dtype=bool)
assert_equal(m1, [[True, False, True], [True, False, False]], "layer 1 at 50 %: drop 0.05, -0.1, 0.2")
assert_equal(m2, [False, False, True, True], "layer 2 at 50 %: drop 1 and -2")
m1, m2 = magnitude_masks([w1, w2], [0.0, 0.75])
assert m1.all() and m2.sum() == 1 and m2[3], "per-layer sparsities [0, 0.75]"
rng = np.random.default_rng(5)
big = rng.standard_normal((40, 25))
(m,) = magnitude_masks([big], 0.9)
assert m.sum() == 100, f"90 % of 1000 weights pruned: 100 kept, got {m.sum()}"
assert np.abs(big[m]).min() >= np.abs(big[~m]).max(), "every kept weight is larger than every pruned one"
expect_error(magnitude_masks, [w1], 1.0, errors=(ValueError,))
expect_error(magnitude_masks, [w1, w2], [0.5], errors=(ValueError,))
assert abs(gradual_sparsity(0, 0.9, 10, 110) - 0.0) < 1e-12, "before t_start: s_init"
assert abs(gradual_sparsity(60, 0.9, 10, 110) - 0.9 * (1 - 0.5**3)) < 1e-12, "half way: s_f (1 - 1/8)"
assert abs(gradual_sparsity(500, 0.9, 10, 110) - 0.9) < 1e-12, "after t_end: s_final"
passed("magnitude_masks and gradual_sparsity")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1005)
_ws = [_rng.standard_normal(_s) for _s in [(30, 20), (7,), (3, 4, 5), (1, 1)]]
_keep = [_w.copy() for _w in _ws]
for _sp in [0.0, 0.33, 0.5, 0.9, 0.98, [0.1, 0.5, 0.95, 0.0]]:
    _ms = magnitude_masks(_ws, _sp)
    assert type(_ms) is list and len(_ms) == len(_ws), "hidden: a list of masks"
    for _i, (_w, _m) in enumerate(zip(_keep, _ms)):
        _s = _sp[_i] if isinstance(_sp, list) else _sp
        _k = int(np.round(_s * _w.size))
        assert type(_m) is np.ndarray and _m.dtype == np.bool_ and _m.shape == _w.shape, "hidden: mask shape/dtype"
        _flat = sorted(_w.__abs__().ravel().tolist())
        _thr = _flat[_k - 1] if _k > 0 else -1.0
        _ref = _w.__abs__() > _thr
        assert (_m != _ref).sum() == 0, f"hidden: mask of layer {_i} at sparsity {_s}"
for _w, _k in zip(_ws, _keep):
    assert (_w != _k).sum() == 0, "hidden: magnitude_masks modified the weights"
for _t, _sf, _t0, _t1, _si in [(5, 0.8, 0, 20, 0.0), (25, 0.95, 10, 40, 0.5), (0, 0.9, 3, 9, 0.2), (99, 0.5, 1, 2, 0.0)]:
    _p = min(max((_t - _t0) / (_t1 - _t0), 0.0), 1.0)
    _ref = _sf + (_si - _sf) * (1 - _p) ** 3
    _got = gradual_sparsity(_t, _sf, _t0, _t1, _si)
    assert type(_got) is float and abs(_got - _ref) < 1e-12, f"hidden: gradual_sparsity{(_t, _sf, _t0, _t1, _si)}"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Sparse momentum: prune, redistribute, regrow
#
# Magnitude pruning starts dense and ends sparse. **Sparse momentum** (Dettmers & Zettlemoyer,
# 2019) is sparse from the first step to the last: the number of non-zero weights stays fixed, and
# at the end of every epoch some of them *move*. With $M_i$ the SGD momentum of layer $i$, its
# mask $\mathcal{A}_i$ (the active weights) and the prune rate $p$, equation **(10.8)**:
#
# 1. **contribution** of each layer: $\;c_i = \dfrac{\mathrm{mean}_{j \in \mathcal{A}_i} |M_{ij}|}
#    {\sum_l \mathrm{mean}_{j \in \mathcal{A}_l} |M_{lj}|}$ (a layer with no active weight has mean 0);
# 2. **prune** $r_i = \mathrm{round}(p\, |\mathcal{A}_i|)$ active weights with the smallest $|w|$ in
#    each layer; $R = \sum_i r_i$;
# 3. **regrow** $g_i = \min\!\big(\mathrm{round}(c_i R),\ n_i - (|\mathcal{A}_i| - r_i)\big)$ weights
#    in layer $i$ ($n_i$ its size): the inactive positions (after pruning) with the largest $|M|$.
#    Regrown weights start at **zero**.
#
# Layers whose momentum is large — whose loss would fall fastest if they had more weights — get
# more of the $R$ freed weights. Write `sparse_momentum_step(weights, masks, momenta, prune_rate)`
# returning `(new_weights, new_masks)`, lists of new arrays: `new_weights` keeps the values of
# surviving weights and is 0 everywhere else. Round with `int(np.round(...))`; select with stable
# argsorts — `np.argsort(np.where(active, np.abs(w), np.inf).ravel(), kind="stable")` for pruning
# and `np.argsort(np.where(inactive, -np.abs(M), np.inf).ravel(), kind="stable")` for regrowth.
# Do not modify the inputs.

# %% [solution] id=mixed_precision_sparsity_sparse_momentum
def sparse_momentum_step(weights, masks, momenta, prune_rate):
    """One prune / redistribute / regrow step of sparse momentum, equation (10.8)."""
    ### BEGIN SOLUTION
    if not (len(weights) == len(masks) == len(momenta)):
        raise ValueError("weights, masks and momenta need one entry per layer")
    if not 0.0 <= prune_rate <= 1.0:
        raise ValueError(f"prune_rate must be in [0, 1], got {prune_rate}")
    means = []
    for w, m, mom in zip(weights, masks, momenta):
        if np.shape(w) != np.shape(m) or np.shape(w) != np.shape(mom):
            raise ValueError(f"layer shapes differ: {np.shape(w)}, {np.shape(m)}, {np.shape(mom)}")
        m = np.asarray(m, bool)
        means.append(float(np.abs(mom)[m].mean()) if m.any() else 0.0)
    total = sum(means)
    contrib = [v / total if total > 0 else 1.0 / len(means) for v in means]
    kept, removed = [], 0
    for w, m in zip(weights, masks):
        w, m = np.asarray(w), np.asarray(m, bool)
        r = int(np.round(prune_rate * m.sum()))
        order = np.argsort(np.where(m, np.abs(w), np.inf).ravel(), kind="stable")
        keep = m.ravel().copy()
        keep[order[:r]] = False
        kept.append(keep.reshape(m.shape))
        removed += r
    new_weights, new_masks = [], []
    for w, keep, mom, c in zip(weights, kept, momenta, contrib):
        w, mom = np.asarray(w), np.asarray(mom)
        grow = min(int(np.round(c * removed)), int(keep.size - keep.sum()))
        order = np.argsort(np.where(~keep, -np.abs(mom), np.inf).ravel(), kind="stable")
        mask = keep.ravel().copy()
        mask[order[:grow]] = True
        new_masks.append(mask.reshape(keep.shape))
        new_weights.append(np.where(keep, w, 0).astype(w.dtype))
    return new_weights, new_masks
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_sparse_momentum_test points=3 needs=mixed_precision_sparsity_sparse_momentum
w = [np.array([0.5, -0.1, 0.0, 0.8, -0.3, 0.0]), np.array([[0.2, 0.0], [-0.6, 0.0]])]
m = [w[0] != 0, w[1] != 0]
mom = [np.array([0.01, 0.01, 0.9, 0.01, 0.01, 0.2]), np.array([[0.5, 0.7], [0.5, 0.1]])]
copies = [a.copy() for a in w + m + mom]
nw, nm = sparse_momentum_step(w, m, mom, prune_rate=0.5)
check_array(nm[0], "new mask 0", shape=(6,), dtype=bool)
check_array(nw[1], "new weights 1", shape=(2, 2), dtype=np.float64)
# layer 0: 4 active, mean |M| 0.01; layer 1: 2 active, mean |M| 0.5 -> contributions 0.0196, 0.98
# prune round(0.5*4) = 2 (-0.1, -0.3) and round(0.5*2) = 1 (0.2): R = 3; regrow 0 and 3 -> capped at 3
assert_equal(nm[0], [True, False, False, True, False, False], "layer 0 keeps 0.5 and 0.8, regrows nothing")
assert_equal(nm[1], [[True, True], [True, True]], "layer 1 regrows its 3 free positions")
assert_equal(nw[1], [[0.0, 0.0], [-0.6, 0.0]], "pruned and regrown weights are 0, survivors keep their value")
assert_equal(nw[0], [0.5, 0.0, 0.0, 0.8, 0.0, 0.0], "layer 0 weights")
for a, b in zip(w + m + mom, copies):
    assert_equal(a, b, "sparse_momentum_step must not modify its inputs")
rng = np.random.default_rng(6)
ws = [rng.standard_normal((20, 30)), rng.standard_normal((30, 10))]
ms = [np.abs(x) > np.quantile(np.abs(x), 0.8) for x in ws]                 # 80 % sparse masks
ws = [x * y for x, y in zip(ws, ms)]
moms = [rng.standard_normal((20, 30)) * 0.1, rng.standard_normal((30, 10))]
nw, nm = sparse_momentum_step(ws, ms, moms, 0.3)
before, after = sum(int(x.sum()) for x in ms), sum(int(x.sum()) for x in nm)
assert abs(after - before) <= len(ws), f"sparse momentum keeps the number of weights: {before} -> {after}"
assert nm[1].sum() > ms[1].sum(), "the layer with larger momentum gains weights"
assert all(np.all(x[~y] == 0) for x, y in zip(nw, nm)), "weights outside the new mask are 0"
passed("sparse_momentum_step")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1006)
for _trial in range(6):
    _shapes = [(12, 9), (9, 7), (7, 4)][: 2 + _trial % 2]
    _ws = [_rng.standard_normal(_s) for _s in _shapes]
    _ms = [_rng.random(_s) < _rng.uniform(0.05, 0.6) for _s in _shapes]
    _ws = [_w * _m for _w, _m in zip(_ws, _ms)]
    _moms = [_rng.standard_normal(_s) * _rng.uniform(0.01, 2.0) for _s in _shapes]
    _p = [0.2, 0.5, 0.35, 0.05, 0.9, 0.3][_trial]
    _keep = [_a.copy() for _a in _ws + _ms + _moms]
    _gw, _gm = sparse_momentum_step(_ws, _ms, _moms, _p)
    _means = []
    for _m, _mo in zip(_ms, _moms):
        _vals = [abs(float(_v)) for _v, _a in zip(_mo.ravel().tolist(), _m.ravel().tolist()) if _a]
        _means.append(sum(_vals) / len(_vals) if _vals else 0.0)
    _R, _kept = 0, []
    for _w, _m in zip(_ws, _ms):
        _act = [(abs(float(_v)), _j) for _j, (_v, _a) in enumerate(zip(_w.ravel().tolist(), _m.ravel().tolist())) if _a]
        _r = int(np.round(_p * len(_act)))
        _gone = {_j for _, _j in sorted(_act)[:_r]}
        _kept.append([_a and _j not in _gone for _j, _a in enumerate(_m.ravel().tolist())])
        _R += _r
    for _i, (_w, _mo, _kp) in enumerate(zip(_ws, _moms, _kept)):
        _g = min(int(np.round(_means[_i] / sum(_means) * _R)), len(_kp) - sum(_kp))
        _free = sorted((-abs(float(_v)), _j) for _j, (_v, _k) in enumerate(zip(_mo.ravel().tolist(), _kp)) if not _k)
        _grow = {_j for _, _j in _free[:_g]}
        _refm = np.array([_k or _j in _grow for _j, _k in enumerate(_kp)]).reshape(_w.shape)
        _refw = _w * np.array(_kp).reshape(_w.shape)
        assert type(_gm) is list and type(_gw) is list, "hidden: lists"
        assert type(_gm[_i]) is np.ndarray and _gm[_i].dtype == np.bool_ and _gm[_i].shape == _w.shape, "hidden: mask"
        assert type(_gw[_i]) is np.ndarray and _gw[_i].shape == _w.shape, "hidden: weights"
        assert (_gm[_i] != _refm).sum() == 0, f"hidden: new mask of layer {_i}, trial {_trial}"
        assert (_gw[_i] - _refw).__abs__().max() == 0.0, f"hidden: new weights of layer {_i}, trial {_trial}"
    for _a, _b in zip(_ws + _ms + _moms, _keep):
        assert (_a != _b).sum() == 0, "hidden: inputs modified"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Compressed sparse rows (CSR)
#
# A sparse matrix stores only its non-zeros. CSR keeps them row by row in three arrays:
# `data` (the values, row after row, columns increasing), `indices` (the column of each value) and
# `indptr` of length $M + 1$: row $i$ owns `data[indptr[i]:indptr[i+1]]`. The product with a dense
# $K \times N$ matrix $B$ touches only the stored values, equation **(10.9)**:
#
# $$ C_{ij} = \sum_{k = \texttt{indptr}[i]}^{\texttt{indptr}[i+1] - 1} \texttt{data}[k]\; B_{\texttt{indices}[k],\, j}, $$
#
# $2 \cdot \mathrm{nnz} \cdot N$ operations instead of $2 M K N$.
#
# Write `dense_to_csr(a)` for a 2-D array, returning `(data, indices, indptr)` with `data` of
# `a`'s dtype and `indices`, `indptr` of dtype `int64`, and `csr_matmul(data, indices, indptr, b)`
# returning the dense $M \times N$ product in the dtype `np.result_type(data, b)`. A loop over the
# rows, each a small vectorised product `data[s:e] @ b[indices[s:e]]`, is fine. Raise `ValueError`
# if `a` is not 2-D, `b` is not 2-D, or a column index does not fit `b`.

# %% [solution] id=mixed_precision_sparsity_csr
def dense_to_csr(a):
    """(data, indices, indptr) of the 2-D array a in CSR, equation (10.9)."""
    ### BEGIN SOLUTION
    a = np.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"dense_to_csr needs a 2-D array, got shape {a.shape}")
    rows, cols = np.nonzero(a)                      # row-major order, columns increasing
    indptr = np.zeros(a.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
    return a[rows, cols], cols.astype(np.int64), indptr
    ### END SOLUTION


def csr_matmul(data, indices, indptr, b):
    """Dense (M, N) = CSR (M, K) @ b (K, N), equation (10.9)."""
    ### BEGIN SOLUTION
    data, indices, indptr, b = map(np.asarray, (data, indices, indptr, b))
    if b.ndim != 2:
        raise ValueError(f"b must be 2-D, got shape {b.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= b.shape[0]):
        raise ValueError(f"column indices must be in [0, {b.shape[0]}), b has {b.shape[0]} rows")
    out = np.zeros((len(indptr) - 1, b.shape[1]), dtype=np.result_type(data, b))
    for i in range(len(indptr) - 1):
        s, e = indptr[i], indptr[i + 1]
        if e > s:
            out[i] = data[s:e] @ b[indices[s:e]]
    return out
    ### END SOLUTION

# %% [tests] id=mixed_precision_sparsity_csr_test points=3 needs=mixed_precision_sparsity_csr
a = np.array([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 4.0, 0.0]])
data, indices, indptr = dense_to_csr(a)
check_array(data, "data", shape=(4,), dtype=np.float64)
check_array(indices, "indices", shape=(4,), dtype=np.int64)
check_array(indptr, "indptr", shape=(4,), dtype=np.int64)
assert_equal(data, [2.0, 1.0, 3.0, 4.0], "data, row by row")
assert_equal(indices, [1, 3, 0, 2], "column indices")
assert_equal(indptr, [0, 2, 2, 4], "indptr: row 1 is empty")
b = np.arange(8.0).reshape(4, 2)
c = csr_matmul(data, indices, indptr, b)
check_array(c, "csr_matmul", shape=(3, 2), dtype=np.float64)
assert_equal(c, a @ b, "csr_matmul vs the dense product")
rng = np.random.default_rng(7)
a = rng.standard_normal((50, 40)).astype(np.float32)
a[rng.random(a.shape) < 0.9] = 0
b = rng.standard_normal((40, 16)).astype(np.float32)
csr = dense_to_csr(a)
assert csr[0].size == np.count_nonzero(a), "data holds exactly the non-zeros"
c = csr_matmul(*csr, b)
check_array(c, "csr_matmul (float32)", shape=(50, 16), dtype=np.float32)
assert_close(c, a @ b, "csr_matmul at 90 % sparsity", rtol=1e-5, atol=1e-5)
expect_error(dense_to_csr, np.ones(3), errors=(ValueError,))
expect_error(csr_matmul, *csr, np.ones((39, 2), np.float32), errors=(ValueError,))
passed("dense_to_csr and csr_matmul")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(1007)
for _M, _K, _N, _dens, _dt in [(30, 20, 5, 0.2, np.float64), (1, 7, 3, 0.5, np.float32), (25, 25, 1, 0.02, np.float64),
                                (12, 40, 9, 1.0, np.float32), (6, 4, 2, 0.0, np.float64)]:
    _a = (_rng.standard_normal((_M, _K)) * (_rng.random((_M, _K)) < _dens)).astype(_dt)
    _b = _rng.standard_normal((_K, _N)).astype(_dt)
    _d, _ix, _ip = dense_to_csr(_a)
    _rd, _ri, _rp = [], [], [0]
    for _row in _a.tolist():
        for _j, _v in enumerate(_row):
            if _v != 0:
                _rd.append(_v)
                _ri.append(_j)
        _rp.append(len(_rd))
    assert type(_d) is np.ndarray and type(_ix) is np.ndarray and type(_ip) is np.ndarray, "hidden: CSR arrays"
    assert _d.dtype == _dt and _ix.dtype == np.int64 and _ip.dtype == np.int64, "hidden: CSR dtypes"
    assert _d.tolist() == _rd and _ix.tolist() == _ri and _ip.tolist() == _rp, f"hidden: CSR of {(_M, _K, _dens)}"
    _c = csr_matmul(np.array(_rd, _dt), np.array(_ri, np.int64), np.array(_rp, np.int64), _b)
    _ref = _a.astype(np.float64) @ _b.astype(np.float64)
    assert type(_c) is np.ndarray and _c.shape == (_M, _N) and _c.dtype == _dt, "hidden: product shape/dtype"
    assert float((_c - _ref).__abs__().max()) < (1e-4 if _dt == np.float32 else 1e-10), f"hidden: product {(_M, _K, _N)}"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Experiment: underflow in NumPy and in a Keras layer
#
# First the numbers of part 3: a gradient of $10^{-8}$ is below half of float16's smallest
# subnormal, $2^{-25} \approx 3 \cdot 10^{-8}$, and vanishes; multiplied by $S = 2^{16}$ it is about
# $6.6 \cdot 10^{-4}$, a normal float16 number, and dividing by $S$ in float32 brings it back.
# Then the same in Keras: a `Dense` layer under the `mixed_float16` policy computes in float16,
# and the gradients of a loss that is tiny come out zero — unless the loss is scaled, which is
# what `keras.optimizers.LossScaleOptimizer` does for you.

# %% [demo]
OUTPUT.mkdir(exist_ok=True)
print("float16(1e-8) =", round_to_float16(np.float32([1e-8]))[0],
      "| float16(1e-8 * 2**16) / 2**16 =", round_to_float16(np.float32([1e-8 * 2**16]))[0] / 2**16)

rng = np.random.default_rng(8)
x_small = rng.standard_normal((64, 8)).astype(np.float32)
dy_small = np.full((64, 4), 1e-8, np.float32)
w_small = rng.standard_normal((8, 4)).astype(np.float32)
for S in [1.0, 2.0**8, 2.0**16, 2.0**24]:
    _, g, ok = loss_scaled_sgd_step(w_small, linear_backward16(x_small, dy_small), 0.1, S)
    true = x_small.T.astype(np.float64) @ dy_small
    err = np.abs(g - true).max() / np.abs(true).max() if ok else float("nan")
    print(f"S = 2**{int(np.log2(S)):<2d}: finite={ok!s:5}  zero gradients {np.mean(g == 0):6.1%}  "
          f"relative error {err:.2e}")

keras.mixed_precision.set_global_policy("mixed_float16")
layer = keras.layers.Dense(4, kernel_initializer="glorot_uniform")
layer.build((None, 8))
print("layer compute dtype:", layer.compute_dtype, "| variable dtype:", layer.variable_dtype)
xk = tf.constant(x_small)
S = 2.0**16                       # what keras.optimizers.LossScaleOptimizer does, by hand
for scaled in (False, True):
    with tf.GradientTape() as tape:
        out = tf.cast(layer(xk), tf.float32)              # float16 layer, float32 loss
        loss = 1e-8 * tf.reduce_sum(out)                  # d loss / d out = 1e-8: underflows in float16
        loss_for_grad = loss * S if scaled else loss
    grad = tape.gradient(loss_for_grad, layer.kernel)     # float32 (the variable's dtype)
    if scaled:
        grad = grad / S
    ref = 1e-8 * np.broadcast_to(x_small.sum(0)[:, None], (8, 4))
    print(f"Keras mixed_float16, loss scaling {'on ' if scaled else 'off'}: "
          f"{np.mean(grad.numpy() == 0):6.1%} of kernel gradients are 0, "
          f"max relative error {np.abs(grad.numpy() - ref).max() / np.abs(ref).max():.2e}")
keras.mixed_precision.set_global_policy("float32")

# %% [markdown]
# Now the other side: **overflow**. We train a linear model with the float16 backward pass of
# part 3 and your dynamic scaler, starting from an absurd $S = 2^{24}$, with a spike of huge
# gradients in the middle (a bad batch). Watch $S$ fall until the gradients fit, grow again after
# `growth_interval` good steps, and the skipped steps.

# %% [demo]
rng = np.random.default_rng(9)
w_true = rng.standard_normal((8, 1)).astype(np.float32)
w_m = np.zeros((8, 1), np.float32)
scale, good, history = 2.0**24, 0, []
steps = config.pick(300, 120)
for t in range(steps):
    xb = rng.standard_normal((32, 8)).astype(np.float32)
    dy = (xb @ w_m - xb @ w_true) / 32                      # gradient of the mean squared error / 2
    if 150 <= t < 153 or (steps < 300 and 60 <= t < 63):
        dy = dy * 1e3                                       # a bad batch
    w_m, _, finite = loss_scaled_sgd_step(w_m, linear_backward16(xb, dy), 0.1, scale)
    scale, good, applied = update_loss_scale(scale, good, finite, growth_interval=20)
    history.append((scale, applied, float(np.abs(w_m - w_true).max())))
scales, applied, errors = map(np.array, zip(*history))
print(f"{steps} steps: {int((~applied).sum())} skipped; final S = 2**{int(np.log2(scales[-1]))}, "
      f"final |w - w_true| = {errors[-1]:.2e}")
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
ax[0].semilogy(scales, drawstyle="steps-post")
ax[0].plot(np.nonzero(~applied)[0], scales[~applied], "rx", label="skipped step")
ax[0].set_xlabel("step"); ax[0].set_ylabel("loss scale S"); ax[0].legend()
ax[1].semilogy(errors); ax[1].set_xlabel("step"); ax[1].set_ylabel("max |w - w_true|")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 9. Experiment: step time under `float32`, `mixed_bfloat16` and `mixed_float16`
#
# Keras switches a whole model to mixed precision with one line,
# `keras.mixed_precision.set_global_policy(...)`: layers keep float32 variables and compute in
# the 16-bit type. Whether that is faster depends entirely on the hardware and the kernels. The
# cell times training steps of a small conv net and of a dense net under the three policies (one
# run, ratios to float32), and trains the dense net on digits under each policy to compare the
# accuracy. Then it runs a tiny matrix product with `ONEDNN_VERBOSE=1`, which makes oneDNN —
# TensorFlow's CPU kernel library — print one line per kernel call: which instruction set it
# found, and in which data type the kernel ran (`src_f32`, `src_bf16`, ...).

# %% [demo]
POLICIES = ["float32", "mixed_bfloat16", "mixed_float16"]


def make_net(kind):
    """A small conv net (32×32×3 inputs) or dense net (784 inputs); float32 logits."""
    if kind == "conv":
        layers = [keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                  keras.layers.MaxPooling2D(), keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                  keras.layers.MaxPooling2D(), keras.layers.Flatten()]
    else:
        layers = [keras.Input((784,)), keras.layers.Dense(1024, activation="relu"),
                  keras.layers.Dense(1024, activation="relu")]
    return keras.Sequential(layers + [keras.layers.Dense(10), keras.layers.Activation("linear", dtype="float32")])


def step_time(policy, kind, batch, steps):
    """Median seconds of one train_on_batch under `policy`."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = make_net(kind)
        opt = keras.optimizers.SGD(0.01)
        if policy == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        shape = (batch, 32, 32, 3) if kind == "conv" else (batch, 784)
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        y = np.arange(batch) % 10
        model.train_on_batch(x, y)                                  # compile and warm up
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - start)
        return float(np.median(times))
    finally:
        keras.mixed_precision.set_global_policy("float32")


kinds = config.pick([("conv", 32), ("dense", 256)], [("dense", 64)])
step_times = {}
for kind, batch in kinds:
    for policy in POLICIES:
        step_times[(kind, policy)] = step_time(policy, kind, batch, steps=config.pick(10, 2))
    base = step_times[(kind, "float32")]
    print(f"{kind} net, batch {batch}: " + ", ".join(
        f"{p} {step_times[(kind, p)] * 1e3:.1f} ms ({base / step_times[(kind, p)]:.2f}× float32 speed)" for p in POLICIES))

# %% [demo]
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
x_all = (digits.data / 16.0).astype(np.float32)
x_train, x_test, y_train, y_test = train_test_split(x_all, digits.target, test_size=0.25,
                                                    random_state=0, stratify=digits.target)
print("digits: train", x_train.shape, "test", x_test.shape)


def policy_accuracy(policy, epochs, seed=0):
    """Test accuracy of a 64-256-256-10 MLP trained with Adam under `policy`."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10),
                                  keras.layers.Activation("linear", dtype="float32")])
        opt = keras.optimizers.Adam(1e-3)
        if policy == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
        return float(model.evaluate(x_test, y_test, verbose=0)[1])
    finally:
        keras.mixed_precision.set_global_policy("float32")


if config.small():
    print("(quick/grading mode: accuracy comparison skipped — run the full notebook)")
    policy_acc = {}
else:
    policy_acc = {p: policy_accuracy(p, epochs=30) for p in POLICIES}
    print("digits MLP test accuracy: " + ", ".join(f"{p} {a:.1%}" for p, a in policy_acc.items()))

ONEDNN_PROBE = """
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
for dt in (tf.float32, tf.bfloat16, tf.float16):
    print("=== matmul", dt.name, flush=True)
    a = tf.cast(tf.random.normal((64, 256)), dt)
    tf.matmul(a, tf.cast(tf.random.normal((256, 128)), dt))
"""
if config.small():
    print("(quick/grading mode: ONEDNN_VERBOSE run skipped)")
    onednn_log = []
else:
    proc = subprocess.run([sys.executable, "-c", ONEDNN_PROBE], capture_output=True, text=True,
                          env={**os.environ, "ONEDNN_VERBOSE": "1"}, timeout=120)
    onednn_log = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if line.startswith("===") or "isa:" in line or ",exec," in line]
    first_kernel = True
    for line in onednn_log:                     # the ISA line, then the first kernel line per dtype
        if line.startswith("===") or "isa:" in line:
            print(line[:160])
            first_kernel = True
        elif first_kernel:
            print("   ", line.split(",primitive,exec,")[-1][:150])
            first_kernel = False
(OUTPUT / "step_times.json").write_text(json.dumps(
    {"step_ms": {f"{k}/{p}": v * 1e3 for (k, p), v in step_times.items()}, "accuracy": policy_acc,
     "onednn": onednn_log[:40]}, indent=1))

# %% [markdown]
# Read the log: `isa:Intel AVX2` means oneDNN found no bfloat16 instructions (AVX512_BF16 or
# AMX), and **every** matrix product — also those requested in bfloat16 and float16 — ran as an
# `f32` kernel (`src_f32 wei_f32 dst_f32`): TensorFlow converts the 16-bit inputs to float32,
# multiplies in float32 and converts back. The 16-bit policies add conversions and save nothing,
# and several 16-bit ops (convolutions, bias-add gradients) take slower generic Eigen code paths.
# On a CPU with AVX512_BF16 or AMX (and on GPUs with tensor cores), the same log shows `bf16`
# kernels and the ratio turns around. Which case your machine is in, the numbers above say.
#
# ## 10. Experiment: a `mixed_bfloat16` trap — conv bias gradients
#
# A convolution's bias gradient is the sum of the output gradient over batch, height and width —
# here $32 \cdot 16 \cdot 16 = 8192$ terms per channel. Under `mixed_bfloat16` that sum is computed
# in bfloat16 on this CPU: each partial sum is rounded to 8 significant bits, and once the sum is
# large, adding a small term changes nothing. The kernel gradients, which go through the
# float32 GEMM above, are fine. The cell measures both against float32, then shows a fix: no
# bias in the bfloat16 layer, and a float32 bias added after casting the output to float32.

# %% [demo]
class Float32Bias(keras.layers.Layer):
    """Adds a float32 bias to a float32 copy of its input (keeps the bias gradient in float32)."""

    def __init__(self, **kwargs):
        super().__init__(dtype="float32", **kwargs)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="bias")

    def call(self, x):
        return tf.cast(x, tf.float32) + self.bias


def conv_grads(policy, fixed=False, seed=0):
    """Kernel and bias gradients of a 3×3 conv (8 -> 16 channels) on a fixed batch."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        conv = keras.layers.Conv2D(16, 3, padding="same", use_bias=not fixed, bias_initializer="random_normal")
        bias = Float32Bias() if fixed else None
        xb = np.random.default_rng(seed).standard_normal((32, 16, 16, 8)).astype(np.float32)
        conv.build(xb.shape)
        with tf.GradientTape() as tape:
            y = conv(xb)
            y = bias(y) if fixed else tf.cast(y, tf.float32)
            loss = tf.reduce_mean(tf.square(y - 1.0))
        b = bias.bias if fixed else conv.bias
        gk, gb = tape.gradient(loss, [conv.kernel, b])
        return gk.numpy(), gb.numpy()
    finally:
        keras.mixed_precision.set_global_policy("float32")


gk32, gb32 = conv_grads("float32")
gk16, gb16 = conv_grads("mixed_bfloat16")
gk32f, gb32f = conv_grads("float32", fixed=True)            # the fixed model, in float32 ...
gkfix, gbfix = conv_grads("mixed_bfloat16", fixed=True)     # ... and in mixed_bfloat16
rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
bias_trap = {"kernel": rel(gk16, gk32), "bias": rel(gb16, gb32), "bias_fixed": rel(gbfix, gb32f),
             "kernel_fixed": rel(gkfix, gk32f)}
print(f"mixed_bfloat16 vs float32, max relative error: kernel gradient {bias_trap['kernel']:.1%}, "
      f"bias gradient {bias_trap['bias']:.1%}")
print(f"with a float32 bias layer: kernel gradient {bias_trap['kernel_fixed']:.1%}, "
      f"bias gradient {bias_trap['bias_fixed']:.2%}")
print("first bias gradients  float32:", np.round(gb32[:4], 4), " bfloat16:", np.round(gb16[:4], 4))
(OUTPUT / "bias_trap.json").write_text(json.dumps(bias_trap, indent=1))

# %% [markdown]
# ## 11. Experiment: sparse training on digits
#
# A 64-300-100-10 MLP (ReLU, softmax cross-entropy, SGD with momentum 0.9, all in NumPy) is
# trained on scikit-learn's 8×8 digits (UCI *Optical Recognition of Handwritten Digits*, E. Alpaydin
# and C. Kaynak, CC BY 4.0) four ways, at 50, 90 and 98 % sparsity of all three weight matrices:
#
# * **dense** — the reference, no mask;
# * **gradual magnitude pruning** — dense at first, masks from your `magnitude_masks` along
#   `gradual_sparsity` (10.7) every few steps until 3/4 of the training, then fixed;
# * **random fixed mask** — a uniformly random mask chosen before training, never changed;
# * **sparse momentum** — a random mask of the target sparsity at the start, then your
#   `sparse_momentum_step` after every epoch with a prune rate that decays from 0.5 to 0 (cosine).
#
# The full run repeats everything for several seeds and reports mean ± standard deviation of the
# final test accuracy. In quick/grading mode it is one seed and a few epochs: the numbers then
# mean nothing.

# %% [demo]
SIZES = (64, 300, 100, 10)


def init_mlp(seed):
    g = np.random.default_rng(seed)
    return [(g.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])], \
           [np.zeros(b, np.float32) for b in SIZES[1:]]


def mlp_grads(ws, bs, x, y):
    """Loss and gradients of the MLP (ReLU hidden layers, softmax cross-entropy)."""
    hs = [x]
    for w, b in zip(ws[:-1], bs[:-1]):
        hs.append(np.maximum(hs[-1] @ w + b, 0))
    s = hs[-1] @ ws[-1] + bs[-1]
    s = s - s.max(1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
    d = p
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    gws, gbs = [None] * len(ws), [None] * len(ws)
    for i in range(len(ws) - 1, -1, -1):
        gws[i], gbs[i] = hs[i].T @ d, d.sum(0)
        if i:
            d = (d @ ws[i].T) * (hs[i] > 0)
    return loss, gws, gbs


def accuracy(ws, bs, x, y):
    h = x
    for w, b in zip(ws[:-1], bs[:-1]):
        h = np.maximum(h @ w + b, 0)
    return float(((h @ ws[-1] + bs[-1]).argmax(1) == y).mean())


def train_sparse(method, sparsity, epochs, seed, lr=0.05, batch=32):
    """Train the MLP with `method` in dense | magnitude | random | momentum; return test accuracies per epoch."""
    ws, bs = init_mlp(seed)
    g = np.random.default_rng(seed + 1000)
    vw, vb = [np.zeros_like(w) for w in ws], [np.zeros_like(b) for b in bs]
    masks = None
    if method in ("random", "momentum"):
        masks = [g.random(w.shape) >= sparsity for w in ws]
        ws = [w * m for w, m in zip(ws, masks)]
    steps_per_epoch = -(-len(x_train) // batch)
    total = epochs * steps_per_epoch
    prune_end, step, curve = int(0.75 * total), 0, []
    for epoch in range(epochs):
        order = g.permutation(len(x_train))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            _, gws, gbs = mlp_grads(ws, bs, x_train[idx], y_train[idx])
            for j in range(len(ws)):
                vw[j] = 0.9 * vw[j] + gws[j]
                vb[j] = 0.9 * vb[j] + gbs[j]
                ws[j] -= lr * vw[j]
                bs[j] -= lr * vb[j]
            if method == "magnitude" and step % 10 == 0 and step <= prune_end:
                masks = magnitude_masks(ws, gradual_sparsity(step, sparsity, 0, prune_end))
            if masks is not None:
                ws = [w * m for w, m in zip(ws, masks)]
            step += 1
        if method == "momentum" and epoch < epochs - 1:
            rate = 0.5 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
            ws, masks = sparse_momentum_step(ws, masks, vw, rate)
            vw = [v * m for v, m in zip(vw, masks)]
        curve.append(accuracy(ws, bs, x_test, y_test))
    kept = sum(int((w != 0).sum()) for w in ws) / sum(w.size for w in ws)
    return curve, 1.0 - kept


METHODS = ["magnitude", "random", "momentum"]
SPARSITIES = [0.5, 0.9, 0.98]
seeds = config.pick([0, 1, 2], [0])
epochs = config.pick(60, 3)
if config.small():
    x_train, y_train = x_train[:512], y_train[:512]
from threadpoolctl import threadpool_limits

results = {}
runs = [("dense", 0.0)] + [(m, s) for s in SPARSITIES for m in METHODS]
start = time.perf_counter()
with threadpool_limits(limits=1, user_api="blas"):      # small matrices: one BLAS thread is fastest
    for method, sparsity in progress(runs, desc="sparse training"):
        for seed in seeds:
            curve, real = train_sparse(method, sparsity, epochs, seed)
            results.setdefault(f"{method}/{sparsity}", []).append({"curve": curve, "sparsity": real})
print(f"{len(runs) * len(seeds)} trainings of {epochs} epochs in {time.perf_counter() - start:.1f} s\n")
print(f"{'method':<12}" + "".join(f"{f'{s:.0%} sparse':>16}" for s in SPARSITIES))
dense_acc = [r["curve"][-1] for r in results["dense/0.0"]]
print(f"{'dense':<12}{np.mean(dense_acc):>10.1%} ± {np.std(dense_acc):.1%}   (no pruning)")
for method in METHODS:
    cells = []
    for s in SPARSITIES:
        acc = [r["curve"][-1] for r in results[f"{method}/{s}"]]
        cells.append(f"{np.mean(acc):>10.1%} ± {np.std(acc):.1%}")
    print(f"{method:<12}" + "".join(f"{c:>16}" for c in cells))
(OUTPUT / "sparse_training.json").write_text(json.dumps({"epochs": epochs, "seeds": seeds, "results": results}))

fig, axes = plt.subplots(1, len(SPARSITIES), figsize=(4 * len(SPARSITIES), 3.2), sharey=True)
for ax, s in zip(axes, SPARSITIES):
    for method in ["dense"] + METHODS:
        key = "dense/0.0" if method == "dense" else f"{method}/{s}"
        ax.plot(np.arange(1, epochs + 1), np.mean([r["curve"] for r in results[key]], axis=0), label=method)
    ax.set_title(f"{s:.0%} sparse"); ax.set_xlabel("epoch"); ax.set_ylim(0.5, 1.0)
axes[0].set_ylabel("test accuracy"); axes[0].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 12. Experiment: when does a sparse product pay?
#
# Sparse weights save memory at once, but time only if the sparse kernel beats the dense one.
# The cell multiplies a $2048 \times 2048$ matrix with a given sparsity by a dense
# $2048 \times 256$ matrix: dense NumPy (BLAS), SciPy's CSR, TensorFlow's `tf.sparse.sparse_dense_matmul`
# (a COO format), TensorFlow's CSR kernels (`sparse_csr_matrix_ops`), and your `csr_matmul`
# (above 80 % sparsity only — it is slow when dense). The break-even sparsity of each is where
# its time crosses the dense time, equation (10.10).

# %% [demo]
import scipy.sparse
from tensorflow.python.ops.linalg.sparse import sparse_csr_matrix_ops as tf_csr
from source_lib.timing import median_time

M_, K_, N_ = config.pick((2048, 2048, 256), (512, 512, 64))
levels = config.pick([0.0, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99], [0.0, 0.9, 0.99])
rng = np.random.default_rng(10)
dense_a = rng.standard_normal((M_, K_)).astype(np.float32)
b_mat = rng.standard_normal((K_, N_)).astype(np.float32)
timings = {name: [] for name in ["dense (BLAS)", "scipy CSR", "tf.sparse (COO)", "tf CSR", "your csr_matmul"]}
repeat = config.pick(5, 2)
for s in progress(levels, desc="sparsity"):
    a = dense_a * (rng.random(dense_a.shape) >= s)
    a_sp = scipy.sparse.csr_matrix(a)
    a_coo = tf.sparse.from_dense(a)
    a_tfcsr = tf_csr.CSRSparseMatrix(a)
    b_tf = tf.constant(b_mat)
    timings["dense (BLAS)"].append(median_time(lambda: a @ b_mat, repeat=repeat))
    timings["scipy CSR"].append(median_time(lambda: a_sp @ b_mat, repeat=repeat))
    timings["tf.sparse (COO)"].append(median_time(lambda: tf.sparse.sparse_dense_matmul(a_coo, b_tf).numpy(), repeat=repeat))
    timings["tf CSR"].append(median_time(lambda: tf_csr.matmul(a_tfcsr, b_tf).numpy(), repeat=repeat))
    if s >= 0.8:
        csr = dense_to_csr(a)
        timings["your csr_matmul"].append(median_time(lambda: csr_matmul(*csr, b_mat), repeat=repeat))
    else:
        timings["your csr_matmul"].append(float("nan"))


def break_even(levels, t_sparse, t_dense):
    """Smallest sparsity where the sparse time drops below the dense time (linear interpolation)."""
    ratio = np.log(np.asarray(t_sparse) / np.asarray(t_dense))
    for i in range(len(levels)):
        if ratio[i] < 0:
            if i == 0:
                return levels[0]
            if np.isnan(ratio[i - 1]):
                return levels[i]
            f = ratio[i - 1] / (ratio[i - 1] - ratio[i])
            return levels[i - 1] + f * (levels[i] - levels[i - 1])
    return None


print(f"{M_}×{K_} (sparse) @ {K_}×{N_}, median of {repeat}; times in ms")
print(f"{'sparsity':>9}" + "".join(f"{n:>17}" for n in timings))
for i, s in enumerate(levels):
    print(f"{s:9.0%}" + "".join(f"{timings[n][i] * 1e3:17.2f}" for n in timings))
for name in list(timings)[1:]:
    be = break_even(levels, timings[name], timings["dense (BLAS)"])
    print(f"break-even of {name:<16}: " + (f"{be:.0%} sparsity" if be is not None else "never in this range"))
(OUTPUT / "matmul_times.json").write_text(json.dumps({"shape": [M_, K_, N_], "levels": levels, "times": timings}))

fig, ax = plt.subplots(figsize=(6.5, 3.6))
for name, t in timings.items():
    ax.plot(np.array(levels) * 100, np.array(t) * 1e3, marker="o", ms=3, label=name, lw=2.5 if name.startswith("dense") else 1.2)
ax.set_yscale("log"); ax.set_xlabel("sparsity (%)"); ax.set_ylabel("ms per product")
ax.set_title(f"{M_}×{K_} sparse @ {K_}×{N_}"); ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check yourself
#
# 1. Why does bfloat16 need no loss scaling in most networks while float16 does? What does
#    bfloat16 give up in exchange?
# 2. In (10.2), why does adding `0x7FFF + bit16` implement ties-to-even? What goes wrong for NaN?
# 3. Why are the master weights kept in float32 even when every product runs in float16? Give an
#    update $\eta g$ and a weight $w$ for which $\mathrm{fp16}(w - \eta g) = w$.
# 4. A dynamic scaler starts at $S = 2^{24}$. How many steps are skipped at most before the first
#    update, if the largest scaled gradient is $2^{24} \cdot 10$?
# 5. Why did the bias gradient break under `mixed_bfloat16` while the kernel gradient did not?
#    How many bfloat16 additions of terms of similar size can a sum take before new terms stop
#    counting?
# 6. Sparse momentum moves weights between layers. Which layers gained weights in your run, and
#    why would a first layer need a larger share than a uniform sparsity gives it?
# 7. From the timing table: at what sparsity does each sparse format beat BLAS here? Why is a
#    sparse product with $1/10$ of the multiply-adds not 10× faster?
