"""source_lib.layers_tf: TensorFlow-backed layers with the chapter 2 interface (NCHW numpy)."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from source_lib import layers_tf as L  # noqa: E402
from source_lib.gradcheck import numerical_gradient, rel_error  # noqa: E402


def loop_conv(x, w, b, stride, pad):
    """Equation (2.3) of the book by plain loops: the reference for the forward pass."""
    n_, c_, h_, w_ = x.shape
    f_, _, kh, kw = w.shape
    xp = np.zeros((n_, c_, h_ + 2 * pad, w_ + 2 * pad))
    xp[:, :, pad:pad + h_, pad:pad + w_] = x
    ho, wo = (h_ + 2 * pad - kh) // stride + 1, (w_ + 2 * pad - kw) // stride + 1
    out = np.zeros((n_, f_, ho, wo))
    for n in range(n_):
        for f in range(f_):
            for i in range(ho):
                for j in range(wo):
                    patch = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, f, i, j] = (patch * w[f]).sum() + b[f]
    return out


def loop_pool(x, pool, stride):
    n_, c_, h_, w_ = x.shape
    ho, wo = (h_ - pool) // stride + 1, (w_ - pool) // stride + 1
    out = np.zeros((n_, c_, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + pool, j * stride:j * stride + pool].max(axis=(2, 3))
    return out


CONV_CASES = [  # (N, C_in, H, W, C_out, K_h, K_w, stride, pad)
    (2, 3, 5, 5, 4, 3, 3, 1, 1),
    (1, 2, 7, 5, 3, 3, 3, 2, 1),
    (2, 1, 6, 4, 2, 2, 2, 2, 0),
    (1, 2, 3, 4, 2, 3, 2, 1, 2),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_matches_loops(case):
    n, c, h, w_, f, kh, kw, s, p = case
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((n, c, h, w_)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f)
    out, _ = L.conv_forward(x, w, b, stride=s, pad=p)
    ref = loop_conv(x, w, b, s, p)
    assert out.dtype == np.float64 and out.shape == ref.shape and out.flags.c_contiguous
    assert np.abs(out - ref).max() < 1e-12


@pytest.mark.parametrize("case", CONV_CASES[:3])
def test_conv_backward_numerical(case):
    n, c, h, w_, f, kh, kw, s, p = case
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((n, c, h, w_)), rng.standard_normal((f, c, kh, kw)), rng.standard_normal(f)
    out, cache = L.conv_forward(x, w, b, stride=s, pad=p)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = L.conv_backward(dout, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    assert rel_error(dx, numerical_gradient(lambda v: L.conv_forward(v, w, b, s, p)[0], x, dout)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: L.conv_forward(x, v, b, s, p)[0], w, dout)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: L.conv_forward(x, w, v, s, p)[0], b, dout)) < 1e-6


@pytest.mark.parametrize("shape, pool, stride", [((2, 3, 4, 6), 2, 2), ((1, 2, 5, 5), 3, 1), ((2, 1, 7, 5), 3, 2)])
def test_max_pool_forward_backward(shape, pool, stride):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    out, cache = L.max_pool_forward(x, pool=pool, stride=stride)
    ref = loop_pool(x, pool, stride)
    assert out.shape == ref.shape and out.dtype == np.float64
    assert np.abs(out - ref).max() == 0
    dout = rng.standard_normal(out.shape)
    dx = L.max_pool_backward(dout, cache)
    num = numerical_gradient(lambda v: L.max_pool_forward(v, pool, stride)[0], x, dout)
    assert dx.shape == x.shape and rel_error(dx, num) < 1e-6


def test_max_pool_ties_go_to_first_maximum():
    x = np.zeros((1, 1, 2, 2))
    _, cache = L.max_pool_forward(x)
    dx = L.max_pool_backward(np.ones((1, 1, 1, 1)), cache)
    assert dx.ravel().tolist() == [1.0, 0.0, 0.0, 0.0]


def test_relu():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4))
    out, cache = L.relu_forward(x)
    assert np.array_equal(out, np.maximum(x, 0))
    dout = rng.standard_normal(x.shape)
    num = numerical_gradient(lambda v: L.relu_forward(v)[0], x, dout)
    assert rel_error(L.relu_backward(dout, cache), num) < 1e-6


def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out, cache = L.conv_forward(x, w, np.zeros(3, np.float32), pad=1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in L.conv_backward(np.ones_like(out), cache))
    assert L.max_pool_forward(out)[0].dtype == np.float32


X = np.zeros((1, 2, 5, 5))
W = np.zeros((3, 2, 3, 3))
B = np.zeros(3)


@pytest.mark.parametrize("args, kwargs, words", [
    ((np.zeros((2, 5, 5)), W, B), {}, "rank 4"),
    ((X, np.zeros((3, 2, 3)), B), {}, "rank 4"),
    ((X, np.zeros((3, 1, 3, 3)), B), {}, "input channels"),
    ((X, W, np.zeros(2)), {}, "one bias per output channel"),
    ((X, np.zeros((3, 2, 6, 3)), B), {}, "larger than the padded input"),
    ((X, np.zeros((3, 2, 8, 3)), B), {"pad": 1}, "larger than the padded input"),
    ((X, W, B), {"stride": 3}, "not an integer"),
    ((X, W, B), {"stride": 0}, "stride must be a positive integer"),
    ((X, W, B), {"pad": -1}, "pad must be a non-negative integer"),
    ((X, W, B), {"stride": 1.5}, "stride must be a positive integer"),
])
def test_conv_errors(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        L.conv_forward(*args, **kwargs)


def test_conv_non_integer_message_names_the_numbers():
    with pytest.raises(ValueError, match=r"\(5 \+ 2\*1 - 3\) = 4 is not divisible by stride 3"):
        L.conv_forward(X, W, B, stride=3, pad=1)


@pytest.mark.parametrize("x, pool, stride, words", [
    (np.zeros((4, 4)), 2, 2, "rank 4"),
    (np.zeros((1, 1, 2, 4)), 3, 1, "larger than the padded input along H"),
    (np.zeros((1, 1, 5, 4)), 2, 2, "along H is not an integer"),
    (np.zeros((1, 1, 4, 5)), 2, 2, "along W is not an integer"),
    (np.zeros((1, 1, 4, 4)), 0, 2, "pool must be a positive integer"),
])
def test_pool_errors(x, pool, stride, words):
    with pytest.raises(ValueError, match=words):
        L.max_pool_forward(x, pool=pool, stride=stride)


def test_backward_rejects_wrong_dout_shape():
    _, cache = L.conv_forward(X, W, B, pad=1)
    with pytest.raises(ValueError, match="dout has shape"):
        L.conv_backward(np.zeros((1, 3, 4, 4)), cache)
    _, cache = L.max_pool_forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="dout has shape"):
        L.max_pool_backward(np.zeros((1, 1, 3, 2)), cache)
