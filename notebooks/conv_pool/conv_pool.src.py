# %% [config] timeout=300 partial=conv_pool_output_size,conv_pool_conv_naive_forward,conv_pool_max_pool_forward,conv_pool_max_pool_backward

# %% [markdown] id=conv_pool_header locked
# # Chapter 2 — Convolution and pooling from first principles
#
# A convolutional network is built from a handful of layers. In this assignment you write the
# two that matter most — convolution and max-pooling — in NumPy, forward *and* backward, first
# with plain loops that follow the equations of the book chapter line by line, then with the
# *im2col* trick that turns a convolution into one matrix product and makes it hundreds of
# times faster. At the end you train a small network made only of your layers on handwritten
# digits.
#
# **Learning goals**
# 1. Compute output sizes with padding and stride, equations (2.1) and (2.2), and reject
#    arguments that make no sense.
# 2. Implement the convolution forward pass (2.3) and its gradients (2.4)–(2.7) with loops.
# 3. Implement max-pooling forward (2.8) and backward (2.9).
# 4. Implement im2col and col2im (2.10) and a convolution that is one matrix product, (2.11)
#    and (2.12).
# 5. Check every layer against TensorFlow and against numerical gradients, and train a tiny
#    conv net, (2.13)–(2.15).
#
# **Conventions.** Activations are NumPy arrays in **NCHW** layout `(N, C, H, W)`. Convolution
# weights have shape **`(C_out, C_in, K_h, K_w)`** and the bias `(C_out,)`. Each layer is a pair
# `out, cache = layer_forward(x, ...)` and `grads = layer_backward(dout, cache)`, where `dout`
# is the gradient of the loss with respect to `out`. Fill in every cell that says
# `YOUR CODE HERE`, then run the test cell below it. Hidden tests run when the notebook is
# graded.

# %% [locked] id=conv_pool_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import time

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf

from source_lib import config
from source_lib.checks import assert_close, assert_equal, check_array, passed
from source_lib.gradcheck import numerical_gradient, rel_error
from source_lib.progress import progress

print(config.banner())

# %% [markdown]
# The visible tests compare your layers with TensorFlow. TensorFlow's CPU convolution only
# accepts **NHWC** activations and weights of shape `(K_h, K_w, C_in, C_out)`, so the
# reference functions below transpose on the way in and out. Read them: they are also a
# compact statement of what your layers must compute.

# %% [locked] id=conv_pool_references
def tf_conv(x, w, b, stride=1, pad=0):
    """Reference convolution: NCHW numpy in and out, w of shape (C_out, C_in, K_h, K_w)."""
    y = tf.nn.conv2d(tf.constant(x.transpose(0, 2, 3, 1)), tf.constant(w.transpose(2, 3, 1, 0)),
                     strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return y.numpy().transpose(0, 3, 1, 2) + b.reshape(1, -1, 1, 1)


def tf_conv_grads(x, w, b, dout, stride=1, pad=0):
    """(dx, dw, db) of sum(conv(x, w, b) * dout), computed by tf.GradientTape."""
    xt, wt, bt = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(tf.transpose(xt, (0, 2, 3, 1)), tf.transpose(wt, (2, 3, 1, 0)),
                         strides=stride, padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]])
        y = tf.transpose(y, (0, 3, 1, 2)) + tf.reshape(bt, (1, -1, 1, 1))
        loss = tf.reduce_sum(y * dout)
    return [g.numpy() for g in tape.gradient(loss, [xt, wt, bt])]


def tf_max_pool(x, pool=2, stride=2):
    """Reference max-pooling (no padding), NCHW numpy in and out."""
    y = tf.nn.max_pool2d(tf.constant(x.transpose(0, 2, 3, 1)), ksize=pool, strides=stride, padding="VALID")
    return y.numpy().transpose(0, 3, 1, 2)


def tf_max_pool_grad(x, dout, pool=2, stride=2):
    """dx of sum(max_pool(x) * dout), computed by tf.GradientTape."""
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(tf.transpose(xt, (0, 2, 3, 1)), ksize=pool, strides=stride, padding="VALID")
        loss = tf.reduce_sum(tf.transpose(y, (0, 3, 1, 2)) * dout)
    return tape.gradient(loss, xt).numpy()


def expect_value_error(fn, *args, word, **kwargs):
    """fn(*args, **kwargs) must raise ValueError with `word` in its message."""
    try:
        fn(*args, **kwargs)
    except ValueError as err:
        if word.lower() not in str(err).lower():
            raise AssertionError(f"{fn.__name__} raised ValueError({str(err)!r}); "
                                 f"the message should contain {word!r}") from None
        return str(err)
    raise AssertionError(f"{fn.__name__} should raise ValueError here (a message containing {word!r})")

# %% [markdown]
# ## 1. Output size, padding and stride
#
# Zero padding of `p` pixels on every side makes the input $H_{pad} = H + 2p$ tall, equation
# **(2.1)**. A `K`-wide window that moves by `s` pixels then fits
#
# $$ H_{out} = \frac{H + 2p - K}{s} + 1 \qquad \text{(2.2)} $$
#
# times (the same along the width). Frameworks round this down and silently ignore the last
# rows; in this course a non-integer output size is an **error**, because it almost always
# means a wrong padding or stride.
#
# Write `conv_output_size(size, kernel, stride, pad)` for one axis, and
# `check_conv_args(x, w, b, stride, pad)`, which validates the arguments of a convolution and
# returns `(H_out, W_out)`. Both raise `ValueError` with a message containing
#
# | problem | the message contains |
# |---|---|
# | `stride` not an integer ≥ 1, `pad` not an integer ≥ 0 | `stride` or `pad` |
# | `x` or `w` is not 4-dimensional | `rank` |
# | `b` is not of shape `(C_out,)` | `bias` |
# | `x` has a different number of channels than `w` expects | `channel` |
# | the kernel is larger than the padded input | `larger` |
# | $H + 2p - K$ is not divisible by $s$ | `integer` |

# %% [solution] id=conv_pool_output_size
def conv_output_size(size, kernel, stride=1, pad=0):
    """Number of window positions along one axis, equation (2.2). Returns an int."""
    ### BEGIN SOLUTION
    for name, value, low in (("size", size, 1), ("kernel", kernel, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    padded = size + 2 * pad
    if kernel > padded:
        raise ValueError(f"kernel {kernel} is larger than the padded input {size} + 2*{pad} = {padded}")
    if (padded - kernel) % stride != 0:
        raise ValueError(f"output size is not an integer: {size} + 2*{pad} - {kernel} = {padded - kernel} "
                         f"is not divisible by stride {stride}")
    return int((padded - kernel) // stride + 1)
    ### END SOLUTION


def check_conv_args(x, w, b, stride=1, pad=0):
    """Validate x (N, C_in, H, W), w (C_out, C_in, K_h, K_w), b (C_out,); return (H_out, W_out)."""
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim != 4:
        raise ValueError(f"x must have rank 4 (N, C_in, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must have rank 4 (C_out, C_in, K_h, K_w), got shape {w.shape}")
    if b.shape != (w.shape[0],):
        raise ValueError(f"bias b must have shape ({w.shape[0]},), got {b.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} input channels")
    return (conv_output_size(x.shape[2], w.shape[2], stride, pad),
            conv_output_size(x.shape[3], w.shape[3], stride, pad))
    ### END SOLUTION

# %% [tests] id=conv_pool_output_size_test points=2 needs=conv_pool_output_size
assert conv_output_size(5, 3) == 3, "5 pixels, 3-wide kernel, stride 1, no padding: 3 positions"
assert conv_output_size(5, 3, stride=1, pad=1) == 5, "'same' padding keeps the size"
assert conv_output_size(7, 3, stride=2, pad=2) == 5, "(7 + 4 - 3) / 2 + 1 = 5"
assert conv_output_size(6, 2, stride=2) == 3, "2×2 windows with stride 2 halve the size"
assert conv_output_size(2, 5, stride=1, pad=2) == 2, "a kernel larger than the input is fine once padded"
for args, word in [((5, 3, 0, 0), "stride"), ((5, 3, 1, -1), "pad"), ((2, 5, 1, 1), "larger"),
                   ((8, 3, 2, 1), "integer"), ((224, 7, 2, 3), "integer")]:
    expect_value_error(conv_output_size, *args, word=word)
x = np.zeros((2, 3, 7, 5)); w = np.zeros((4, 3, 3, 3)); b = np.zeros(4)
assert tuple(check_conv_args(x, w, b, stride=2, pad=1)) == (4, 3), "(7+2-3)/2+1 = 4 rows, (5+2-3)/2+1 = 3 columns"
assert tuple(check_conv_args(x, np.zeros((4, 3, 3, 1)), b, stride=2, pad=0)) == (3, 3), "non-square kernel 3×1"
expect_value_error(check_conv_args, x[0], w, b, word="rank")
expect_value_error(check_conv_args, x, w[0], b, word="rank")
expect_value_error(check_conv_args, x, w, np.zeros(3), word="bias")
expect_value_error(check_conv_args, x, np.zeros((4, 2, 3, 3)), b, word="channel")
expect_value_error(check_conv_args, x, np.zeros((4, 3, 3, 6)), b, word="larger")
expect_value_error(check_conv_args, x, w, b, stride=3, pad=0, word="integer")
passed("conv_output_size and check_conv_args")
### BEGIN HIDDEN TESTS
for size in range(1, 9):
    for kernel in range(1, 7):
        for stride in range(1, 4):
            for pad in range(0, 3):
                padded = size + 2 * pad
                valid = kernel <= padded and (padded - kernel) % stride == 0
                try:
                    got = conv_output_size(size, kernel, stride, pad)
                except ValueError:
                    assert not valid, f"hidden: conv_output_size{(size, kernel, stride, pad)} raised but is valid"
                else:
                    assert valid, f"hidden: conv_output_size{(size, kernel, stride, pad)} must raise ValueError"
                    assert int(got) == got and int(got) == (padded - kernel) // stride + 1, \
                        f"hidden: conv_output_size{(size, kernel, stride, pad)}"
for bad in [(5, 3, 1.5, 0), (5, 3, 1, 0.5), (5, 3, -1, 0)]:
    try:
        conv_output_size(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"hidden: conv_output_size{bad} must raise ValueError")
got = check_conv_args(np.zeros((1, 2, 9, 8)), np.zeros((5, 2, 3, 2)), np.zeros(5), 3, 0)
assert tuple(int(v) for v in got) == (3, 3), "hidden: check_conv_args, non-square input and kernel, stride 3"
got = check_conv_args(np.zeros((3, 1, 4, 4)), np.zeros((2, 1, 4, 4)), np.zeros(2), 1, 2)
assert tuple(int(v) for v in got) == (5, 5), "hidden: check_conv_args, pad 2"
for args, word in [((np.zeros((1, 2, 9)), np.zeros((5, 2, 3, 2)), np.zeros(5), 1, 0), "rank"),
                   ((np.zeros((1, 2, 9, 6)), np.zeros((5, 3, 3, 2)), np.zeros(5), 1, 0), "channel"),
                   ((np.zeros((1, 2, 2, 6)), np.zeros((5, 2, 5, 2)), np.zeros(5), 1, 1), "larger"),
                   ((np.zeros((1, 2, 9, 6)), np.zeros((5, 2, 3, 2)), np.zeros(5), 3, 0), "integer"),
                   ((np.zeros((1, 2, 9, 6)), np.zeros((5, 2, 3, 2)), np.zeros((5, 1)), 1, 0), "bias")]:
    try:
        check_conv_args(*args)
    except ValueError as err:
        assert word in str(err).lower(), f"hidden: check_conv_args message should contain {word!r}"
    else:
        raise AssertionError(f"hidden: check_conv_args must raise ValueError ({word})")
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Convolution with loops
#
# The forward pass is equation **(2.3)**: for every image `n`, output channel `c_out` and output
# position `(h, w)`,
#
# $$ Y(n, c_{out}, h, w) = b(c_{out}) + \sum_{c_{in}} \sum_{k_h} \sum_{k_w}
#    W(c_{out}, c_{in}, k_h, k_w)\, X_{pad}(n, c_{in}, h s + k_h, w s + k_w). $$
#
# Write it with four loops (over `n`, `c_out`, `h`, `w`); the triple sum may be one `np.sum` of
# an element-wise product of the window and the filter. Pad with `np.pad`. Call
# `check_conv_args` first, so that bad arguments raise the errors of part 1. Return the output
# (same float dtype as `x`) and `cache = (x, w, b, stride, pad)`.

# %% [solution] id=conv_pool_conv_naive_forward
def conv_forward_naive(x, w, b, stride=1, pad=0):
    """Convolution by loops, equation (2.3).

    x: (N, C_in, H, W), w: (C_out, C_in, K_h, K_w), b: (C_out,)
    Returns out: (N, C_out, H_out, W_out) and cache = (x, w, b, stride, pad).
    """
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    H_out, W_out = check_conv_args(x, w, b, stride, pad)
    N = x.shape[0]
    F, _, KH, KW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=np.result_type(x, w, b))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = x_pad[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, stride, pad)
    ### END SOLUTION

# %% [tests] id=conv_pool_conv_naive_forward_test points=3 needs=conv_pool_output_size,conv_pool_conv_naive_forward
# A hand-worked example: a 3×3 image, one 2×2 filter that adds the four pixels of a window.
x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
out, cache = conv_forward_naive(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
check_array(out, "conv_forward_naive(3×3 image)", shape=(1, 1, 2, 2), dtype=np.float64)
assert_close(out[0, 0], [[8.5, 12.5], [20.5, 24.5]], "window sums + bias")
rng = np.random.default_rng(0)
for (N, C, H, W, F, KH, KW, s, p) in [(2, 3, 5, 5, 4, 3, 3, 1, 1), (1, 2, 7, 5, 3, 3, 3, 2, 1),
                                      (2, 1, 6, 4, 2, 2, 2, 2, 0), (1, 2, 3, 4, 2, 3, 2, 1, 2)]:
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
    out, cache = conv_forward_naive(x, w, b, stride=s, pad=p)
    assert_close(out, tf_conv(x, w, b, s, p), f"conv_forward_naive, x {x.shape}, w {w.shape}, stride {s}, pad {p}", rtol=1e-10, atol=1e-10)
expect_value_error(conv_forward_naive, x[0], w, b, word="rank")
expect_value_error(conv_forward_naive, x, w[:, :1], b, word="channel")
expect_value_error(conv_forward_naive, x, w, b, stride=3, pad=2, word="integer")
passed("conv_forward_naive matches tf.nn.conv2d")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(2024)
for case in [(2, 3, 7, 5, 4, 3, 3, 2, 1), (1, 2, 6, 6, 3, 2, 2, 2, 0), (3, 1, 5, 4, 2, 1, 1, 1, 0),
             (1, 2, 4, 3, 2, 3, 2, 1, 2), (2, 2, 9, 6, 2, 3, 3, 3, 0)]:
    N_, C_, H_, W_, F_, KH_, KW_, s_, p_ = case
    xh, wh, bh = rng_h.standard_normal((N_, C_, H_, W_)), rng_h.standard_normal((F_, C_, KH_, KW_)), rng_h.standard_normal(F_)
    got, _ = conv_forward_naive(xh, wh, bh, stride=s_, pad=p_)
    ref = tf.nn.conv2d(tf.constant(xh.transpose(0, 2, 3, 1)), tf.constant(wh.transpose(2, 3, 1, 0)), strides=s_,
                       padding=[[0, 0], [p_, p_], [p_, p_], [0, 0]]).numpy().transpose(0, 3, 1, 2) + bh.reshape(1, -1, 1, 1)
    assert type(got) is np.ndarray, "hidden: conv_forward_naive must return a numpy.ndarray"
    assert got.shape == ref.shape, f"hidden: output shape for case {case}"
    assert got.dtype == np.float64, "hidden: float64 in, float64 out"
    assert float((got - ref).__abs__().max()) < 1e-10, f"hidden: values for case {case}"
# plain-Python loops as a second, independent reference
xh, wh, bh = rng_h.standard_normal((1, 2, 4, 3)), rng_h.standard_normal((2, 2, 3, 2)), rng_h.standard_normal(2)
got, _ = conv_forward_naive(xh, wh, bh, stride=1, pad=1)
assert type(got) is np.ndarray and got.shape == (1, 2, 4, 4), "hidden: shape with pad 1, kernel 3×2"
for f in range(2):
    for i in range(4):
        for j in range(4):
            acc = float(bh[f])
            for c in range(2):
                for a in range(3):
                    for bb in range(2):
                        if 0 <= i + a - 1 < 4 and 0 <= j + bb - 1 < 3:
                            acc += float(xh[0, c, i + a - 1, j + bb - 1]) * float(wh[f, c, a, bb])
            assert abs(float(got[0, f, i, j]) - acc) < 1e-10, f"hidden: loop reference at {(0, f, i, j)}"
for args, kwargs in [((xh[0], wh, bh), {}), ((xh, wh[:, :1], bh), {}), ((xh, wh, bh), {"stride": 2}),
                     ((xh, rng_h.standard_normal((2, 2, 7, 2)), bh), {"pad": 1})]:
    try:
        conv_forward_naive(*args, **kwargs)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: conv_forward_naive must raise ValueError for bad arguments")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. Its gradients
#
# Given `dout` $= \partial L / \partial Y$, equations **(2.4)**–**(2.7)** of the book give
#
# $$ \frac{\partial L}{\partial b(c_{out})} = \sum_{n, h, w} \mathrm{dY}(n, c_{out}, h, w), \qquad
#    \frac{\partial L}{\partial W(c_{out}, c_{in}, k_h, k_w)} = \sum_{n, h, w}
#    \mathrm{dY}(n, c_{out}, h, w)\, X_{pad}(n, c_{in}, h s + k_h, w s + k_w), $$
#
# and every output position sends $\mathrm{dY}(n, c_{out}, h, w)\, W(c_{out}, \cdot, \cdot, \cdot)$
# back into the window of $\nabla X_{pad}$ it came from (windows overlap: **add**, do not
# overwrite). Finally cut the padding off: $\nabla X = \nabla X_{pad}$ without its `p` border
# rows and columns, (2.7). Use the same four loops as the forward pass. Return
# `(dx, dw, db)` with the shapes of `x`, `w` and `b`. Raise `ValueError` if `dout` does not have
# the output's shape.

# %% [solution] id=conv_pool_conv_naive_backward
def conv_backward_naive(dout, cache):
    """Gradients of conv_forward_naive, equations (2.4)-(2.7).

    dout: (N, C_out, H_out, W_out); cache from conv_forward_naive
    Returns dx: (N, C_in, H, W), dw: (C_out, C_in, K_h, K_w), db: (C_out,).
    """
    ### BEGIN SOLUTION
    x, w, b, stride, pad = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    H_out, W_out = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    dout = np.asarray(dout)
    if dout.shape != (N, F, H_out, W_out):
        raise ValueError(f"dout has shape {dout.shape}, expected {(N, F, H_out, W_out)}")
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dw[f] += g * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += g * w[f]
                    db[f] += g
    dx = dx_pad[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
    ### END SOLUTION

# %% [tests] id=conv_pool_conv_naive_backward_test points=3 needs=conv_pool_output_size,conv_pool_conv_naive_forward,conv_pool_conv_naive_backward
rng = np.random.default_rng(1)
for (N, C, H, W, F, KH, KW, s, p) in [(2, 2, 5, 5, 3, 3, 3, 1, 1), (1, 2, 7, 5, 2, 3, 3, 2, 1), (2, 1, 4, 7, 2, 2, 3, 2, 2)]:
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
    out, cache = conv_forward_naive(x, w, b, stride=s, pad=p)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_naive(dout, cache)
    check_array(dx, "dx", shape=x.shape, dtype=np.float64)
    check_array(dw, "dw", shape=w.shape, dtype=np.float64)
    check_array(db, "db", shape=b.shape, dtype=np.float64)
    tdx, tdw, tdb = tf_conv_grads(x, w, b, dout, s, p)
    what = f"x {x.shape}, w {w.shape}, stride {s}, pad {p}"
    assert_close(dx, tdx, f"dx vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    assert_close(dw, tdw, f"dw vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    assert_close(db, tdb, f"db vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    for name, grad, num in [
            ("dx", dx, numerical_gradient(lambda v: conv_forward_naive(v, w, b, s, p)[0], x, dout)),
            ("dw", dw, numerical_gradient(lambda v: conv_forward_naive(x, v, b, s, p)[0], w, dout)),
            ("db", db, numerical_gradient(lambda v: conv_forward_naive(x, w, v, s, p)[0], b, dout))]:
        err = rel_error(grad, num)
        assert err < 1e-6, f"{name} vs numerical gradient: relative error {err:.2e} ({what})"
expect_value_error(conv_backward_naive, dout[:, :1], cache, word="shape")
passed("conv_backward_naive matches tf.GradientTape and the numerical gradient")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(77)
for case in [(2, 3, 6, 5, 2, 3, 2, 1, 1), (1, 2, 7, 7, 3, 3, 3, 2, 0), (2, 1, 3, 3, 2, 3, 3, 1, 2)]:
    N_, C_, H_, W_, F_, KH_, KW_, s_, p_ = case
    xh, wh, bh = rng_h.standard_normal((N_, C_, H_, W_)), rng_h.standard_normal((F_, C_, KH_, KW_)), rng_h.standard_normal(F_)
    outh, cacheh = conv_forward_naive(xh, wh, bh, stride=s_, pad=p_)
    douth = rng_h.standard_normal(outh.shape)
    got = conv_backward_naive(douth, cacheh)
    xt, wt, bt = tf.Variable(xh), tf.Variable(wh), tf.Variable(bh)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(tf.transpose(xt, (0, 2, 3, 1)), tf.transpose(wt, (2, 3, 1, 0)), strides=s_,
                         padding=[[0, 0], [p_, p_], [p_, p_], [0, 0]])
        loss = tf.reduce_sum((tf.transpose(y, (0, 3, 1, 2)) + tf.reshape(bt, (1, -1, 1, 1))) * douth)
    refs = [g.numpy() for g in tape.gradient(loss, [xt, wt, bt])]
    assert len(got) == 3, "hidden: conv_backward_naive returns (dx, dw, db)"
    for name, g, r in zip(("dx", "dw", "db"), got, refs):
        assert type(g) is np.ndarray, f"hidden: {name} must be a numpy.ndarray"
        assert g.shape == r.shape and g.dtype == np.float64, f"hidden: {name} shape/dtype for case {case}"
        assert float((g - r).__abs__().max()) < 1e-9, f"hidden: {name} vs tf.GradientTape for case {case}"
    # central differences on a few entries (the forward pass is linear in x, w and b)
    for arr, grad, idx in [(xh, got[0], (0, 0, 1, 1)), (xh, got[0], (N_ - 1, C_ - 1, H_ - 1, 0)),
                           (wh, got[1], (F_ - 1, 0, KH_ - 1, KW_ - 1)), (bh, got[2], (F_ - 1,))]:
        old = float(arr[idx])
        arr[idx] = old + 1e-5
        plus = conv_forward_naive(xh, wh, bh, stride=s_, pad=p_)[0]
        arr[idx] = old - 1e-5
        minus = conv_forward_naive(xh, wh, bh, stride=s_, pad=p_)[0]
        arr[idx] = old
        num = float(((plus - minus) * douth).sum()) / 2e-5
        assert abs(num - float(grad[idx])) <= 1e-6 * max(1.0, abs(num)), f"hidden: numerical gradient at {idx}, case {case}"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Max-pooling
#
# Max-pooling with a `pool × pool` window and stride `s` (no padding) keeps the largest value
# of each window, equation **(2.8)**; the output size is (2.2) with $K$ = `pool` and $p = 0$
# (use your `conv_output_size`, so that the same errors are raised):
#
# $$ Y(n, c, h, w) = \max_{0 \le a, b < P} X(n, c, h s + a, w s + b). $$
#
# Remember *where* the maximum was — its position $(a^*, b^*)$ inside the window, the first
# one in row-major order if several values tie (as `np.argmax` and TensorFlow do) — because
# the backward pass needs it. Loop over the output positions `(h, w)` and handle all images
# and channels at once. Raise `ValueError` (message containing `rank`) if `x` is not 4-D.

# %% [solution] id=conv_pool_max_pool_forward
def max_pool_forward(x, pool=2, stride=2):
    """Max-pooling, equation (2.8).

    x: (N, C, H, W) -> out: (N, C, H_out, W_out), H_out = (H - pool) / stride + 1.
    Returns out and a cache for max_pool_backward (keep the arg-max positions in it).
    """
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have rank 4 (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    H_out = conv_output_size(H, pool, stride, 0)
    W_out = conv_output_size(W, pool, stride, 0)
    out = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    argmax = np.empty((N, C, H_out, W_out), dtype=np.intp)  # a* * pool + b* inside the window
    for i in range(H_out):
        for j in range(W_out):
            window = x[:, :, i * stride:i * stride + pool, j * stride:j * stride + pool].reshape(N, C, pool * pool)
            k = window.argmax(axis=2)
            argmax[:, :, i, j] = k
            out[:, :, i, j] = np.take_along_axis(window, k[:, :, None], axis=2)[:, :, 0]
    return out, (x.shape, pool, stride, argmax)
    ### END SOLUTION

# %% [tests] id=conv_pool_max_pool_forward_test points=2 needs=conv_pool_output_size,conv_pool_max_pool_forward
x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 1, 1], [7, 1, 3, 9]], dtype=np.float64).reshape(1, 1, 4, 4)
out, cache = max_pool_forward(x)
check_array(out, "max_pool_forward(4×4)", shape=(1, 1, 2, 2), dtype=np.float64)
assert_equal(out[0, 0], [[5, 8], [7, 9]], "2×2 max-pool of the 4×4 example")
rng = np.random.default_rng(2)
for shape, pool, stride in [((2, 3, 4, 6), 2, 2), ((1, 2, 5, 5), 3, 1), ((2, 1, 7, 5), 3, 2), ((1, 2, 6, 3), 2, 1)]:
    x = rng.standard_normal(shape)
    out, cache = max_pool_forward(x, pool=pool, stride=stride)
    assert_equal(out, tf_max_pool(x, pool, stride), f"max_pool_forward(x {shape}, pool {pool}, stride {stride})")
expect_value_error(max_pool_forward, x[0], word="rank")
expect_value_error(max_pool_forward, np.zeros((1, 1, 5, 4)), 2, 2, word="integer")
expect_value_error(max_pool_forward, np.zeros((1, 1, 2, 2)), 3, 1, word="larger")
passed("max_pool_forward matches tf.nn.max_pool2d")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(11)
for shape, pool, stride in [((2, 3, 6, 4), 2, 2), ((1, 2, 5, 4), 3, 1), ((3, 2, 7, 5), 3, 2), ((2, 1, 3, 3), 2, 1),
                            ((1, 1, 4, 4), 4, 1)]:
    xh = rng_h.standard_normal(shape)
    got, _ = max_pool_forward(xh, pool=pool, stride=stride)
    ref = tf.nn.max_pool2d(tf.constant(xh.transpose(0, 2, 3, 1)), ksize=pool, strides=stride,
                           padding="VALID").numpy().transpose(0, 3, 1, 2)
    assert type(got) is np.ndarray, "hidden: max_pool_forward must return a numpy.ndarray"
    assert got.shape == ref.shape and got.dtype == np.float64, f"hidden: shape/dtype for {shape}, {pool}, {stride}"
    assert float((got - ref).__abs__().max()) == 0.0, f"hidden: values for {shape}, pool {pool}, stride {stride}"
    n_, c_, i_, j_ = shape[0] - 1, shape[1] - 1, got.shape[2] - 1, got.shape[3] - 1
    window = [float(xh[n_, c_, i_ * stride + a, j_ * stride + bb]) for a in range(pool) for bb in range(pool)]
    assert float(got[n_, c_, i_, j_]) == max(window), "hidden: last window, plain-Python maximum"
for bad in [(np.zeros((2, 4, 4)), 2, 2), (np.zeros((1, 1, 4, 5)), 2, 2), (np.zeros((1, 1, 3, 3)), 4, 1)]:
    try:
        max_pool_forward(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: max_pool_forward must raise ValueError for bad arguments")
### END HIDDEN TESTS

# %% [markdown]
# The backward pass, equation **(2.9)**, sends each `dout[n, c, h, w]` to the single input
# pixel that won the maximum of its window, $X(n, c, h s + a^*, w s + b^*)$; every other pixel
# of the window gets nothing. When windows overlap (`stride < pool`) a pixel can win several
# windows: **add** the gradients.

# %% [solution] id=conv_pool_max_pool_backward
def max_pool_backward(dout, cache):
    """Gradient of max_pool_forward, equation (2.9): dout (N, C, H_out, W_out) -> dx (N, C, H, W)."""
    ### BEGIN SOLUTION
    x_shape, pool, stride, argmax = cache
    dout = np.asarray(dout)
    if dout.shape != argmax.shape:
        raise ValueError(f"dout has shape {dout.shape}, expected {argmax.shape}")
    N, C, H_out, W_out = dout.shape
    dx = np.zeros(x_shape, dtype=dout.dtype)
    n_idx, c_idx = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
    rows, cols = np.divmod(argmax, pool)
    for i in range(H_out):
        for j in range(W_out):
            # one winner per (n, c) in a given window, so plain += is safe here
            dx[n_idx, c_idx, i * stride + rows[:, :, i, j], j * stride + cols[:, :, i, j]] += dout[:, :, i, j]
    return dx
    ### END SOLUTION

# %% [tests] id=conv_pool_max_pool_backward_test points=2 needs=conv_pool_output_size,conv_pool_max_pool_forward,conv_pool_max_pool_backward
x = np.array([[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 1, 1], [7, 1, 3, 9]], dtype=np.float64).reshape(1, 1, 4, 4)
out, cache = max_pool_forward(x)
dx = max_pool_backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]), cache)
check_array(dx, "max_pool_backward(4×4 example)", shape=(1, 1, 4, 4), dtype=np.float64)
assert_equal(dx[0, 0], [[0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 0], [30, 0, 0, 40]], "gradient goes to the maxima")
out, cache = max_pool_forward(np.zeros((1, 1, 2, 2)))
assert_equal(max_pool_backward(np.ones((1, 1, 1, 1)), cache)[0, 0], [[1, 0], [0, 0]], "a tie goes to the first maximum")
rng = np.random.default_rng(3)
for shape, pool, stride in [((2, 3, 4, 6), 2, 2), ((1, 2, 5, 5), 3, 1), ((2, 1, 7, 5), 3, 2)]:
    x = rng.standard_normal(shape)
    out, cache = max_pool_forward(x, pool=pool, stride=stride)
    dout = rng.standard_normal(out.shape)
    dx = max_pool_backward(dout, cache)
    what = f"x {shape}, pool {pool}, stride {stride}"
    assert_close(dx, tf_max_pool_grad(x, dout, pool, stride), f"dx vs tf.GradientTape ({what})", rtol=1e-12, atol=1e-12)
    err = rel_error(dx, numerical_gradient(lambda v: max_pool_forward(v, pool, stride)[0], x, dout))
    assert err < 1e-6, f"dx vs numerical gradient: relative error {err:.2e} ({what})"
passed("max_pool_backward matches tf.GradientTape and the numerical gradient")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(12)
for shape, pool, stride in [((2, 3, 6, 4), 2, 2), ((1, 2, 5, 4), 3, 1), ((3, 2, 7, 5), 3, 2), ((2, 2, 4, 4), 2, 1)]:
    xh = rng_h.standard_normal(shape)
    if shape == (2, 2, 4, 4):
        xh = (xh > 0.3) * 1.0   # many ties: TensorFlow routes to the first maximum
    outh, cacheh = max_pool_forward(xh, pool=pool, stride=stride)
    douth = rng_h.standard_normal(outh.shape)
    got = max_pool_backward(douth, cacheh)
    xt = tf.Variable(xh)
    with tf.GradientTape() as tape:
        y = tf.nn.max_pool2d(tf.transpose(xt, (0, 2, 3, 1)), ksize=pool, strides=stride, padding="VALID")
        loss = tf.reduce_sum(tf.transpose(y, (0, 3, 1, 2)) * douth)
    ref = tape.gradient(loss, xt).numpy()
    assert type(got) is np.ndarray, "hidden: max_pool_backward must return a numpy.ndarray"
    assert got.shape == xh.shape and got.dtype == np.float64, f"hidden: dx shape/dtype for {shape}"
    assert float((got - ref).__abs__().max()) < 1e-12, f"hidden: dx vs tf.GradientTape for {shape}, pool {pool}, stride {stride}"
    assert abs(float(got.sum()) - float(douth.sum())) < 1e-9, "hidden: max-pooling routes every gradient somewhere"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. im2col and col2im
#
# The loops above call NumPy once per output pixel and are very slow. *im2col* copies every
# receptive field (a `C_in × K_h × K_w` patch of the padded input) into one **column** of a
# matrix, equation **(2.10)**:
#
# $$ \mathrm{cols}\big((c_{in} K_h + k_h) K_w + k_w,\; (n H_{out} + h) W_{out} + w\big)
#    = X_{pad}(n, c_{in}, h s + k_h, w s + k_w), $$
#
# so `cols` has shape `(C_in·K_h·K_w, N·H_out·W_out)`: rows ordered like `w[c_out].ravel()`,
# columns ordered image by image, row by row. *col2im* is its adjoint: it takes a matrix of
# that shape and **adds** every entry back to the pixel it was copied from (pixels covered by
# several windows collect several contributions), then cuts off the padding.
#
# Make both fast: no Python loop over output pixels. Two good ways are a loop over the
# `K_h × K_w` kernel offsets (each step copies one strided slice of the padded input for all
# windows at once) or `np.lib.stride_tricks.sliding_window_view`. Raise `ValueError` (message
# containing `rank`) for a non-4-D `x` and use `conv_output_size` for the sizes. `col2im`
# raises `ValueError` if `cols` does not have the shape im2col would give for `x_shape`.

# %% [solution] id=conv_pool_im2col
def im2col(x, kh, kw, stride=1, pad=0):
    """Equation (2.10): x (N, C, H, W) -> cols (C*kh*kw, N*H_out*W_out)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have rank 4 (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    H_out = conv_output_size(H, kh, stride, pad)
    W_out = conv_output_size(W, kw, stride, pad)
    # channels first, (C, N, H_pad, W_pad), so that every copy below moves whole rows
    x_pad = np.pad(x.transpose(1, 0, 2, 3), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((C, kh, kw, N, H_out, W_out), dtype=x.dtype)
    for a in range(kh):            # one strided slice per kernel offset (a, b) covers all windows
        for b in range(kw):
            cols[:, a, b] = x_pad[:, :, a:a + stride * H_out:stride, b:b + stride * W_out:stride]
    return cols.reshape(C * kh * kw, N * H_out * W_out)
    ### END SOLUTION


def col2im(cols, x_shape, kh, kw, stride=1, pad=0):
    """Adjoint of im2col: cols (C*kh*kw, N*H_out*W_out) -> (N, C, H, W), overlapping entries added."""
    ### BEGIN SOLUTION
    N, C, H, W = x_shape
    H_out = conv_output_size(H, kh, stride, pad)
    W_out = conv_output_size(W, kw, stride, pad)
    cols = np.asarray(cols)
    if cols.shape != (C * kh * kw, N * H_out * W_out):
        raise ValueError(f"cols has shape {cols.shape}, expected {(C * kh * kw, N * H_out * W_out)} for x {tuple(x_shape)}")
    cols6 = cols.reshape(C, kh, kw, N, H_out, W_out)
    dx_pad = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=cols.dtype)   # channels first, as in im2col
    for a in range(kh):
        for b in range(kw):
            dx_pad[:, :, a:a + stride * H_out:stride, b:b + stride * W_out:stride] += cols6[:, a, b]
    return np.ascontiguousarray(dx_pad[:, :, pad:pad + H, pad:pad + W].transpose(1, 0, 2, 3))
    ### END SOLUTION

# %% [tests] id=conv_pool_im2col_test points=3 needs=conv_pool_output_size,conv_pool_im2col
x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
cols = im2col(x, 2, 2)
check_array(cols, "im2col(3×3 image, 2×2 windows)", shape=(4, 4), dtype=np.float64)
assert_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]], "each column is one 2×2 window")
coverage = col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)
check_array(coverage, "col2im(ones)", shape=(1, 1, 3, 3), dtype=np.float64)
assert_equal(coverage[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]], "col2im(ones) counts the windows covering each pixel")
rng = np.random.default_rng(4)
for (N, C, H, W, KH, KW, s, p) in [(2, 3, 5, 5, 3, 3, 1, 1), (1, 2, 7, 5, 3, 3, 2, 1), (2, 2, 4, 7, 2, 3, 2, 2)]:
    x = rng.standard_normal((N, C, H, W))
    what = f"x {x.shape}, kernel {KH}×{KW}, stride {s}, pad {p}"
    cols = im2col(x, KH, KW, s, p)
    H_out, W_out = conv_output_size(H, KH, s, p), conv_output_size(W, KW, s, p)
    check_array(cols, f"im2col ({what})", shape=(C * KH * KW, N * H_out * W_out))
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    for _ in range(25):   # spot checks of equation (2.10)
        n, c, i, j, a, bb = (int(rng.integers(k)) for k in (N, C, H_out, W_out, KH, KW))
        row, col = (c * KH + a) * KW + bb, (n * H_out + i) * W_out + j
        assert cols[row, col] == x_pad[n, c, i * s + a, j * s + bb], \
            f"im2col ({what}): cols[{row}, {col}] should be x_pad[{n}, {c}, {i * s + a}, {j * s + bb}]"
    g = rng.standard_normal(cols.shape)   # adjoint test: <im2col(x), g> == <x, col2im(g)>
    back = col2im(g, x.shape, KH, KW, s, p)
    check_array(back, f"col2im ({what})", shape=x.shape)
    assert abs(np.sum(cols * g) - np.sum(x * back)) < 1e-9 * np.abs(cols * g).sum(), f"col2im is not the adjoint of im2col ({what})"
expect_value_error(im2col, x[0], 3, 3, word="rank")
expect_value_error(im2col, x, 3, 3, 2, 0, word="integer")
passed("im2col and col2im")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(13)
for case in [(2, 3, 5, 4, 3, 3, 1, 1), (1, 2, 7, 7, 3, 3, 2, 0), (2, 1, 6, 5, 2, 3, 2, 2), (1, 3, 4, 4, 1, 1, 1, 0)]:
    N_, C_, H_, W_, KH_, KW_, s_, p_ = case
    xh = rng_h.standard_normal((N_, C_, H_, W_))
    H_o, W_o = (H_ + 2 * p_ - KH_) // s_ + 1, (W_ + 2 * p_ - KW_) // s_ + 1
    xt = tf.Variable(xh)
    with tf.GradientTape() as tape:
        xpad = tf.pad(tf.transpose(xt, (0, 2, 3, 1)), [[0, 0], [p_, p_], [p_, p_], [0, 0]])
        patches = tf.image.extract_patches(xpad, sizes=[1, KH_, KW_, 1], strides=[1, s_, s_, 1],
                                           rates=[1, 1, 1, 1], padding="VALID")   # (N, H_out, W_out, KH*KW*C)
        ref_t = tf.reshape(tf.transpose(tf.reshape(patches, (N_, H_o, W_o, KH_, KW_, C_)), (5, 3, 4, 0, 1, 2)),
                           (C_ * KH_ * KW_, N_ * H_o * W_o))
        gh = rng_h.standard_normal((C_ * KH_ * KW_, N_ * H_o * W_o))
        loss = tf.reduce_sum(ref_t * gh)
    ref_col2im = tape.gradient(loss, xt).numpy()
    ref = ref_t.numpy()
    got = im2col(xh, KH_, KW_, s_, p_)
    assert type(got) is np.ndarray, "hidden: im2col must return a numpy.ndarray"
    assert got.shape == ref.shape and got.dtype == np.float64, f"hidden: im2col shape/dtype for case {case}"
    assert float((got - ref).__abs__().max()) == 0.0, f"hidden: im2col values for case {case}"
    got = col2im(gh, xh.shape, KH_, KW_, s_, p_)
    assert type(got) is np.ndarray, "hidden: col2im must return a numpy.ndarray"
    assert got.shape == xh.shape and got.dtype == np.float64, f"hidden: col2im shape/dtype for case {case}"
    assert float((got - ref_col2im).__abs__().max()) < 1e-12, f"hidden: col2im values for case {case}"
# plain-Python check of one entry of equation (2.10)
xh = rng_h.standard_normal((2, 2, 5, 4))
got = im2col(xh, 3, 2, 1, 1)
n_, c_, i_, j_, a_, b_ = 1, 1, 2, 3, 2, 0
assert float(got[(c_ * 3 + a_) * 2 + b_, (n_ * 5 + i_) * 5 + j_]) == float(xh[n_, c_, i_ + a_ - 1, j_ + b_ - 1]), \
    "hidden: im2col entry of equation (2.10)"
for bad in [(np.zeros((2, 4, 4)), 2, 2), (np.zeros((1, 1, 4, 5)), 2, 2, 2, 0)]:
    try:
        im2col(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: im2col must raise ValueError for bad arguments")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Convolution as one matrix product
#
# With `cols = im2col(x_pad)` the whole convolution is equation **(2.11)**:
#
# $$ Y_{mat} = W_{mat}\, \mathrm{cols} + b\,\mathbf{1}^\top, \qquad
#    W_{mat} = W \text{ reshaped to } (C_{out},\, C_{in} K_h K_w), $$
#
# a `(C_out, N·H_out·W_out)` matrix whose column `(n H_out + h) W_out + w` holds
# $Y(n, \cdot, h, w)$. Reshape and transpose it to `(N, C_out, H_out, W_out)` (return a
# C-contiguous array). Keep `cols` in the cache: the backward pass needs it. Call
# `check_conv_args` first.

# %% [solution] id=conv_pool_conv_im2col_forward
def conv_forward_im2col(x, w, b, stride=1, pad=0):
    """Convolution as one matrix product, equation (2.11).

    x: (N, C_in, H, W), w: (C_out, C_in, K_h, K_w), b: (C_out,)
    Returns out: (N, C_out, H_out, W_out) and a cache for conv_backward_im2col.
    """
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    H_out, W_out = check_conv_args(x, w, b, stride, pad)
    N = x.shape[0]
    F, _, KH, KW = w.shape
    cols = im2col(x, KH, KW, stride, pad)
    out = w.reshape(F, -1) @ cols + b.reshape(F, 1)
    out = np.ascontiguousarray(out.reshape(F, N, H_out, W_out).transpose(1, 0, 2, 3))
    return out, (x.shape, w, b, stride, pad, cols)
    ### END SOLUTION

# %% [tests] id=conv_pool_conv_im2col_forward_test points=2 needs=conv_pool_output_size,conv_pool_im2col,conv_pool_conv_im2col_forward
rng = np.random.default_rng(5)
for (N, C, H, W, F, KH, KW, s, p) in [(2, 3, 5, 5, 4, 3, 3, 1, 1), (1, 2, 7, 5, 3, 3, 3, 2, 1),
                                      (2, 1, 6, 4, 2, 2, 2, 2, 0), (1, 2, 3, 4, 2, 3, 2, 1, 2)]:
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
    out, cache = conv_forward_im2col(x, w, b, stride=s, pad=p)
    what = f"x {x.shape}, w {w.shape}, stride {s}, pad {p}"
    check_array(out, f"conv_forward_im2col ({what})", dtype=np.float64)
    assert out.flags.c_contiguous, "return a C-contiguous array (np.ascontiguousarray)"
    assert_close(out, tf_conv(x, w, b, s, p), f"conv_forward_im2col ({what})", rtol=1e-10, atol=1e-10)
expect_value_error(conv_forward_im2col, x[0], w, b, word="rank")
expect_value_error(conv_forward_im2col, x, w[:, :1], b, word="channel")
expect_value_error(conv_forward_im2col, x, w, b, stride=3, pad=2, word="integer")
passed("conv_forward_im2col matches tf.nn.conv2d")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(14)
for case in [(2, 3, 7, 5, 4, 3, 3, 2, 1), (1, 2, 6, 6, 3, 2, 2, 2, 0), (3, 1, 5, 4, 2, 1, 1, 1, 0),
             (1, 2, 4, 3, 2, 3, 2, 1, 2), (2, 4, 9, 6, 3, 3, 3, 3, 0)]:
    N_, C_, H_, W_, F_, KH_, KW_, s_, p_ = case
    xh, wh, bh = rng_h.standard_normal((N_, C_, H_, W_)), rng_h.standard_normal((F_, C_, KH_, KW_)), rng_h.standard_normal(F_)
    got, _ = conv_forward_im2col(xh, wh, bh, stride=s_, pad=p_)
    ref = tf.nn.conv2d(tf.constant(xh.transpose(0, 2, 3, 1)), tf.constant(wh.transpose(2, 3, 1, 0)), strides=s_,
                       padding=[[0, 0], [p_, p_], [p_, p_], [0, 0]]).numpy().transpose(0, 3, 1, 2) + bh.reshape(1, -1, 1, 1)
    assert type(got) is np.ndarray, "hidden: conv_forward_im2col must return a numpy.ndarray"
    assert got.shape == ref.shape and got.dtype == np.float64, f"hidden: shape/dtype for case {case}"
    assert float((got - ref).__abs__().max()) < 1e-10, f"hidden: values for case {case}"
xh, wh, bh = rng_h.standard_normal((2, 2, 4, 3)), rng_h.standard_normal((2, 2, 3, 2)), rng_h.standard_normal(2)
got, _ = conv_forward_im2col(xh, wh, bh, stride=1, pad=1)
assert type(got) is np.ndarray and got.shape == (2, 2, 4, 4), "hidden: shape with pad 1, kernel 3×2"
for n in range(2):
    for f in range(2):
        for i in range(4):
            for j in range(4):
                acc = float(bh[f])
                for c in range(2):
                    for a in range(3):
                        for bb in range(2):
                            if 0 <= i + a - 1 < 4 and 0 <= j + bb - 1 < 3:
                                acc += float(xh[n, c, i + a - 1, j + bb - 1]) * float(wh[f, c, a, bb])
                assert abs(float(got[n, f, i, j]) - acc) < 1e-10, f"hidden: loop reference at {(n, f, i, j)}"
for args, kwargs in [((xh[0], wh, bh), {}), ((xh, wh[:, :1], bh), {}), ((xh, wh, bh), {"stride": 2})]:
    try:
        conv_forward_im2col(*args, **kwargs)
    except ValueError:
        pass
    else:
        raise AssertionError("hidden: conv_forward_im2col must raise ValueError for bad arguments")
### END HIDDEN TESTS

# %% [markdown]
# The backward pass is two more matrix products and one col2im, equation **(2.12)**:
#
# $$ \nabla W_{mat} = \mathrm{dY}_{mat}\, \mathrm{cols}^\top, \qquad
#    \nabla b = \mathrm{dY}_{mat}\, \mathbf{1}, \qquad
#    \nabla X = \mathrm{col2im}\big(W_{mat}^\top\, \mathrm{dY}_{mat}\big), $$
#
# where $\mathrm{dY}_{mat}$ is `dout` rearranged to the `(C_out, N·H_out·W_out)` layout of
# $Y_{mat}$. Raise `ValueError` if `dout` does not have the output's shape.

# %% [solution] id=conv_pool_conv_im2col_backward
def conv_backward_im2col(dout, cache):
    """Gradients of conv_forward_im2col, equation (2.12).

    dout: (N, C_out, H_out, W_out) -> dx: (N, C_in, H, W), dw: (C_out, C_in, K_h, K_w), db: (C_out,)
    """
    ### BEGIN SOLUTION
    x_shape, w, b, stride, pad, cols = cache
    F, _, KH, KW = w.shape
    N = x_shape[0]
    expected = (N, F, conv_output_size(x_shape[2], KH, stride, pad), conv_output_size(x_shape[3], KW, stride, pad))
    dout = np.asarray(dout)
    if dout.shape != expected:
        raise ValueError(f"dout has shape {dout.shape}, expected {expected}")
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(F, -1)
    db = dout_mat.sum(axis=1)
    dw = (dout_mat @ cols.T).reshape(w.shape)
    dx = col2im(w.reshape(F, -1).T @ dout_mat, x_shape, KH, KW, stride, pad)
    return dx, dw, db
    ### END SOLUTION

# %% [tests] id=conv_pool_conv_im2col_backward_test points=3 needs=conv_pool_output_size,conv_pool_im2col,conv_pool_conv_im2col_forward,conv_pool_conv_im2col_backward
rng = np.random.default_rng(6)
for (N, C, H, W, F, KH, KW, s, p) in [(2, 2, 5, 5, 3, 3, 3, 1, 1), (1, 2, 7, 5, 2, 3, 3, 2, 1), (2, 1, 4, 7, 2, 2, 3, 2, 2)]:
    x, w, b = rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, KH, KW)), rng.standard_normal(F)
    out, cache = conv_forward_im2col(x, w, b, stride=s, pad=p)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_im2col(dout, cache)
    check_array(dx, "dx", shape=x.shape, dtype=np.float64)
    check_array(dw, "dw", shape=w.shape, dtype=np.float64)
    check_array(db, "db", shape=b.shape, dtype=np.float64)
    tdx, tdw, tdb = tf_conv_grads(x, w, b, dout, s, p)
    what = f"x {x.shape}, w {w.shape}, stride {s}, pad {p}"
    assert_close(dx, tdx, f"dx vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    assert_close(dw, tdw, f"dw vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    assert_close(db, tdb, f"db vs tf.GradientTape ({what})", rtol=1e-9, atol=1e-9)
    for name, grad, num in [
            ("dx", dx, numerical_gradient(lambda v: conv_forward_im2col(v, w, b, s, p)[0], x, dout)),
            ("dw", dw, numerical_gradient(lambda v: conv_forward_im2col(x, v, b, s, p)[0], w, dout)),
            ("db", db, numerical_gradient(lambda v: conv_forward_im2col(x, w, v, s, p)[0], b, dout))]:
        err = rel_error(grad, num)
        assert err < 1e-6, f"{name} vs numerical gradient: relative error {err:.2e} ({what})"
expect_value_error(conv_backward_im2col, dout[:, :1], cache, word="shape")
passed("conv_backward_im2col matches tf.GradientTape and the numerical gradient")
### BEGIN HIDDEN TESTS
rng_h = np.random.default_rng(15)
for case in [(2, 3, 6, 5, 2, 3, 2, 1, 1), (1, 2, 7, 7, 3, 3, 3, 2, 0), (2, 1, 3, 3, 2, 3, 3, 1, 2), (2, 2, 8, 6, 2, 2, 2, 2, 0)]:
    N_, C_, H_, W_, F_, KH_, KW_, s_, p_ = case
    xh, wh, bh = rng_h.standard_normal((N_, C_, H_, W_)), rng_h.standard_normal((F_, C_, KH_, KW_)), rng_h.standard_normal(F_)
    outh, cacheh = conv_forward_im2col(xh, wh, bh, stride=s_, pad=p_)
    douth = rng_h.standard_normal(outh.shape)
    got = conv_backward_im2col(douth, cacheh)
    xt, wt, bt = tf.Variable(xh), tf.Variable(wh), tf.Variable(bh)
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d(tf.transpose(xt, (0, 2, 3, 1)), tf.transpose(wt, (2, 3, 1, 0)), strides=s_,
                         padding=[[0, 0], [p_, p_], [p_, p_], [0, 0]])
        loss = tf.reduce_sum((tf.transpose(y, (0, 3, 1, 2)) + tf.reshape(bt, (1, -1, 1, 1))) * douth)
    refs = [g.numpy() for g in tape.gradient(loss, [xt, wt, bt])]
    assert len(got) == 3, "hidden: conv_backward_im2col returns (dx, dw, db)"
    for name, g, r in zip(("dx", "dw", "db"), got, refs):
        assert type(g) is np.ndarray, f"hidden: {name} must be a numpy.ndarray"
        assert g.shape == r.shape and g.dtype == np.float64, f"hidden: {name} shape/dtype for case {case}"
        assert float((g - r).__abs__().max()) < 1e-9, f"hidden: {name} vs tf.GradientTape for case {case}"
    for arr, grad, idx in [(xh, got[0], (0, 0, 1, 1)), (xh, got[0], (N_ - 1, C_ - 1, H_ - 1, 0)),
                           (wh, got[1], (F_ - 1, 0, KH_ - 1, KW_ - 1)), (bh, got[2], (F_ - 1,))]:
        old = float(arr[idx])
        arr[idx] = old + 1e-5
        plus = conv_forward_im2col(xh, wh, bh, stride=s_, pad=p_)[0]
        arr[idx] = old - 1e-5
        minus = conv_forward_im2col(xh, wh, bh, stride=s_, pad=p_)[0]
        arr[idx] = old
        num = float(((plus - minus) * douth).sum()) / 2e-5
        assert abs(num - float(grad[idx])) <= 1e-6 * max(1.0, abs(num)), f"hidden: numerical gradient at {idx}, case {case}"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. How much faster?
#
# The cell below times your two convolutions on the same input (median of a few runs). The
# book chapter's speed section has the numbers for a VGG-sized layer (`bench/conv_pool.py`).
# Where does the time of the loop version go, and why does im2col win even though it copies
# the input `K_h·K_w` times?

# %% [demo]
from source_lib.timing import median_time, ratio_table

N, C, H, W, F = config.pick((2, 16, 24, 24, 16), (1, 4, 8, 8, 4))
rng = np.random.default_rng(7)
x = rng.standard_normal((N, C, H, W)).astype(np.float32)
w = rng.standard_normal((F, C, 3, 3)).astype(np.float32)
b = np.zeros(F, np.float32)
out, cache_naive = conv_forward_naive(x, w, b, 1, 1)
out, cache_fast = conv_forward_im2col(x, w, b, 1, 1)
dout = np.ones_like(out)
forward = {
    "loops": median_time(lambda: conv_forward_naive(x, w, b, 1, 1), repeat=3),
    "im2col": median_time(lambda: conv_forward_im2col(x, w, b, 1, 1), repeat=3),
}
backward = {
    "loops": median_time(lambda: conv_backward_naive(dout, cache_naive), repeat=3),
    "im2col": median_time(lambda: conv_backward_im2col(dout, cache_fast), repeat=3),
}
print(f"x {x.shape}, w {w.shape}, float32\n\nFORWARD")
print(ratio_table(forward, "loops"))
print("\nBACKWARD")
print(ratio_table(backward, "loops"))

# %% [markdown]
# ## 8. A tiny conv net on handwritten digits
#
# Time to use the layers. The network is
#
# `image (1×8×8) → conv 3×3, 8 filters, pad 1 → ReLU → max-pool 2×2 → fully connected → 10 scores → softmax cross-entropy`
#
# trained with SGD and momentum on scikit-learn's 8×8 digits (1,797 images, shipped with
# scikit-learn). The fully connected layer, ReLU and softmax cross-entropy, equations
# (2.13)–(2.15), are given below; the convolution and the pooling are **yours**. Expect a test
# accuracy above 90 % (while grading, the notebook only runs a few iterations).

# %% [demo]
def fc_forward(x, w, b):
    """Fully connected, equation (2.13): x (N, ...) flattened to (N, D), w (D, M), b (M,)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def fc_backward(dout, cache):
    x, w = cache
    x2 = x.reshape(x.shape[0], -1)
    return (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(axis=0)


def relu_forward(x):
    """ReLU, equation (2.14)."""
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_cross_entropy(scores, y):
    """Mean cross-entropy of softmax(scores) and labels y, and its gradient, equation (2.15)."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    loss = -log_p[np.arange(n), y].mean()
    dscores = np.exp(log_p)
    dscores[np.arange(n), y] -= 1
    return loss, dscores / n


class TinyConvNet:
    """conv 3×3 (pad 1) → ReLU → max-pool 2×2 → fully connected → scores, NCHW."""

    def __init__(self, in_channels=1, size=8, filters=8, classes=10, seed=0):
        rng = np.random.default_rng(seed)
        fan_fc = filters * (size // 2) ** 2
        self.params = {
            "w1": rng.standard_normal((filters, in_channels, 3, 3)) * np.sqrt(2 / (9 * in_channels)),
            "b1": np.zeros(filters),
            "w2": rng.standard_normal((fan_fc, classes)) * np.sqrt(1 / fan_fc),
            "b2": np.zeros(classes),
        }

    def scores(self, x):
        p = self.params
        h, c1 = conv_forward_im2col(x, p["w1"], p["b1"], stride=1, pad=1)
        h, c2 = relu_forward(h)
        h, c3 = max_pool_forward(h, pool=2, stride=2)
        s, c4 = fc_forward(h, p["w2"], p["b2"])
        return s, (c1, c2, c3, c4)

    def loss_and_grads(self, x, y):
        s, (c1, c2, c3, c4) = self.scores(x)
        loss, ds = softmax_cross_entropy(s, y)
        dh, dw2, db2 = fc_backward(ds, c4)
        dh = max_pool_backward(dh, c3)
        dh = relu_backward(dh, c2)
        _, dw1, db1 = conv_backward_im2col(dh, c1)
        return loss, {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2}

    def predict(self, x):
        return self.scores(x)[0].argmax(axis=1)

# %% [demo]
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits = load_digits()
images_all = (digits.images / 16.0).reshape(-1, 1, 8, 8)        # NCHW, values in [0, 1]
x_train, x_test, y_train, y_test = train_test_split(images_all, digits.target, test_size=0.25,
                                                    random_state=0, stratify=digits.target)
print("train", x_train.shape, "test", x_test.shape)

# A last check that the pieces fit together: the gradient of the whole network.
net = TinyConvNet(filters=2, seed=1)
xs, ys = x_train[:3], y_train[:3]
loss, grads = net.loss_and_grads(xs, ys)
num = numerical_gradient(lambda v: np.array(net.loss_and_grads(xs, ys)[0]), net.params["w1"])
print(f"whole-network gradient check, w1: relative error {rel_error(grads['w1'], num):.1e}")

# %% [demo]
config.seed_everything(0)
rng = np.random.default_rng(0)
net = TinyConvNet(filters=8)
velocity = {k: np.zeros_like(v) for k, v in net.params.items()}
iterations, batch, lr, momentum = config.pick(600, 20), 64, 0.1, 0.9
losses = []
bar = progress(range(iterations), desc="training")
for it in bar:
    idx = rng.choice(len(x_train), size=batch, replace=False)
    loss, grads = net.loss_and_grads(x_train[idx], y_train[idx])
    for k in net.params:
        velocity[k] = momentum * velocity[k] - lr * grads[k]
        net.params[k] += velocity[k]
    losses.append(loss)
    if it % 20 == 0:
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
bar.close()
train_acc = (net.predict(x_train) == y_train).mean()
test_acc = (net.predict(x_test) == y_test).mean()
print(f"train accuracy {train_acc:.1%}, test accuracy {test_acc:.1%} after {iterations} iterations")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
axes[0].plot(losses, lw=0.8, alpha=0.5, label="mini-batch")
k = min(20, len(losses))
axes[0].plot(np.arange(k - 1, len(losses)), np.convolve(losses, np.ones(k) / k, mode="valid"), label=f"mean of {k}")
axes[0].set_xlabel("iteration"); axes[0].set_ylabel("cross-entropy"); axes[0].set_title("training loss")
axes[0].legend()
filters = net.params["w1"][:, 0]
axes[1].imshow(np.hstack([np.pad(f / (np.abs(f).max() + 1e-12), 1) for f in filters]), cmap="RdBu_r", vmin=-1, vmax=1)
axes[1].set_title("learned 3×3 filters"); axes[1].axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Check yourself
#
# 1. A 224×224 image goes through a 7×7 convolution with stride 2 and padding 3. What does
#    (2.2) give, what does this notebook do, and what do TensorFlow and PyTorch do?
# 2. Why does $\nabla X_{pad}$ need `+=` in the loops of (2.6) while $Y$ in (2.3) can be
#    assigned with `=`? Which stride/kernel combinations make the windows overlap?
# 3. In max-pooling backward, what fraction of `dx` is non-zero for 2×2 windows with stride 2?
#    And with 3×3 windows and stride 1?
# 4. How many bytes does `cols` take for the VGG layer of the speed section (N = 2, 64
#    channels, 56×56, 3×3 kernel) in float32, compared with the input itself?
# 5. The weight layout `(C_out, C_in, K_h, K_w)` and TensorFlow's `(K_h, K_w, C_in, C_out)`:
#    which transpose turns one into the other, and why does the order of the rows of `cols`
#    have to match the order of `w.reshape(C_out, -1)`?
# 6. Which of your functions would still be correct if you replaced max-pooling by average
#    pooling, and what would change in the backward pass?
