"""Convolution, max-pooling and ReLU layers computed by TensorFlow, with the students' interface.

(Defined in chapter 2, convolution and pooling.)

Chapter 2 has students write these layers in NumPy. Later chapters (style transfer,
VGG) need them too; a student who did not finish chapter 2 uses this module instead,
which has the same interface:

    out, cache = conv_forward(x, w, b, stride=1, pad=0)
    dx, dw, db = conv_backward(dout, cache)
    out, cache = max_pool_forward(x, pool=2, stride=2)
    dx = max_pool_backward(dout, cache)
    out, cache = relu_forward(x)
    dx = relu_backward(dout, cache)

Conventions (the same as the notebook and the book page):

- activations are NumPy arrays in NCHW layout, ``(N, C, H, W)``;
- convolution weights have shape ``(C_out, C_in, K_h, K_w)`` and the bias ``(C_out,)``;
- zero padding ``pad`` on every side, one ``stride`` for both axes;
- the output size ``(H + 2 pad - K) / stride + 1`` must be an integer: when
  ``H + 2 pad - K`` is not divisible by the stride a ``ValueError`` is raised (TensorFlow
  itself would silently drop the last rows); so are wrong ranks, mismatched channels and
  kernels larger than the padded input.

TensorFlow's CPU convolution only supports NHWC, so the arrays are transposed on the way
in and out; weights become TensorFlow's ``(K_h, K_w, C_in, C_out)``. The backward pass
calls ``conv2d_backprop_input`` and ``conv2d_backprop_filter`` directly. Outputs keep
the input's floating dtype (integer inputs become float64).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward",
           "relu_forward", "relu_backward"]


def _positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive" if minimum == 1 else "a non-negative"
        raise ValueError(f"{name} must be {kind} integer, got {value!r}")
    return int(value)


def _out_size(size: int, kernel: int, stride: int, pad: int, axis: str) -> int:
    padded = size + 2 * pad
    if kernel > padded:
        raise ValueError(f"kernel {kernel} is larger than the padded input along {axis}: "
                         f"{size} + 2*{pad} = {padded}")
    steps, rest = divmod(padded - kernel, stride)
    if rest:
        raise ValueError(f"output size along {axis} is not an integer: ({size} + 2*{pad} - {kernel}) "
                         f"= {padded - kernel} is not divisible by stride {stride}")
    return steps + 1


def _float_array(a, name: str, dtype=None) -> np.ndarray:
    a = np.asarray(a)
    if dtype is None:
        dtype = a.dtype if a.dtype.kind == "f" else np.float64
    return a.astype(dtype, copy=False)


def _rank4(a: np.ndarray, name: str, layout: str) -> None:
    if a.ndim != 4:
        raise ValueError(f"{name} must have rank 4 {layout}, got shape {a.shape}")


def _nhwc(a: np.ndarray) -> tf.Tensor:
    return tf.constant(a.transpose(0, 2, 3, 1))


def _nchw(t: tf.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.numpy().transpose(0, 3, 1, 2))


def _check_conv(x, w, b, stride, pad):
    """Validate convolution arguments; return float arrays and (H_out, W_out)."""
    x = _float_array(x, "x")
    _rank4(x, "x", "(N, C_in, H, W)")
    w = _float_array(w, "w")
    _rank4(w, "w", "(C_out, C_in, K_h, K_w)")
    dtype = np.result_type(x.dtype, w.dtype)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    b = _float_array(b, "b", dtype)
    if b.shape != (w.shape[0],):
        raise ValueError(f"b must have shape ({w.shape[0]},), one bias per output channel, got {b.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} input channels but w expects {w.shape[1]} "
                         f"(w is (C_out, C_in, K_h, K_w) = {w.shape})")
    stride = _positive_int(stride, "stride")
    pad = _positive_int(pad, "pad", minimum=0)
    h_out = _out_size(x.shape[2], w.shape[2], stride, pad, "H")
    w_out = _out_size(x.shape[3], w.shape[3], stride, pad, "W")
    return x, w, b, stride, pad, (h_out, w_out)


def _check_dout(dout, shape, dtype, layer: str) -> np.ndarray:
    dout = np.asarray(dout).astype(dtype, copy=False)
    if dout.shape != tuple(shape):
        raise ValueError(f"{layer}: dout has shape {dout.shape}, expected the output shape {tuple(shape)}")
    return dout


def conv_forward(x, w, b, stride: int = 1, pad: int = 0):
    """Convolution with tf.nn.conv2d.

    x: (N, C_in, H, W), w: (C_out, C_in, K_h, K_w), b: (C_out,)
    Returns out: (N, C_out, H_out, W_out) and a cache for `conv_backward`.
    """
    x, w, b, stride, pad, (h_out, w_out) = _check_conv(x, w, b, stride, pad)
    y = tf.nn.conv2d(_nhwc(x), tf.constant(w.transpose(2, 3, 1, 0)), strides=stride,
                     padding=[[0, 0], [pad, pad], [pad, pad], [0, 0]])
    out = _nchw(y) + b.reshape(1, -1, 1, 1)
    assert out.shape == (x.shape[0], w.shape[0], h_out, w_out)
    return out, (x, w, b, stride, pad)


def conv_backward(dout, cache):
    """Gradients of a convolution: dout (N, C_out, H_out, W_out) -> (dx, dw, db)."""
    x, w, b, stride, pad = cache
    n, _, h, wid = x.shape
    f, _, kh, kw = w.shape
    out_shape = (n, f, (h + 2 * pad - kh) // stride + 1, (wid + 2 * pad - kw) // stride + 1)
    dout = _check_dout(dout, out_shape, x.dtype, "conv_backward")
    g = _nhwc(dout)
    strides = [1, stride, stride, 1]
    padding = [[0, 0], [pad, pad], [pad, pad], [0, 0]]
    w_hwio = w.transpose(2, 3, 1, 0)
    dx = tf.compat.v1.nn.conv2d_backprop_input(
        input_sizes=[n, h, wid, x.shape[1]], filter=tf.constant(w_hwio), out_backprop=g,
        strides=strides, padding=padding)
    dw = tf.compat.v1.nn.conv2d_backprop_filter(
        _nhwc(x), filter_sizes=list(w_hwio.shape), out_backprop=g, strides=strides, padding=padding)
    db = dout.sum(axis=(0, 2, 3))
    return _nchw(dx), np.ascontiguousarray(dw.numpy().transpose(3, 2, 0, 1)), db


def _check_pool(x, pool, stride):
    x = _float_array(x, "x")
    _rank4(x, "x", "(N, C, H, W)")
    pool = _positive_int(pool, "pool")
    stride = _positive_int(stride, "stride")
    h_out = _out_size(x.shape[2], pool, stride, 0, "H")
    w_out = _out_size(x.shape[3], pool, stride, 0, "W")
    return x, pool, stride, (h_out, w_out)


def max_pool_forward(x, pool: int = 2, stride: int = 2):
    """Max-pooling with tf.nn.max_pool2d (no padding).

    x: (N, C, H, W) -> out: (N, C, (H - pool) / stride + 1, (W - pool) / stride + 1).
    """
    x, pool, stride, _ = _check_pool(x, pool, stride)
    y = tf.nn.max_pool2d(_nhwc(x), ksize=pool, strides=stride, padding="VALID")
    return _nchw(y), (x, pool, stride, y)


def max_pool_backward(dout, cache):
    """Gradient of max-pooling: routed to the first maximum of each window (row-major order)."""
    x, pool, stride, y = cache
    dout = _check_dout(dout, (x.shape[0], x.shape[1], y.shape[1], y.shape[2]), x.dtype,
                       "max_pool_backward")
    dx = tf.raw_ops.MaxPoolGrad(orig_input=_nhwc(x), orig_output=y, grad=_nhwc(dout),
                                ksize=[1, pool, pool, 1], strides=[1, stride, stride, 1],
                                padding="VALID")
    return _nchw(dx)


def relu_forward(x):
    """ReLU with tf.nn.relu: any shape; returns out and the cache (the input)."""
    x = _float_array(x, "x")
    return tf.nn.relu(tf.constant(x)).numpy(), x


def relu_backward(dout, cache):
    """Gradient of ReLU: dout where the input was positive, 0 elsewhere."""
    x = cache
    dout = _check_dout(dout, x.shape, x.dtype, "relu_backward")
    return tf.raw_ops.ReluGrad(gradients=tf.constant(dout), features=tf.constant(x)).numpy()
