# %% [config] timeout=300 partial=bnn_binarize,bnn_pack_bits,bnn_binary_dot,bnn_ste_step

# %% [markdown] id=bnn_header locked
# # Chapter 4 — Binary neural networks: XNOR and popcount
#
# A float32 weight costs 32 bits and one multiply-add. If weights and activations are only
# allowed to be $+1$ or $-1$, a weight costs **one bit**, 64 of them fit in a machine word, and a
# dot product of 64 pairs becomes two instructions: an XOR (or XNOR) and a *popcount*. This is
# the idea behind XNOR-Net (Rastegari et al., 2016). In this assignment you build the pieces
# in NumPy — binarisation with scaling factors, bit packing, the XNOR-popcount dot product, a
# binary matrix product and a binary convolution — and the training rule that makes binary
# networks learnable at all, the straight-through estimator. Then you train a small binary conv
# net and its float twin on handwritten digits, and binarise a pretrained VGG16 to see where the
# accuracy goes.
#
# **Learning goals**
# 1. Binarise tensors with `sign` and compute XNOR-Net's scaling factors, (4.1)–(4.3).
# 2. Pack ±1 vectors into `uint64` words and compute their dot product with XOR and popcount,
#    (4.5) and (4.6).
# 3. Write a binary matrix product and a binary convolution through im2col, (4.7) and (4.8),
#    and check that they equal the float computation **exactly**.
# 4. Train with binary weights through the straight-through estimator, (4.10) and (4.11).
# 5. Measure the accuracy cost of binarisation on digits and on VGG16.
#
# **Conventions.** $\mathrm{sign}(0) = +1$ throughout. A value $+1$ is stored as bit 1 and
# $-1$ as bit 0. Element $j$ of a row is bit $j \bmod 64$ (bit 0 = least significant) of word
# $\lfloor j / 64 \rfloor$. Activations are NCHW and convolution weights $(C_{out}, C_{in}, K_h, K_w)$,
# as in chapter 2. Fill in every cell that says `YOUR CODE HERE`, then run the test cell below it.
# Hidden tests run when the notebook is graded.

# %% [locked] id=bnn_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import time

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf

from source_lib import config
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.progress import progress

print(config.banner())

# %% [markdown]
# The visible tests use the small reference functions below. `pack_signs_reference` packs with
# plain Python integers, one bit at a time — slow, but obviously right; `tf_binary_conv` is the
# binary convolution computed in floating point by TensorFlow.

# %% [locked] id=bnn_references
def pm1(x):
    """Reference binarisation: +1 where x >= 0, -1 elsewhere (float64)."""
    return np.where(np.asarray(x) >= 0, 1.0, -1.0)


def pack_signs_reference(v):
    """Pack a 1-D sequence (bit = value >= 0) into uint64 words with Python integers."""
    v = [float(t) for t in np.ravel(v)]
    words = []
    for start in range(0, len(v), 64):
        word = 0
        for k, t in enumerate(v[start:start + 64]):
            if t >= 0:
                word |= 1 << k
        words.append(word)
    return np.array(words, dtype=np.uint64)


def tf_binary_conv(x, w, stride=1, pad=0, input_scale=False):
    """alpha * sign(pad(x)) conv sign(w) (times K if input_scale), in float64 by TensorFlow."""
    xp = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    w = np.asarray(w, np.float64)
    y = tf.nn.conv2d(tf.constant(pm1(xp).transpose(0, 2, 3, 1)), tf.constant(pm1(w).transpose(2, 3, 1, 0)),
                     strides=stride, padding="VALID").numpy().transpose(0, 3, 1, 2)
    y = y * np.abs(w).mean(axis=(1, 2, 3)).reshape(1, -1, 1, 1)
    if input_scale:
        box = np.full((w.shape[2], w.shape[3], w.shape[1], 1), 1.0 / (w[0].size))
        k = tf.nn.conv2d(tf.constant(np.abs(xp).transpose(0, 2, 3, 1)), tf.constant(box),
                         strides=stride, padding="VALID").numpy().transpose(0, 3, 1, 2)
        y = y * k
    return y


def expect_value_error(fn, *args, **kwargs):
    """fn(*args, **kwargs) must raise ValueError."""
    try:
        fn(*args, **kwargs)
    except ValueError as err:
        return str(err)
    raise AssertionError(f"{fn.__name__} should raise ValueError here")

# %% [markdown]
# ## 1. Binarising weights: sign and a scaling factor
#
# Binarisation keeps only the sign, equation **(4.1)**: $\mathrm{sign}(x) = +1$ if $x \ge 0$
# and $-1$ otherwise. Careful: `np.sign(0.0)` is `0`, which is not a binary value.
#
# One bit per weight throws the magnitude away. XNOR-Net keeps one float per output filter:
# it approximates filter $W_c$ (all $n = C_{in} K_h K_w$ weights of output channel $c$) by
# $\alpha_c B_c$ with $B_c = \mathrm{sign}(W_c)$ and, equation **(4.2)**,
#
# $$ \alpha_c = \frac{1}{n} \lVert W_c \rVert_1 = \text{mean}(|W_c|), $$
#
# the value of $\alpha$ that minimises $\lVert W_c - \alpha B_c \rVert^2$.
#
# Write `binarize(x)` (same shape and float dtype as `x`, values $\pm 1$) and
# `binarize_weights(w)`, which returns `(B, alpha)` for weights whose **first** axis is the
# output channel: `w` of shape `(C_out, ...)` (2-D or 4-D), `B` like `w`, `alpha` of shape
# `(C_out,)` and the dtype of `w`. Do not modify the input.

# %% [solution] id=bnn_binarize
def binarize(x):
    """sign(x) with sign(0) = +1, equation (4.1); same shape and float dtype as x."""
    ### BEGIN SOLUTION
    values = np.asarray(x)
    dtype = values.dtype if values.dtype.kind == "f" else np.float64
    return np.where(values >= 0, 1, -1).astype(dtype)
    ### END SOLUTION


def binarize_weights(w):
    """(B, alpha): B = sign(w), alpha[c] = mean |w[c]| over all but the first axis, (4.2)."""
    ### BEGIN SOLUTION
    weights = np.asarray(w)
    if weights.ndim < 2:
        raise ValueError(f"w must have an output-channel axis and at least one more, got shape {weights.shape}")
    B = binarize(weights)
    alpha = np.abs(weights).reshape(weights.shape[0], -1).mean(axis=1).astype(B.dtype)
    return B, alpha
    ### END SOLUTION

# %% [tests] id=bnn_binarize_test points=2 needs=bnn_binarize
x = np.array([[-2.0, -0.0, 0.0, 0.5], [3.0, -1e-9, 1e-9, -7.0]], dtype=np.float32)
b = binarize(x)
check_array(b, "binarize(x)", shape=x.shape, dtype=np.float32)
assert_equal(b, [[-1, 1, 1, 1], [1, -1, 1, -1]], "binarize(x): sign(0) = +1 (also for -0.0)")
w = np.array([[1.0, -3.0, 0.0, 2.0], [-0.5, -0.5, 0.5, 0.5]])
B, alpha = binarize_weights(w)
check_array(B, "B", shape=w.shape, dtype=np.float64)
check_array(alpha, "alpha", shape=(2,), dtype=np.float64)
assert_equal(B, [[1, -1, 1, 1], [-1, -1, 1, 1]], "B = sign(w)")
assert_close(alpha, [1.5, 0.5], "alpha = mean |w| per output filter")
rng = np.random.default_rng(0)
w4 = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
w4_copy = w4.copy()
B4, a4 = binarize_weights(w4)
check_array(B4, "B (4-D)", shape=w4.shape, dtype=np.float32)
check_array(a4, "alpha (4-D)", shape=(3,), dtype=np.float32)
assert_close(a4, np.abs(w4).mean(axis=(1, 2, 3)), "alpha for 4-D weights", rtol=1e-6)
assert_equal(w4, w4_copy, "binarize_weights must not modify w")
err = lambda a: ((w4 - a.reshape(-1, 1, 1, 1) * B4) ** 2).sum()
assert err(a4) <= min(err(a4 * 0.95), err(a4 * 1.05)), "alpha should minimise ||W - alpha B||^2"
passed("binarize and binarize_weights")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(101)
for _shape, _dt in [((4, 3, 3, 3), np.float64), ((5, 7), np.float32), ((2, 1, 1, 5), np.float32), ((1, 9), np.float64)]:
    _w = (_rng.standard_normal(_shape) * 2).astype(_dt)
    _w.reshape(-1)[0] = 0.0
    _keep = _w.copy()
    _B, _a = binarize_weights(_w)
    _refB = (_keep >= 0) * 2.0 - 1.0
    _refa = _keep.astype(np.float64).__abs__().reshape(_shape[0], -1).mean(axis=1)
    assert type(_B) is np.ndarray and type(_a) is np.ndarray, "hidden: B and alpha must be numpy.ndarray"
    assert _B.shape == _shape and _B.dtype == _dt, f"hidden: B shape/dtype for {_shape} {_dt}"
    assert _a.shape == (_shape[0],) and _a.dtype == _dt, f"hidden: alpha shape/dtype for {_shape} {_dt}"
    assert (_B != _refB).sum() == 0, f"hidden: B = sign(w) with sign(0) = +1, shape {_shape}"
    assert float((_a - _refa).__abs__().max()) < 1e-6 * float(_refa.max()), f"hidden: alpha for shape {_shape}"
    assert (_w != _keep).sum() == 0, "hidden: binarize_weights modified its input"
_x = _rng.standard_normal((3, 4, 5))
_x[0, 0, 0] = 0.0
_x[1, 1, 1] = -0.0
_b = binarize(_x)
assert type(_b) is np.ndarray and _b.shape == _x.shape and _b.dtype == np.float64, "hidden: binarize shape/dtype"
assert (_b != (_x >= 0) * 2.0 - 1.0).sum() == 0, "hidden: binarize values"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Bit packing
#
# One $\pm 1$ value needs one bit. Packing 64 of them into a `uint64` word, equation **(4.6)**,
# stores element $j$ of a row as bit $j \bmod 64$ of word $\lfloor j / 64 \rfloor$, with bit 1 for
# $+1$ and bit 0 for $-1$; a row of $n$ values takes $\lceil n / 64 \rceil$ words and the unused
# high bits of the last word are **0**.
#
# Write `pack_bits(b)` for an array of shape `(..., n)`: the bit of an element is 1 where it is
# $\ge 0$ (so it works on $\pm 1$ arrays and on raw real values alike). Return a `uint64` array
# of shape `(..., ceil(n / 64))`. Two good ways: `np.packbits(..., axis=-1, bitorder="little")`
# on rows padded to a multiple of 64 bits, then `.view(np.uint64)` (8 little-endian bytes make
# one word on x86 and ARM); or shift each bit into place with `<<` and add.

# %% [solution] id=bnn_pack_bits
def pack_bits(b):
    """Pack the last axis (bit = value >= 0) into uint64 words, LSB first, equation (4.6)."""
    ### BEGIN SOLUTION
    bits = np.asarray(b) >= 0
    n = bits.shape[-1]
    words = -(-n // 64)
    padded = np.zeros(bits.shape[:-1] + (words * 64,), dtype=bool)
    padded[..., :n] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)
    ### END SOLUTION

# %% [tests] id=bnn_pack_bits_test points=2 needs=bnn_pack_bits
p = pack_bits(np.array([1.0, -1.0, 1.0]))
check_array(p, "pack_bits([1, -1, 1])", shape=(1,), dtype=np.uint64)
assert int(p[0]) == 0b101, f"[+1, -1, +1] is bits 1, 0, 1 (LSB first) = 5, got {int(p[0])}"
p = pack_bits(np.ones((2, 64)))
check_array(p, "pack_bits(ones((2, 64)))", shape=(2, 1), dtype=np.uint64)
assert int(p[0, 0]) == 2**64 - 1, "64 ones fill one word"
p = pack_bits(np.r_[-np.ones(64), [1.0]])
check_array(p, "65 values", shape=(2,), dtype=np.uint64)
assert (int(p[0]), int(p[1])) == (0, 1), "element 64 is bit 0 of the second word; the unused bits are 0"
p = pack_bits(np.array([[0.0, -0.5, 2.0, -3.0]]))
assert int(p[0, 0]) == 0b0101, "raw values: bit = (value >= 0), so 0.0 gives 1"
rng = np.random.default_rng(1)
x = rng.standard_normal((2, 3, 150))
p = pack_bits(x)
check_array(p, "pack_bits of shape (2, 3, 150)", shape=(2, 3, 3), dtype=np.uint64)
for i in range(2):
    for j in range(3):
        assert_equal(p[i, j], pack_signs_reference(x[i, j]), f"row {(i, j)}")
passed("pack_bits")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(102)
for _shape in [(3, 130), (2, 64), (1, 1), (4, 127), (2, 2, 200)]:
    _x = _rng.standard_normal(_shape)
    _x.reshape(-1)[0] = 0.0
    _got = pack_bits(_x)
    _nw = -(-_shape[-1] // 64)
    assert type(_got) is np.ndarray and _got.dtype == np.uint64, "hidden: pack_bits returns a uint64 ndarray"
    assert _got.shape == _shape[:-1] + (_nw,), f"hidden: pack_bits shape for {_shape}"
    _rows = _x.reshape(-1, _shape[-1])
    _gr = _got.reshape(-1, _nw)
    for _i in range(_rows.shape[0]):
        for _wi in range(_nw):
            _v = 0
            for _k in range(64):
                _j = 64 * _wi + _k
                if _j < _shape[-1] and float(_rows[_i, _j]) >= 0:
                    _v |= 1 << _k
            assert int(_gr[_i, _wi]) == _v, f"hidden: pack_bits word {_wi} of row {_i}, shape {_shape}"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. A dot product of ±1 vectors is a popcount
#
# Let $a, b \in \{-1, +1\}^n$ and let $x, y$ be their bits. Every position where the bits agree
# contributes $+1$ to $a \cdot b$, every position where they differ $-1$. Positions that differ
# are the 1-bits of $x \oplus y$ (XOR), so with $\mathrm{popcount}$ the number of 1-bits,
# equation **(4.5)**:
#
# $$ a \cdot b = n - 2\, \mathrm{popcount}(x \oplus y) = 2\, \mathrm{popcount}(\mathrm{XNOR}(x, y)) - n. $$
#
# On packed words the XNOR form needs care: the padding bits of the last word are 0 in both
# vectors, so XNOR turns them into 1s that must not be counted. The XOR form has no such trap.
#
# Write `popcount(words)` (the number of 1-bits of every element of a `uint64` array, an integer
# array of the same shape; `np.bitwise_count`, new in NumPy 2.0, does it, or use the classic bit
# trick) and `binary_dot(a_words, b_words, n)`, the dot product of two packed ±1 vectors of length
# `n`, as an integer. Watch out: `n - 2 * count` with an **unsigned** `count` cannot go negative
# — it wraps around to a huge number.

# %% [solution] id=bnn_binary_dot
def popcount(words):
    """Number of 1-bits of every uint64 element; integer array of the same shape."""
    ### BEGIN SOLUTION
    return np.bitwise_count(np.asarray(words, dtype=np.uint64))
    ### END SOLUTION


def binary_dot(a_words, b_words, n):
    """Dot product of two packed ±1 vectors of length n, equation (4.5); returns an int."""
    ### BEGIN SOLUTION
    a_words, b_words = np.asarray(a_words, np.uint64), np.asarray(b_words, np.uint64)
    if a_words.shape != b_words.shape:
        raise ValueError(f"packed vectors differ in shape: {a_words.shape} and {b_words.shape}")
    return int(n) - 2 * int(popcount(a_words ^ b_words).sum(dtype=np.int64))
    ### END SOLUTION

# %% [tests] id=bnn_binary_dot_test points=2 needs=bnn_binary_dot
c = popcount(np.array([0, 1, 0xFF, 2**63, 2**64 - 1], dtype=np.uint64))
check_array(c, "popcount", shape=(5,), dtype="uint" if c.dtype.kind == "u" else "int")
assert_equal(c.astype(np.int64), [0, 1, 8, 1, 64], "popcount of 0, 1, 0xFF, 2**63, 2**64-1")
rng = np.random.default_rng(2)
for n in [1, 3, 63, 64, 65, 100, 128, 300]:
    a, b = pm1(rng.standard_normal(n)), pm1(rng.standard_normal(n))
    got = binary_dot(pack_signs_reference(a), pack_signs_reference(b), n)
    assert isinstance(got, (int, np.integer)), f"binary_dot should return an integer, got {type(got).__name__}"
    assert int(got) == int(a @ b), f"n = {n}: binary_dot gives {int(got)}, the float dot product is {int(a @ b)}"
ones = np.ones(70)
assert binary_dot(pack_signs_reference(ones), pack_signs_reference(-ones), 70) == -70, \
    "opposite vectors: -n (unsigned arithmetic wraps around here)"
assert binary_dot(pack_signs_reference(ones), pack_signs_reference(ones), 70) == 70, "equal vectors: n"
passed("popcount and binary_dot")
### BEGIN HIDDEN TESTS
def _h_pack(v):
    _words = []
    for _s in range(0, len(v), 64):
        _word = 0
        for _k, _t in enumerate(v[_s:_s + 64]):
            if _t > 0:
                _word |= 1 << _k
        _words.append(_word)
    return _words


import random as _random
_r = _random.Random(103)
_vals = [_r.getrandbits(64) for _ in range(40)] + [0, 2**64 - 1, 2**32, 12345]
_got = popcount(np.array(_vals, dtype=np.uint64))
assert type(_got) is np.ndarray and _got.shape == (len(_vals),), "hidden: popcount shape"
for _v, _g in zip(_vals, _got.tolist()):
    assert int(_g) == bin(_v).count("1"), f"hidden: popcount({_v})"
for _n in [1, 2, 64, 65, 127, 128, 129, 1000]:
    _a = [_r.choice((-1, 1)) for _ in range(_n)]
    _b = [_r.choice((-1, 1)) for _ in range(_n)]
    _ref = sum(_p * _q for _p, _q in zip(_a, _b))
    _got = binary_dot(np.array(_h_pack(_a), dtype=np.uint64), np.array(_h_pack(_b), dtype=np.uint64), _n)
    assert isinstance(_got, (int, np.integer)), "hidden: binary_dot returns an integer"
    assert int(_got) == _ref, f"hidden: binary_dot for n = {_n}"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. A binary matrix product
#
# A matrix product is a dot product for every (row, column) pair. With the rows of $A$
# ($M \times n$) packed into `a_words` of shape `(M, W)` and the **columns** of the second
# factor packed as the rows of `b_words`, shape `(P, W)` — that is, $B^\top$ packed — equation
# **(4.7)** gives
#
# $$ C_{ij} = \sum_k A_{ik} B_{kj} = n - 2 \sum_{w=0}^{W-1} \mathrm{popcount}\big(a_{iw} \oplus b_{jw}\big). $$
#
# Write `binary_matmul(a_words, b_words, n)` returning $C$ as an `int64` array of shape `(M, P)`.
# Vectorise it: broadcasting `a_words[:, None, :] ^ b_words[None, :, :]` gives all XORs at once
# (`M·P·W` words); process a block of rows at a time if that is too big. Raise `ValueError` if the
# word counts differ or `n` does not fit in them.

# %% [solution] id=bnn_binary_matmul
def binary_matmul(a_words, b_words, n):
    """C = A @ B for ±1 matrices: a_words (M, W) packed rows of A, b_words (P, W) packed
    columns of B; returns int64 (M, P), equation (4.7)."""
    ### BEGIN SOLUTION
    a_words, b_words = np.asarray(a_words, np.uint64), np.asarray(b_words, np.uint64)
    if a_words.ndim != 2 or b_words.ndim != 2 or a_words.shape[1] != b_words.shape[1]:
        raise ValueError(f"need (M, W) and (P, W) words, got {a_words.shape} and {b_words.shape}")
    W = a_words.shape[1]
    if not 64 * (W - 1) < n <= 64 * W:
        raise ValueError(f"n = {n} values do not fill {W} words of 64 bits")
    M, P = a_words.shape[0], b_words.shape[0]
    out = np.empty((M, P), dtype=np.int64)
    rows = max(1, (1 << 21) // max(1, P * W))          # about 16 MB of XORed words per block
    for i in range(0, M, rows):
        x = a_words[i:i + rows, None, :] ^ b_words[None, :, :]
        out[i:i + rows] = n - 2 * popcount(x).sum(axis=-1, dtype=np.int64)
    return out
    ### END SOLUTION

# %% [tests] id=bnn_binary_matmul_test points=3 needs=bnn_binary_dot,bnn_binary_matmul
rng = np.random.default_rng(3)
for M, n, P in [(1, 1, 1), (5, 100, 7), (3, 64, 4), (8, 200, 6)]:
    A, B = pm1(rng.standard_normal((M, n))), pm1(rng.standard_normal((n, P)))
    a_words = np.stack([pack_signs_reference(r) for r in A])
    b_words = np.stack([pack_signs_reference(c) for c in B.T])
    C = binary_matmul(a_words, b_words, n)
    check_array(C, f"binary_matmul ({M}×{n} @ {n}×{P})", shape=(M, P), dtype=np.int64)
    assert_equal(C, (A @ B).astype(np.int64), f"binary_matmul vs the float ±1 product ({M}×{n} @ {n}×{P})")
expect_value_error(binary_matmul, a_words, b_words[:, :1], n)
passed("binary_matmul equals the float ±1 matrix product")
### BEGIN HIDDEN TESTS
def _h_pack_rows(m):
    _out = []
    for _row in m.tolist():
        _words = []
        for _s in range(0, len(_row), 64):
            _word = 0
            for _k, _t in enumerate(_row[_s:_s + 64]):
                if _t > 0:
                    _word |= 1 << _k
            _words.append(_word)
        _out.append(_words)
    return np.array(_out, dtype=np.uint64)


_rng = np.random.default_rng(104)
for _M, _n, _P in [(1, 1, 3), (4, 64, 3), (6, 200, 5), (2, 129, 9), (7, 5, 1)]:
    _A = (_rng.standard_normal((_M, _n)) >= 0) * 2.0 - 1.0
    _B = (_rng.standard_normal((_n, _P)) >= 0) * 2.0 - 1.0
    _got = binary_matmul(_h_pack_rows(_A), _h_pack_rows(_B.T), _n)
    _ref = (_A @ _B).astype(np.int64)
    assert type(_got) is np.ndarray, "hidden: binary_matmul must return a numpy.ndarray"
    assert _got.shape == (_M, _P) and _got.dtype == np.int64, f"hidden: shape/dtype for {(_M, _n, _P)}"
    assert (_got != _ref).sum() == 0, f"hidden: values for {(_M, _n, _P)}"
    for _i in range(_M):
        for _j in range(_P):
            assert int(_got[_i, _j]) == int(sum(_A[_i, _k] * _B[_k, _j] for _k in range(_n))), "hidden: element check"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. A binary convolution through im2col
#
# A convolution is a matrix product once the input windows are laid out as columns (chapter 2).
# For a binary convolution, every window and every filter is binarised and packed, and the matrix
# product is the one of part 4. XNOR-Net also scales the result: by $\alpha_c$ for output channel
# $c$, (4.2), and optionally by the input scale $K$ of equation **(4.3)** — the mean of $|X_{pad}|$
# over the $C_{in} \times K_h \times K_w$ window behind each output position. Altogether, equations
# **(4.4)** and **(4.8)**:
#
# $$ Y(n, c, h, w) = \alpha_c\, [K(n, h, w)] \sum_{c_{in}, k_h, k_w} \mathrm{sign}(W(c, c_{in}, k_h, k_w))\,
#    \mathrm{sign}\big(X_{pad}(n, c_{in}, h s + k_h, w s + k_w)\big), $$
#
# where $X_{pad}$ is $X$ with `pad` rows and columns of **zeros** on each side — which
# binarise to $+1$ — and the factor $K$ is used only when `input_scale=True`.
#
# Write `binary_conv2d(x, w, stride=1, pad=0, input_scale=False)` returning a float64 array of
# shape `(N, C_out, H_out, W_out)`. Build the windows with
# `np.lib.stride_tricks.sliding_window_view(x_pad, (K_h, K_w), axis=(2, 3))`, take every
# `stride`-th position, arrange them as one row per output position with the
# $(c_{in}, k_h, k_w)$ order of `w.reshape(C_out, -1)`, then use `binarize_weights`, `pack_bits`
# and `binary_matmul`. Raise `ValueError` if the channels of `x` and `w` differ or
# $H + 2p - K$ is not divisible by the stride.

# %% [solution] id=bnn_binary_conv
def binary_conv2d(x, w, stride=1, pad=0, input_scale=False):
    """XNOR-Net convolution, equations (4.4) and (4.8): x (N, C, H, W), w (F, C, KH, KW) ->
    float64 (N, F, H_out, W_out)."""
    ### BEGIN SOLUTION
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(f"need x (N, C, H, W) and w (F, C, KH, KW) with equal C, got {x.shape}, {w.shape}")
    N, C, H, Wd = x.shape
    F, _, KH, KW = w.shape          # F filters of C·KH·KW weights
    if (H + 2 * pad - KH) % stride or (Wd + 2 * pad - KW) % stride or KH > H + 2 * pad or KW > Wd + 2 * pad:
        raise ValueError(f"output size is not an integer for x {x.shape}, kernel {KH}×{KW}, "
                         f"stride {stride}, pad {pad}")
    Ho, Wo = (H + 2 * pad - KH) // stride + 1, (Wd + 2 * pad - KW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, C * KH * KW)   # one row per position
    B, alpha = binarize_weights(w)
    counts = binary_matmul(pack_bits(B.reshape(F, -1)), pack_bits(cols), C * KH * KW)   # (F, N·Ho·Wo)
    y = counts.reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3) * alpha.reshape(1, F, 1, 1)
    if input_scale:
        y = y * np.abs(cols).mean(axis=1).reshape(N, 1, Ho, Wo)
    return np.ascontiguousarray(y)
    ### END SOLUTION

# %% [tests] id=bnn_binary_conv_test points=4 needs=bnn_binarize,bnn_pack_bits,bnn_binary_dot,bnn_binary_matmul,bnn_binary_conv
rng = np.random.default_rng(4)
for (N, C, H, W, F, KH, KW, s, p) in [(2, 3, 5, 5, 4, 3, 3, 1, 1), (1, 2, 7, 6, 3, 3, 2, 2, 1),
                                      (2, 8, 6, 6, 2, 3, 3, 1, 0), (1, 30, 4, 4, 5, 3, 3, 1, 1)]:
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW))
    for scaled in (False, True):
        y = binary_conv2d(x, w, stride=s, pad=p, input_scale=scaled)
        ref = tf_binary_conv(x, w, s, p, input_scale=scaled)
        check_array(y, "binary_conv2d", shape=ref.shape, dtype=np.float64)
        assert_close(y, ref, f"binary_conv2d vs TensorFlow, x {x.shape}, w {w.shape}, stride {s}, pad {p}, "
                     f"input_scale={scaled}", rtol=1e-10, atol=1e-10)
expect_value_error(binary_conv2d, x, w[:, :1])
expect_value_error(binary_conv2d, np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), stride=2)
passed("binary_conv2d matches the float computation")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(105)
for _case in [(2, 3, 6, 5, 3, 3, 3, 1, 1), (1, 4, 7, 7, 2, 3, 3, 2, 0), (2, 1, 4, 5, 2, 2, 3, 1, 2), (1, 25, 5, 4, 3, 3, 1, 1, 0)]:
    _N, _C, _H, _W, _F, _KH, _KW, _s, _p = _case
    _x = _rng.standard_normal((_N, _C, _H, _W))
    _w = _rng.standard_normal((_F, _C, _KH, _KW))
    _x[0, 0, 0, 0] = 0.0
    _Ho, _Wo = (_H + 2 * _p - _KH) // _s + 1, (_W + 2 * _p - _KW) // _s + 1
    _alpha = [sum(abs(float(_v)) for _v in _w[_f].reshape(-1).tolist()) / _w[_f].size for _f in range(_F)]
    for _scaled in (False, True):
        _got = binary_conv2d(_x, _w, stride=_s, pad=_p, input_scale=_scaled)
        assert type(_got) is np.ndarray, "hidden: binary_conv2d must return a numpy.ndarray"
        assert _got.shape == (_N, _F, _Ho, _Wo) and _got.dtype == np.float64, f"hidden: shape/dtype for {_case}"
        for _n in range(_N):
            for _i in range(_Ho):
                for _j in range(_Wo):
                    _vals = {}
                    for _c in range(_C):
                        for _a in range(_KH):
                            for _b in range(_KW):
                                _r, _q = _i * _s + _a - _p, _j * _s + _b - _p
                                _vals[(_c, _a, _b)] = float(_x[_n, _c, _r, _q]) if 0 <= _r < _H and 0 <= _q < _W else 0.0
                    _k = sum(abs(_v) for _v in _vals.values()) / len(_vals)
                    for _f in range(_F):
                        _acc = 0.0
                        for (_c, _a, _b), _v in _vals.items():
                            _acc += (1.0 if _v >= 0 else -1.0) * (1.0 if float(_w[_f, _c, _a, _b]) >= 0 else -1.0)
                        _ref = _alpha[_f] * _acc * (_k if _scaled else 1.0)
                        assert abs(float(_got[_n, _f, _i, _j]) - _ref) <= 1e-9 * max(1.0, abs(_ref)), \
                            f"hidden: binary_conv2d at {(_n, _f, _i, _j)}, case {_case}, input_scale={_scaled}"
for _args, _kw in [((np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3))), {}),
                   ((np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3))), {"stride": 2, "pad": 0})]:
    _raised = False
    try:
        binary_conv2d(*_args, **_kw)
    except ValueError as _conv_err:
        _raised = True
    assert _raised, "hidden: binary_conv2d must raise ValueError for bad arguments"
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Training: the straight-through estimator
#
# $\mathrm{sign}$ has derivative 0 almost everywhere, so back-propagation through it would never
# change a weight. The **straight-through estimator** (STE) keeps real-valued *latent* weights
# $W$, uses $\mathrm{sign}(W)$ in the forward pass, and in the backward pass pretends that
# $\mathrm{sign}$ was the identity clipped to $[-1, 1]$, equation **(4.10)**:
#
# $$ q = \mathrm{sign}(r), \qquad \frac{\partial L}{\partial r} = \frac{\partial L}{\partial q}\; \mathbb{1}_{|r| \le 1}. $$
#
# One SGD step of a linear classifier with binary weights, equation **(4.11)**: with
# $B, \alpha$ = `binarize_weights(W)` and $W_b = \alpha B$ (row $c$ scaled by $\alpha_c$),
#
# $$ S = X W_b^\top, \qquad \nabla W = \big(\alpha\, \nabla W_b\big) \odot \mathbb{1}_{|W| \le 1}, \qquad
#    W \leftarrow \mathrm{clip}\big(W - \eta\, \nabla W,\, -1,\, 1\big), $$
#
# where $\nabla W_b = \nabla S^\top X$ comes from the softmax cross-entropy below and $\alpha$ is
# treated as a constant in the backward pass. Clipping keeps the latent weights where the STE
# still lets gradients through.
#
# Write `ste_backward(dout, r)` (the rule (4.10)) and `ste_train_step(w, x, y, lr)`, which returns
# `(w_new, loss)`: `w` of shape `(classes, D)`, `x` `(N, D)`, integer labels `y` `(N,)`;
# `w_new` a **new** array (leave `w` untouched) and `loss` the loss *before* the update, a float.

# %% [locked] id=bnn_softmax
def softmax_cross_entropy(scores, y):
    """Mean cross-entropy of softmax(scores) with labels y, and its gradient d loss / d scores."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -log_p[np.arange(n), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1
    return float(loss), dscores / n

# %% [solution] id=bnn_ste_step
def ste_backward(dout, r):
    """Straight-through estimator, equation (4.10): dout * [|r| <= 1]."""
    ### BEGIN SOLUTION
    dout, r = np.asarray(dout), np.asarray(r)
    return dout * (np.abs(r) <= 1)
    ### END SOLUTION


def ste_train_step(w, x, y, lr):
    """One SGD step of a binary-weight linear classifier, equation (4.11); returns (w_new, loss)."""
    ### BEGIN SOLUTION
    B, alpha = binarize_weights(w)
    wb = alpha[:, None] * B
    loss, dscores = softmax_cross_entropy(x @ wb.T, y)
    dwb = dscores.T @ x
    dw = ste_backward(alpha[:, None] * dwb, w)
    return np.clip(w - lr * dw, -1.0, 1.0), float(loss)
    ### END SOLUTION

# %% [tests] id=bnn_ste_step_test points=3 needs=bnn_binarize,bnn_ste_step
r = np.array([-2.0, -1.0, -0.3, 0.0, 0.7, 1.0, 1.5])
g = ste_backward(np.full(7, 3.0), r)
check_array(g, "ste_backward", shape=(7,), dtype="float")
assert_close(g, [0, 3, 3, 3, 3, 3, 0], "ste_backward: gradient passes where |r| <= 1")


def tf_ste_step(w, x, y, lr):
    """Reference for ste_train_step: the STE written as x + stop_gradient(sign(x) - x) in TensorFlow."""
    wt = tf.Variable(w)
    mask = tf.constant((np.abs(w) <= 1).astype(np.float64))
    alpha = tf.constant(np.abs(w).mean(axis=1, keepdims=True))
    with tf.GradientTape() as tape:
        wb = alpha * (wt * mask + tf.stop_gradient(pm1(w) - wt * mask))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.matmul(x, wb, transpose_b=True)))
    return np.clip(w - lr * tape.gradient(loss, wt).numpy(), -1, 1), float(loss)


rng = np.random.default_rng(6)
w = rng.uniform(-1.5, 1.5, (4, 6))
x = rng.standard_normal((10, 6))
y = rng.integers(0, 4, 10)
w_copy = w.copy()
w_new, loss = ste_train_step(w, x, y, 0.5)
ref_w, ref_loss = tf_ste_step(w, x, y, 0.5)
assert_equal(w, w_copy, "ste_train_step must not modify w")
check_array(w_new, "w_new", shape=w.shape, dtype=np.float64)
assert abs(loss - ref_loss) < 1e-10, f"loss {loss} vs {ref_loss} (computed with the binarised weights alpha·sign(w))"
assert_close(w_new, ref_w, "w_new vs TensorFlow's STE", rtol=1e-10, atol=1e-12)
assert np.abs(w_new).max() <= 1.0, "latent weights are clipped to [-1, 1]"
passed("ste_backward and ste_train_step")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(106)
for _M, _D, _N, _lr in [(3, 5, 8, 0.3), (10, 4, 20, 1.0), (2, 9, 3, 0.05)]:
    _w = _rng.uniform(-1.4, 1.4, (_M, _D))
    _w[0, 0] = 1.0
    _x = _rng.standard_normal((_N, _D))
    _y = _rng.integers(0, _M, _N)
    _keep = _w.copy()
    _got_w, _got_loss = ste_train_step(_w, _x, _y, _lr)
    _wt = tf.Variable(_keep)
    _mask = tf.constant((_keep.__abs__() <= 1) * 1.0)
    _alpha = tf.constant(_keep.__abs__().mean(axis=1).reshape(_M, 1))
    with tf.GradientTape() as _tape:
        _wb = _alpha * (_wt * _mask + tf.stop_gradient(tf.constant((_keep >= 0) * 2.0 - 1.0) - _wt * _mask))
        _loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(_y, tf.matmul(_x, _wb, transpose_b=True)))
    _ref_w = (_keep - _lr * _tape.gradient(_loss, _wt).numpy()).clip(-1.0, 1.0)
    assert type(_got_w) is np.ndarray and _got_w.shape == (_M, _D) and _got_w.dtype == np.float64, \
        "hidden: w_new shape/dtype"
    assert (_w != _keep).sum() == 0, "hidden: ste_train_step modified w"
    assert abs(float(_got_loss) - float(_loss.numpy())) < 1e-9, "hidden: loss"
    assert float((_got_w - _ref_w).__abs__().max()) < 1e-9, f"hidden: w_new for {(_M, _D, _N, _lr)}"
    _frozen = _keep.__abs__() > 1
    assert (_got_w[_frozen] != _keep[_frozen].clip(-1.0, 1.0)).sum() == 0, "hidden: |w| > 1 gets no gradient"
_r = _rng.standard_normal((3, 4)) * 2
_d = _rng.standard_normal((3, 4))
_g = ste_backward(_d, _r)
assert type(_g) is np.ndarray and _g.shape == (3, 4), "hidden: ste_backward shape"
assert float((_g - _d * (_r.__abs__() <= 1)).__abs__().max()) == 0.0, "hidden: ste_backward values"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. Experiment: the binary matrix product is exact — and what it costs
#
# The packed product must equal the float product of the ±1 matrices **exactly**: both are sums
# of $\pm 1$, integers far below $2^{24}$, which float32 represents exactly. The sizes below are
# one VGG layer seen through im2col (64 output channels, $3 \times 3 \times 128$ inputs,
# $28 \times 28$ positions; tiny while grading). The cell also times your NumPy version against
# float32 BLAS: NumPy runs XOR, popcount and sum as three separate passes over a large
# temporary array, so it *loses* to BLAS. The book's speed section shows what a compiled kernel
# that keeps everything in registers achieves (`bench/bnn.py`).

# %% [demo]
from source_lib.timing import median_time

M, K, P = config.pick((64, 1152, 784), (8, 72, 49))
rng = np.random.default_rng(7)
A = rng.standard_normal((M, K)).astype(np.float32)        # weights, one row per output channel
X = rng.standard_normal((K, P)).astype(np.float32)        # im2col columns, one per output position
A_pm, X_pm = binarize(A), binarize(X)
a_words, x_words = pack_bits(A), pack_bits(X.T)
C_bin = binary_matmul(a_words, x_words, K)
C_float = A_pm @ X_pm
print(f"{M}×{K} @ {K}×{P}: binary product == float ±1 product exactly: {bool((C_bin == C_float).all())}")
print(f"weights: float32 {A.nbytes:,} bytes, packed {a_words.nbytes:,} bytes -> {A.nbytes / a_words.nbytes:.0f}× smaller")
t_blas = median_time(lambda: A_pm @ X_pm, repeat=5)
t_numpy = median_time(lambda: binary_matmul(a_words, x_words, K), repeat=3)
print(f"float32 BLAS {t_blas * 1e3:.2f} ms, NumPy XOR+popcount {t_numpy * 1e3:.2f} ms "
      f"({t_numpy / t_blas:.1f}× slower)")

# %% [markdown]
# ## 8. Experiment: a binary conv net on handwritten digits
#
# The network below has three convolutions. As in XNOR-Net, the **first layer and the last layer
# stay full precision**: the first sees raw pixels (one input channel, so there is little to gain
# and much to lose), the last produces the class scores. The two middle convolutions are binary:
# weights $\alpha\, \mathrm{sign}(W)$ and inputs $\mathrm{sign}(X)$, padded with $+1$ like your
# `binary_conv2d`, trained through the STE. Batch normalisation before each binarisation centres
# the activations, so that $\mathrm{sign}$ splits them in two halves instead of returning $+1$
# almost everywhere. The float twin has the same layers with float weights and ReLU. Both are
# trained with Adam (TensorFlow computes the gradients; `sign_ste` is (4.10)).

# %% [demo]
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
images_all = (digits.images / 16.0).astype(np.float32).reshape(-1, 8, 8, 1)      # NHWC for TensorFlow
x_train, x_test, y_train, y_test = train_test_split(images_all, digits.target, test_size=0.25,
                                                    random_state=0, stratify=digits.target)
print("train", x_train.shape, "test", x_test.shape)


@tf.custom_gradient
def sign_ste(r):
    """sign with sign(0) = +1 forward, the straight-through estimator (4.10) backward."""
    def grad(dq):
        return dq * tf.cast(tf.abs(r) <= 1, dq.dtype)
    return tf.where(r >= 0, 1.0, -1.0), grad


class DigitNet(tf.Module):
    """conv 3×3 (1→32, float) → BN → [sign] → conv 3×3 (32→64) → BN → pool → [sign] →
    conv 3×3 (64→64) → BN → pool → ReLU → dense 256→10 (float). `binary` makes the two middle
    convolutions XNOR convolutions (binary weights with alpha, binary inputs)."""

    def __init__(self, binary, width=32, seed=0):
        g = tf.random.Generator.from_seed(seed)
        self.binary = binary
        c1, c2 = width, 2 * width
        self.w1 = tf.Variable(g.normal((3, 3, 1, c1)) * np.sqrt(2 / 9))
        self.b1 = tf.Variable(tf.zeros(c1))
        if binary:    # latent weights live in [-1, 1]
            self.w2 = tf.Variable(g.uniform((3, 3, c1, c2), -0.1, 0.1))
            self.w3 = tf.Variable(g.uniform((3, 3, c2, c2), -0.1, 0.1))
        else:
            self.w2 = tf.Variable(g.normal((3, 3, c1, c2)) * np.sqrt(2 / (9 * c1)))
            self.w3 = tf.Variable(g.normal((3, 3, c2, c2)) * np.sqrt(2 / (9 * c2)))
        self.bn = [[tf.Variable(tf.ones(c)), tf.Variable(tf.zeros(c)),
                    tf.Variable(tf.zeros(c), trainable=False), tf.Variable(tf.ones(c), trainable=False)]
                   for c in (c1, c2, c2)]
        self.wf = tf.Variable(g.normal((4 * c2, 10)) * np.sqrt(1 / (4 * c2)))
        self.bf = tf.Variable(tf.zeros(10))

    def norm(self, h, i, training):
        gamma, beta, mean, var = self.bn[i]
        if training:
            m, v = tf.nn.moments(h, axes=[0, 1, 2])
            mean.assign(0.9 * mean + 0.1 * m)
            var.assign(0.9 * var + 0.1 * v)
        else:
            m, v = mean, var
        return (h - m) / tf.sqrt(v + 1e-5) * gamma + beta

    def conv(self, h, w):
        if not self.binary:
            return tf.nn.conv2d(tf.nn.relu(h), w, 1, "SAME")
        alpha = tf.stop_gradient(tf.reduce_mean(tf.abs(w), axis=[0, 1, 2]))
        hb = tf.pad(sign_ste(h), [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=1.0)
        return tf.nn.conv2d(hb, sign_ste(w), 1, "VALID") * alpha

    def features(self, x, training=False):
        """The input of the first binary convolution (after BN), NHWC."""
        return self.norm(tf.nn.conv2d(x, self.w1, 1, "SAME") + self.b1, 0, training)

    def __call__(self, x, training=False):
        h = self.norm(self.conv(self.features(x, training), self.w2), 1, training)
        h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        h = self.norm(self.conv(h, self.w3), 2, training)
        h = tf.nn.relu(tf.nn.max_pool2d(h, 2, 2, "VALID"))
        return tf.reshape(h, (tf.shape(h)[0], -1)) @ self.wf + self.bf


def train_digits(binary, epochs, batch=64, seed=0):
    config.seed_everything(seed)
    net = DigitNet(binary, seed=seed)
    steps = epochs * -(-len(x_train) // batch)
    schedule = tf.keras.optimizers.schedules.CosineDecay(1e-2 if binary else 3e-3, max(1, steps))
    opt = tf.keras.optimizers.Adam(schedule)
    params = net.trainable_variables

    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, net(xb, training=True)))
        opt.apply_gradients(zip(tape.gradient(loss, params), params))
        if binary:    # keep latent weights where the STE passes gradients, (4.11)
            net.w2.assign(tf.clip_by_value(net.w2, -1.0, 1.0))
            net.w3.assign(tf.clip_by_value(net.w3, -1.0, 1.0))
        return loss

    predict = lambda xb: tf.argmax(net(xb), axis=1)
    if not config.small():       # compiling costs a few seconds: worth it for many steps only
        step, predict = tf.function(step), tf.function(predict)
    rng = np.random.default_rng(seed)
    curve = []
    bar = progress(range(epochs), desc=("binary" if binary else "float ") + " net")
    for _ in bar:
        order = rng.permutation(len(x_train))
        losses = [float(step(x_train[order[i:i + batch]], y_train[order[i:i + batch]]))
                  for i in range(0, len(order), batch)]
        curve.append(float((predict(x_test).numpy() == y_test).mean()))
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", test_acc=f"{curve[-1]:.3f}")
    bar.close()
    return net, curve


epochs = config.pick(20, 2)
if config.small():
    x_train, y_train = x_train[:256], y_train[:256]
start = time.perf_counter()
float_net, float_curve = train_digits(False, epochs)
binary_net, binary_curve = train_digits(True, epochs)
print(f"{time.perf_counter() - start:.1f} s for both networks, {epochs} epochs each")
print(f"test accuracy: float {float_curve[-1]:.1%}, binary {binary_curve[-1]:.1%}, "
      f"gap {100 * (float_curve[-1] - binary_curve[-1]):.1f} percentage points")
if config.small():
    print("(quick/grading mode: a few steps on 256 images; run the full notebook for the real gap)")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(np.arange(1, epochs + 1), float_curve, marker="o", ms=3, label="float twin")
ax.plot(np.arange(1, epochs + 1), binary_curve, marker="o", ms=3, label="binary (2 XNOR conv layers)")
ax.set_xlabel("epoch"); ax.set_ylabel("test accuracy"); ax.set_title("digits, 8×8")
ax.legend(); fig.tight_layout()
plt.show()

# %% [markdown]
# The trained binary network never needs a multiplication in its middle layers. The next cell
# takes the input of its first binary convolution, runs that layer with **your** XNOR-popcount
# `binary_conv2d` (after converting the latent weights to the course's `(C_out, C_in, K, K)`
# layout) and compares with TensorFlow's float simulation of the same layer.

# %% [demo]
h = binary_net.features(tf.constant(x_test[:8])).numpy().transpose(0, 3, 1, 2)      # NCHW
w2 = binary_net.w2.numpy().transpose(3, 2, 0, 1)                                    # (C_out, C_in, 3, 3)
y_xnor = binary_conv2d(h, w2, stride=1, pad=1)
y_tf = binary_net.conv(tf.constant(h.transpose(0, 2, 3, 1)), binary_net.w2).numpy().transpose(0, 3, 1, 2)
print(f"XNOR-popcount layer vs TensorFlow's float simulation: max |difference| = "
      f"{np.abs(y_xnor - y_tf).max():.2e} (float32 rounding of alpha only)")
print(f"that layer: {w2.size * 32:,} bits of float32 weights vs {pack_bits(binarize(w2).reshape(len(w2), -1)).size * 64:,} bits packed")

# %% [markdown]
# ## 9. Experiment: binarising a pretrained VGG16
#
# What if we simply replace every convolution of a trained network by its binary-weight
# approximation $\alpha\, \mathrm{sign}(W)$ — no retraining? The cell below runs the 13
# convolutions of VGG16 (ImageNet weights, if `source_lib.vgg` finds them; otherwise seeded
# random weights, and the figures say so) on a few sample photographs, once with the float
# weights and once binarised (keeping the biases), and compares, layer by layer,
#
# * **similarity to float**: the cosine similarity between the binarised network's feature maps
#   and the float network's, for the same image;
# * **similarity between images**: the mean cosine similarity between the feature maps of two
#   *different* images in the same network. When it approaches 1, every image looks the same to
#   the network.
#
# The course material reports that a naively binarised VGG16 loses its high-level features and
# predicts one class for every image. Watch the last layers.

# %% [demo]
from source_lib import images, vgg

vgg_weights = vgg.load_pretrained(depth=16, include_top=False)
weights_label = "seeded RANDOM weights" if vgg_weights.random else "ImageNet weights"
print(vgg_weights.describe())
size = config.pick(224, 32)
names = config.pick(["astronaut", "coffee", "chelsea", "rocket", "grace_hopper"], ["astronaut", "coffee", "chelsea"])
layers = vgg.conv_names(16)[:config.pick(13, 4)]
photos = np.stack([images.load_image(n, size=(size, size)) for n in names]).astype(np.float32)
x_vgg = np.ascontiguousarray((photos - vgg_weights.mean_rgb).transpose(0, 3, 1, 2))       # NCHW


def run_vgg(x, binarise=()):
    """ReLU outputs of the conv layers (NCHW); layers in `binarise` use alpha·sign(W)."""
    h, out = tf.constant(x.transpose(0, 2, 3, 1)), {}
    last_of_block = {f"conv{b + 1}_{n}" for b, n in enumerate(vgg.CONFIGS[16])}
    for name in layers:
        w, b = vgg_weights[name]
        if name in binarise:
            B, alpha = binarize_weights(w)
            w = B * alpha.reshape(-1, 1, 1, 1)
        h = tf.nn.relu(tf.nn.conv2d(h, w.transpose(2, 3, 1, 0), 1, "SAME") + b)
        out[name] = h.numpy().transpose(0, 3, 1, 2)
        if name in last_of_block and h.shape[1] > 1:      # 2×2 max-pooling ends each block
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
    return out


def cosine_rows(a, b):
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def between_images(a):
    a = a.reshape(len(a), -1)
    a = a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-12)
    s = a @ a.T
    return float((s.sum() - len(a)) / (len(a) * (len(a) - 1)))


start = time.perf_counter()
feats_float = run_vgg(x_vgg)
feats_bin = run_vgg(x_vgg, binarise=set(layers))
feats_bin1 = run_vgg(x_vgg, binarise=set(layers[1:]))      # first layer kept float
print(f"3 passes of {len(layers)} layers on {len(names)} images of {size}×{size}: {time.perf_counter() - start:.1f} s")
print(f"{'layer':<8} {'sim. to float':>14} {'(conv1_1 float)':>16} {'between images: float':>22} {'binary':>8}")
for name in layers:
    print(f"{name:<8} {cosine_rows(feats_float[name], feats_bin[name]).mean():14.3f} "
          f"{cosine_rows(feats_float[name], feats_bin1[name]).mean():16.3f} "
          f"{between_images(feats_float[name]):22.3f} {between_images(feats_bin[name]):8.3f}")

fig, ax = plt.subplots(figsize=(8, 3.4))
ax.plot(layers, [cosine_rows(feats_float[n], feats_bin[n]).mean() for n in layers], marker="o", label="binarised vs float (same image)")
ax.plot(layers, [cosine_rows(feats_float[n], feats_bin1[n]).mean() for n in layers], marker=".", ls=":", label="… conv1_1 kept float")
ax.plot(layers, [between_images(feats_float[n]) for n in layers], marker="s", label="between images, float")
ax.plot(layers, [between_images(feats_bin[n]) for n in layers], marker="s", label="between images, binarised")
ax.set_ylim(0, 1.05); ax.set_ylabel("cosine similarity"); ax.tick_params(axis="x", rotation=60)
ax.set_title(f"VGG16 with binarised weights ({weights_label}, {size}×{size})")
ax.legend(fontsize=8); fig.tight_layout()
plt.show()

show = [layers[0], layers[len(layers) // 2], layers[-1]]
fig, axes = plt.subplots(2, 1 + 2 * len(show), figsize=(2 * (1 + 2 * len(show)), 4.2))
for row, (feats, label) in enumerate([(feats_float, "float"), (feats_bin, "binarised")]):
    axes[row, 0].imshow(photos[0].astype(np.uint8)); axes[row, 0].set_title(label)
    for k, name in enumerate(show):
        fmap = feats[name][0]
        strongest = np.argsort(feats_float[name][0].mean(axis=(1, 2)))[::-1][:2]
        for j, c in enumerate(strongest):
            axes[row, 1 + 2 * k + j].imshow(fmap[c], cmap="magma")
            axes[row, 1 + 2 * k + j].set_title(f"{name} ch {c}", fontsize=8)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"feature maps of the two most active channels ({weights_label})", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check yourself
#
# 1. Why is $\alpha = \mathrm{mean}(|W|)$ the best scale for $W \approx \alpha\, \mathrm{sign}(W)$?
#    What would happen to the activations of a deep network without it?
# 2. Derive (4.5). Why does the XNOR form need a correction for the padding bits of the last
#    word, and how large is it?
# 3. How many bytes do the weights of a 3×3, 256→256 convolution take in float32, and packed?
#    How many `uint64` words does one packed filter need?
# 4. `n - 2 * np.bitwise_count(x).sum()` can return `18446744073709551516`. Why?
# 5. In a network with ReLU, why must activations be binarised *before* the ReLU (or after a
#    batch normalisation), not after it?
# 6. The STE passes gradients only where $|r| \le 1$. What happens to a latent weight that
#    grows to 5 if we do not clip, and why is clipping to $[-1, 1]$ enough?
# 7. In the VGG experiment, why does the similarity *between images* of the binarised network
#    approach 1 in the last layers? What does a classifier on top of such features predict?
