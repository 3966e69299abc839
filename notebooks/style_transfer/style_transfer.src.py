# %% [config] timeout=300 partial=style_transfer_content,style_transfer_gram,style_transfer_tv,style_transfer_adam

# %% [markdown] id=style_transfer_header locked
# # Chapter 5 — Style transfer by optimisation (Gatys), gradients by hand
#
# Gatys, Ecker and Bethge (2016) paint a photograph in the style of another picture without
# training anything: they take a pretrained VGG network, define a loss that is small when the
# deep features of an image match those of the photograph (*content*) and the correlations of
# its features match those of the painting (*style*), and minimise it **over the pixels of the
# image**. In this assignment you derive and write every loss and every gradient in NumPy,
# back-propagate them through VGG to the image yourself, and check the result against
# TensorFlow's automatic differentiation.
#
# **Learning goals**
# 1. Write the content loss and its gradient, equations (5.1)–(5.2).
# 2. Compute Gram matrices (5.3) and write the style loss and its gradient, (5.4)–(5.6).
# 3. Write the total-variation regulariser and its gradient, (5.7)–(5.8), and the total loss (5.9).
# 4. Back-propagate gradients that enter the network at *several* layers down to the image,
#    equation (5.10) — no parameter gradients, the image is the variable.
# 5. Write one Adam step with bias correction, equation (5.11), and run the optimisation.
# 6. Check your NumPy gradients against `tf.GradientTape` on the same network.
#
# **Conventions.** Activations are NCHW `(N, C, H, W)`; the image being optimised is a VGG
# input `x` of shape `(1, 3, H, W)`: RGB in [0, 255] minus `vgg.MEAN_RGB` (chapter 3). Losses
# are returned as Python `float`s and gradients as arrays of the shape and dtype of the
# variable. The VGG layers come from `source_lib.layers_tf` — the `*_forward(x, ...) ->
# (out, cache)` / `*_backward(dout, cache)` interface of chapter 2, computed by TensorFlow (your
# own chapter 2 layers would do as well). Fill in every cell that says `YOUR CODE HERE`, then run
# the test cell below it. Hidden tests run when the notebook is graded.

# %% [locked] id=style_transfer_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
import tensorflow as tf

from source_lib import config, images, layers_tf, styles, timing, vgg
from source_lib.checks import assert_close, check_array, passed
from source_lib.gradcheck import numerical_gradient
from source_lib.progress import progress

print(config.banner())
SIZE = config.pick(256, 48)               # side of the stylised image (a multiple of 16)
ITERATIONS = config.pick(300, 8)          # Adam steps of the main run
SWEEP_SIZE = config.pick(128, 32)         # the β and layer sweeps run smaller
SWEEP_ITERATIONS = config.pick(100, 2)
OUTPUT = Path("output")
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
ALPHA, BETA, GAMMA, LR = 1.0, 1e-3, 10.0, 10.0   # loss weights (5.9) and Adam's learning rate
rng = config.seed_everything(0)


def rel_error(got, ref):
    """max |got - ref| / max |ref|: the error of a whole array relative to its scale."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    return float(np.abs(got - ref).max() / scale) if scale else float(np.abs(got).max())

# %% [markdown]
# ## 0. The network
#
# The feature extractor is VGG's convolutional part (chapter 3). `vgg.load_pretrained(19)`
# finds the best weight file there is; the offline default is `vgg16_imagenet_conv.npz`, the
# ImageNet VGG16 convolutions. Gatys et al. used VGG19 with content layer relu4_2 and style
# layers relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 — layers that VGG16 has too, under the
# same names, so nothing below depends on which of the two you have. Only the layers up to the
# deepest one the loss uses (relu5_1) are run.
#
# `features_forward` runs the layers with `source_lib.layers_tf` and keeps every cache, ready
# for the backward pass you will write in section 6. Read it.

# %% [locked] id=style_transfer_network
pretrained = vgg.load_pretrained(19)
print(pretrained.describe())
if pretrained.random:
    print("No weight file was found: the network has RANDOM weights and the pictures will not look "
          "like style transfer. Run `python -m source_lib.fetch_weights` to get the ImageNet VGG16 weights.")
RANDOM_NOTE = " — RANDOM weights (no weight file found)" if pretrained.random else ""
LOW = (-vgg.MEAN_RGB).reshape(1, 3, 1, 1)             # the pixel range [0, 255] minus the mean
HIGH = (255.0 - vgg.MEAN_RGB).reshape(1, 3, 1, 1)


def vgg_layers(depth, last="relu5_1"):
    """[(name, kind)] of VGG-`depth` from conv1_1 up to and including `last`; kind is conv/relu/pool."""
    names = vgg.layer_names(depth, include_top=False)
    if last not in names:
        raise ValueError(f"VGG{depth} has no layer {last!r}; its layers are {names}")
    return [(name, name.rstrip("0123456789_")) for name in names[:names.index(last) + 1]]


def features_forward(x, weights, layers):
    """Run `layers` on x (N, 3, H, W). Returns (acts, caches): acts[name] is the output of each
    layer; caches is the list of (name, kind, cache) in forward order, for the backward pass."""
    acts, caches = {}, []
    for name, kind in layers:
        if kind == "conv":
            w, b = weights[name]
            x, cache = layers_tf.conv_forward(x, w, b, stride=1, pad=1)
        elif kind == "relu":
            x, cache = layers_tf.relu_forward(x)
        elif kind == "pool":
            x, cache = layers_tf.max_pool_forward(x, pool=2, stride=2)
        else:
            raise ValueError(f"unknown layer kind {kind!r} ({name})")
        acts[name] = x
        caches.append((name, kind, cache))
    return acts, caches


def to_network(image):
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 VGG input (minus the mean, chapter 3)."""
    image = images.check_image(image)
    return np.ascontiguousarray((image.astype(np.float32) - vgg.MEAN_RGB).transpose(2, 0, 1)[None])


def to_image(x):
    """(1, 3, H, W) VGG input -> (H, W, 3) uint8 RGB, clipped to [0, 255]."""
    return np.clip(np.rint(x[0].transpose(1, 2, 0) + vgg.MEAN_RGB), 0, 255).astype(np.uint8)


LAYERS = vgg_layers(pretrained.depth, "relu5_1")
print("layers run:", ", ".join(name for name, _ in LAYERS))

# %% [markdown]
# The content image is a photograph from the course data; the style image comes from
# `source_lib.styles`: a painting your instructor put into `data/styles/` if there is one,
# otherwise a public-domain texture (brick, grass or gravel from scikit-image, tinted) or the
# Hubble deep field. Try the others with `styles.load_style(name, size)`.

# %%
CONTENT_NAME = "astronaut"
STYLE_NAME = styles.default_style()
print("styles available:", ", ".join(styles.available()))
content_image = images.load_image(CONTENT_NAME, size=(SIZE, SIZE))
style_image = styles.load_style(STYLE_NAME, size=(SIZE, SIZE))
print("credits:", images.credit(CONTENT_NAME), "|", styles.credit(STYLE_NAME))

# %% [demo]
fig, axes = plt.subplots(1, 2, figsize=(7, 3.6))
for ax, im, title in zip(axes, [content_image, style_image],
                         [f"content: {CONTENT_NAME}", f"style: {STYLE_NAME}"]):
    ax.imshow(im)
    ax.set_title(title)
    ax.axis("off")
plt.show()

# %% [markdown] id=style_transfer_content_md locked
# ## 1. Content loss
#
# Let $X = X^l$ be the activation of the content layer $l$ (relu4_2) for the image being
# optimised and $Y = Y^l$ the same activation for the content photograph, both of shape
# $(N, C, H, W)$. The content loss is half the mean squared difference, equation **(5.1)**,
# and its gradient with respect to $X$ is equation **(5.2)**:
#
# $$ L_{content} = \frac{1}{2NCHW} \sum_{n,c,h,w} \left(X_{n,c,h,w} - Y_{n,c,h,w}\right)^2,
#    \qquad
#    \frac{\partial L_{content}}{\partial X_{n,c,h,w}} = \frac{X_{n,c,h,w} - Y_{n,c,h,w}}{NCHW}. $$
#
# Write `content_loss(x, y)` returning `(loss, dx)`: the loss as a Python `float` and the
# gradient with the shape and dtype of `x`. Raise `ValueError` if the shapes differ.

# %% [solution] id=style_transfer_content
def content_loss(x, y):
    """Content loss (5.1) and its gradient (5.2). x, y: (N, C, H, W) -> (loss: float, dx like x)."""
    ### BEGIN SOLUTION
    if x.shape != y.shape:
        raise ValueError(f"content_loss: x has shape {x.shape} but y has {y.shape}")
    diff = x - y.astype(x.dtype, copy=False)
    return float((diff * diff).sum() / (2 * diff.size)), diff / diff.size
    ### END SOLUTION

# %% [tests] id=style_transfer_content_test points=2 needs=style_transfer_content
x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])                 # (1, 1, 2, 2)
y = np.array([[[[1.0, 0.0], [3.0, 8.0]]]])
loss, dx = content_loss(x, y)
assert isinstance(loss, float), f"the loss must be a Python float, got {type(loss).__name__}"
assert abs(loss - (4 + 16) / 8) < 1e-12, f"(5.1): expected (2² + 4²) / (2·4) = 2.5, got {loss}"
check_array(dx, "content_loss(x, y)[1]", shape=x.shape, dtype=np.float64)
assert_close(dx, (x - y) / 4, "the gradient (5.2)")
xs, ys = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
num = numerical_gradient(lambda v: content_loss(v, ys)[0], xs)
assert_close(content_loss(xs, ys)[1], num, "dx vs the numerical gradient", rtol=1e-6, atol=1e-9)
check_array(content_loss(xs.astype(np.float32), ys.astype(np.float32))[1], "dx for float32 input", dtype=np.float32)
passed("content loss and gradient")
### BEGIN HIDDEN TESTS
_x = tf.random.stateless_normal((2, 4, 3, 5), seed=[50, 1], dtype=tf.float64)
_y = tf.random.stateless_normal((2, 4, 3, 5), seed=[50, 2], dtype=tf.float64)
with tf.GradientTape() as _tape:
    _tape.watch(_x)
    _ref = tf.reduce_sum(tf.square(_x - _y)) / (2.0 * 120.0)
_ref_dx = _tape.gradient(_ref, _x).numpy()
_loss, _dx = content_loss(_x.numpy(), _y.numpy())
assert type(_dx) is np.ndarray and _dx.shape == (2, 4, 3, 5) and _dx.dtype == np.float64, "hidden: content dx shape/dtype"
assert abs(float(_loss) - float(_ref.numpy())) < 1e-12 * max(1.0, abs(float(_ref.numpy()))), "hidden: content loss vs TensorFlow"
assert float((_dx - _ref_dx).__abs__().max()) < 1e-12, "hidden: content gradient vs TensorFlow"
_xn, _yn = _x.numpy().copy(), _y.numpy()
_num = np.zeros(_xn.shape)
for _i in range(_xn.size):
    _old = _xn.flat[_i]
    _xn.flat[_i] = _old + 1e-5
    _plus = float(content_loss(_xn, _yn)[0])
    _xn.flat[_i] = _old - 1e-5
    _minus = float(content_loss(_xn, _yn)[0])
    _xn.flat[_i] = _old
    _num.flat[_i] = (_plus - _minus) / 2e-5
assert float((_dx - _num).__abs__().max()) < 1e-7, "hidden: content gradient vs numerical gradient"
_l32, _d32 = content_loss(_x.numpy().astype(np.float32), _y.numpy().astype(np.float32))
assert type(_d32) is np.ndarray and _d32.dtype == np.float32, "hidden: float32 in, float32 gradient out"
try:
    content_loss(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 4)))
except ValueError:
    pass
else:
    raise AssertionError("hidden: content_loss must raise ValueError for different shapes")
### END HIDDEN TESTS

# %% [markdown] id=style_transfer_gram_md locked
# ## 2. Gram matrices
#
# Style is what the features have in common *everywhere* in the picture: which channels fire
# together, regardless of where. The Gram matrix of a layer's activation $X$ (shape
# $(N, C, H, W)$) sums the products of every pair of channels over all positions, equation
# **(5.3)**:
#
# $$ G_{n,i,j} = \sum_{h,w} X_{n,i,h,w}\, X_{n,j,h,w}. $$
#
# Write `gram_matrix(x)` returning an `(N, C, C)` array of the dtype of `x`. Hint: reshape
# each example to a $(C, HW)$ matrix $F$; then $G = F F^\top$. A loop over the examples with
# `f @ f.T` is several times faster than one batched `matmul` of 3-D arrays: for a product of a
# 2-D matrix with its own transpose NumPy calls BLAS's `syrk`, which computes only half of the
# symmetric result.

# %% [solution] id=style_transfer_gram
def gram_matrix(x):
    """Gram matrices (5.3): x (N, C, H, W) -> (N, C, C)."""
    ### BEGIN SOLUTION
    if x.ndim != 4:
        raise ValueError(f"gram_matrix expects (N, C, H, W), got shape {x.shape}")
    f = x.reshape(x.shape[0], x.shape[1], -1)
    return np.stack([f_n @ f_n.T for f_n in f])
    ### END SOLUTION

# %% [tests] id=style_transfer_gram_test points=1 needs=style_transfer_gram
x = np.arange(8, dtype=np.float64).reshape(1, 2, 2, 2)     # channel 0: 0..3, channel 1: 4..7
g = gram_matrix(x)
check_array(g, "gram_matrix(x)", shape=(1, 2, 2), dtype=np.float64)
assert_close(g[0], [[0 + 1 + 4 + 9, 0 * 4 + 1 * 5 + 2 * 6 + 3 * 7], [38, 16 + 25 + 36 + 49]], "gram_matrix by hand")
xs = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
g = gram_matrix(xs)
check_array(g, "gram_matrix(xs)", shape=(3, 4, 4), dtype=np.float32)
assert_close(g, np.einsum("nihw,njhw->nij", xs, xs), "gram_matrix vs einsum", rtol=1e-4, atol=1e-4)
passed("Gram matrix")
### BEGIN HIDDEN TESTS
_x = tf.random.stateless_normal((2, 5, 3, 4), seed=[51, 1], dtype=tf.float64)
_ref = tf.einsum("nihw,njhw->nij", _x, _x).numpy()
_g = gram_matrix(_x.numpy())
assert type(_g) is np.ndarray and _g.shape == (2, 5, 5) and _g.dtype == np.float64, "hidden: gram shape/dtype"
assert float((_g - _ref).__abs__().max()) < 1e-10, "hidden: gram values vs TensorFlow"
_g1 = gram_matrix(_x.numpy()[:1, :, :1, :])
assert type(_g1) is np.ndarray and _g1.shape == (1, 5, 5), "hidden: gram of a one-row map"
assert float((_g1 - tf.einsum("nihw,njhw->nij", _x[:1, :, :1, :], _x[:1, :, :1, :]).numpy()).__abs__().max()) < 1e-10, "hidden: gram one-row values"
### END HIDDEN TESTS

# %% [markdown] id=style_transfer_style_md locked
# ## 3. Style loss
#
# With $G$ the Gram matrix of the image being optimised and $A$ that of the style image at the
# same layer, the style loss of one layer is equation **(5.4)**, and its gradient — derived in
# the book; both $G$ and $A$ are symmetric — is equation **(5.5)**:
#
# $$ L^l_{style} = \frac{1}{4NC^2H^2W^2} \sum_{n,i,j} \left(G_{n,i,j} - A_{n,i,j}\right)^2,
#    \qquad
#    \frac{\partial L^l_{style}}{\partial X_{n,i,h,w}} = \frac{1}{NC^2H^2W^2}
#    \sum_j X_{n,j,h,w} \left(G_{n,j,i} - A_{n,j,i}\right). $$
#
# The style loss of the whole image is a weighted sum over the style layers, equation
# **(5.6)**: $L_{style} = \sum_l w_l L^l_{style}$ (here $w_l = 1/5$ for each of the five
# layers; you will form the sum in section 7).
#
# Write `style_loss(x, a)` for one layer: `x` is the activation `(N, C, H, W)`, `a` the target
# Gram matrices `(N, C, C)` or `(1, C, C)` (one style for the whole batch). Return
# `(loss, dx)` as in section 1; use your `gram_matrix`. Hint: the sum over $j$ in (5.5) is
# again one batched matrix product, $(G - A)^\top F$.

# %% [solution] id=style_transfer_style
def style_loss(x, a):
    """Style loss of one layer (5.4) and its gradient (5.5). x: (N, C, H, W), a: (N or 1, C, C)."""
    ### BEGIN SOLUTION
    n, c, h, w = x.shape
    if a.shape not in [(n, c, c), (1, c, c)]:
        raise ValueError(f"style_loss: a has shape {a.shape}, expected ({n}, {c}, {c}) or (1, {c}, {c})")
    diff = gram_matrix(x) - a.astype(x.dtype, copy=False)
    scale = n * c * c * (h * w) ** 2
    loss = float((diff * diff).sum() / (4.0 * scale))
    dx = (diff.transpose(0, 2, 1) @ x.reshape(n, c, h * w)).reshape(x.shape) / x.dtype.type(scale)
    return loss, dx
    ### END SOLUTION

# %% [tests] id=style_transfer_style_test points=3 needs=style_transfer_style,style_transfer_gram
x = np.array([[[[1.0, 2.0]], [[0.0, 1.0]]]])                # (1, 2, 1, 2): N=1, C=2, H=1, W=2
a = np.zeros((1, 2, 2))
loss, dx = style_loss(x, a)
assert isinstance(loss, float), f"the loss must be a Python float, got {type(loss).__name__}"
# G = [[5, 2], [2, 1]]: sum of squares 34, divided by 4·N·C²·H²·W² = 4·1·4·1·4 = 64
assert abs(loss - 34 / 64) < 1e-12, f"(5.4): expected 34/64, got {loss}"
check_array(dx, "style_loss(x, a)[1]", shape=x.shape, dtype=np.float64)
xs = rng.standard_normal((2, 3, 4, 5))
a_s = gram_matrix(rng.standard_normal((2, 3, 4, 5)))
num = numerical_gradient(lambda v: style_loss(v, a_s)[0], xs)
assert_close(style_loss(xs, a_s)[1], num, "dx vs the numerical gradient (5.5)", rtol=1e-5, atol=1e-9)
num = numerical_gradient(lambda v: style_loss(v, a_s[:1])[0], xs)
assert_close(style_loss(xs, a_s[:1])[1], num, "dx with one target Gram for the batch (1, C, C)", rtol=1e-5, atol=1e-9)
passed("style loss and gradient")
### BEGIN HIDDEN TESTS
for _n, _an, _seed in [(2, 2, 1), (3, 1, 2)]:
    _x = tf.random.stateless_normal((_n, 4, 3, 5), seed=[52, _seed], dtype=tf.float64)
    _s = tf.random.stateless_normal((_an, 4, 3, 5), seed=[53, _seed], dtype=tf.float64)
    _a = tf.einsum("nihw,njhw->nij", _s, _s)
    with tf.GradientTape() as _tape:
        _tape.watch(_x)
        _g = tf.einsum("nihw,njhw->nij", _x, _x)
        _ref = tf.reduce_sum(tf.square(_g - _a)) / (4.0 * _n * 16 * 15 ** 2)
    _ref_dx = _tape.gradient(_ref, _x).numpy()
    _loss, _dx = style_loss(_x.numpy(), _a.numpy())
    assert type(_dx) is np.ndarray and _dx.shape == (_n, 4, 3, 5) and _dx.dtype == np.float64, "hidden: style dx shape/dtype"
    assert abs(float(_loss) - float(_ref.numpy())) < 1e-10 * abs(float(_ref.numpy())), "hidden: style loss vs TensorFlow"
    assert float((_dx - _ref_dx).__abs__().max()) < 1e-10 * float(_ref_dx.__abs__().max()), "hidden: style gradient vs TensorFlow"
_xn = tf.random.stateless_normal((1, 3, 2, 3), seed=[54, 0], dtype=tf.float64).numpy()
_an = tf.einsum("nihw,njhw->nij", *(2 * [tf.random.stateless_normal((1, 3, 2, 3), seed=[54, 1], dtype=tf.float64)])).numpy()
_dx = style_loss(_xn, _an)[1]
_num = np.zeros(_xn.shape)
for _i in range(_xn.size):
    _old = _xn.flat[_i]
    _xn.flat[_i] = _old + 1e-5
    _plus = float(style_loss(_xn, _an)[0])
    _xn.flat[_i] = _old - 1e-5
    _minus = float(style_loss(_xn, _an)[0])
    _xn.flat[_i] = _old
    _num.flat[_i] = (_plus - _minus) / 2e-5
assert type(_dx) is np.ndarray and float((_dx - _num).__abs__().max()) < 1e-6 * max(1.0, float(_num.__abs__().max())), "hidden: style gradient vs numerical gradient"
_d32 = style_loss(_xn.astype(np.float32), _an.astype(np.float32))[1]
assert type(_d32) is np.ndarray and _d32.dtype == np.float32, "hidden: float32 in, float32 gradient out"
### END HIDDEN TESTS

# %% [markdown] id=style_transfer_tv_md locked
# ## 4. Total variation
#
# Pixels of an image optimised through max-pools and strided features tend to become noisy. A
# little *total variation* keeps neighbouring pixels close: the mean squared difference between
# vertical and horizontal neighbours of the image $x$ (shape $(N, C, H, W)$), equation **(5.7)**,
#
# $$ L_{tv} = \frac{1}{2NCHW} \Bigl[\sum_{n,c}\sum_{h=0}^{H-2}\sum_{w} \left(x_{n,c,h+1,w} - x_{n,c,h,w}\right)^2
#    + \sum_{n,c}\sum_{h}\sum_{w=0}^{W-2} \left(x_{n,c,h,w+1} - x_{n,c,h,w}\right)^2\Bigr]. $$
#
# A pixel appears in up to four differences; with $d^v_{h,w} = x_{h+1,w} - x_{h,w}$ and
# $d^h_{h,w} = x_{h,w+1} - x_{h,w}$ (a term is zero where it falls outside the image) its
# gradient is equation **(5.8)**:
#
# $$ \frac{\partial L_{tv}}{\partial x_{n,c,h,w}} = \frac{1}{NCHW}
#    \left(d^v_{h-1,w} - d^v_{h,w} + d^h_{h,w-1} - d^h_{h,w}\right). $$
#
# Write `tv_loss(x)` returning `(loss, dx)` as before (`x` is a float array). Hint: compute
# the two difference arrays with slicing, then add and subtract them into shifted slices of a
# zero array.

# %% [solution] id=style_transfer_tv
def tv_loss(x):
    """Total-variation loss (5.7) and its gradient (5.8): x (N, C, H, W) float -> (loss, dx)."""
    ### BEGIN SOLUTION
    if x.ndim != 4:
        raise ValueError(f"tv_loss expects (N, C, H, W), got shape {x.shape}")
    dv = x[:, :, 1:, :] - x[:, :, :-1, :]
    dh = x[:, :, :, 1:] - x[:, :, :, :-1]
    loss = float(((dv * dv).sum() + (dh * dh).sum()) / (2 * x.size))
    dx = np.zeros(x.shape, x.dtype)
    dx[:, :, 1:, :] += dv
    dx[:, :, :-1, :] -= dv
    dx[:, :, :, 1:] += dh
    dx[:, :, :, :-1] -= dh
    return loss, dx / x.dtype.type(x.size)
    ### END SOLUTION

# %% [tests] id=style_transfer_tv_test points=2 needs=style_transfer_tv
x = np.array([[[[0.0, 1.0], [3.0, 3.0]]]])                 # (1, 1, 2, 2)
loss, dx = tv_loss(x)
assert isinstance(loss, float), f"the loss must be a Python float, got {type(loss).__name__}"
# vertical differences 3, 2; horizontal differences 1, 0: (9 + 4 + 1 + 0) / (2·4)
assert abs(loss - 14 / 8) < 1e-12, f"(5.7): expected 14/8, got {loss}"
check_array(dx, "tv_loss(x)[1]", shape=x.shape, dtype=np.float64)
assert_close(dx, [[[[-4 / 4, -1 / 4], [3 / 4, 2 / 4]]]], "the gradient (5.8) by hand")
xs = rng.standard_normal((2, 3, 5, 4))
assert_close(tv_loss(xs)[1], numerical_gradient(lambda v: tv_loss(v)[0], xs), "dx vs the numerical gradient",
             rtol=1e-6, atol=1e-9)
assert tv_loss(np.full((1, 3, 4, 4), 7.0))[0] == 0.0, "a flat image has no total variation"
passed("total variation")
### BEGIN HIDDEN TESTS
_x = tf.random.stateless_normal((2, 3, 4, 6), seed=[55, 1], dtype=tf.float64)
with tf.GradientTape() as _tape:
    _tape.watch(_x)
    _ref = (tf.reduce_sum(tf.square(_x[:, :, 1:] - _x[:, :, :-1])) +
            tf.reduce_sum(tf.square(_x[:, :, :, 1:] - _x[:, :, :, :-1]))) / (2.0 * 144.0)
_ref_dx = _tape.gradient(_ref, _x).numpy()
_loss, _dx = tv_loss(_x.numpy())
assert type(_dx) is np.ndarray and _dx.shape == (2, 3, 4, 6) and _dx.dtype == np.float64, "hidden: tv dx shape/dtype"
assert abs(float(_loss) - float(_ref.numpy())) < 1e-12 * max(1.0, abs(float(_ref.numpy()))), "hidden: tv loss vs TensorFlow"
assert float((_dx - _ref_dx).__abs__().max()) < 1e-12, "hidden: tv gradient vs TensorFlow"
_xn = _x.numpy()[:1, :2, :3, :4].copy()
_dx = tv_loss(_xn)[1]
_num = np.zeros(_xn.shape)
for _i in range(_xn.size):
    _old = _xn.flat[_i]
    _xn.flat[_i] = _old + 1e-5
    _plus = float(tv_loss(_xn)[0])
    _xn.flat[_i] = _old - 1e-5
    _minus = float(tv_loss(_xn)[0])
    _xn.flat[_i] = _old
    _num.flat[_i] = (_plus - _minus) / 2e-5
assert type(_dx) is np.ndarray and float((_dx - _num).__abs__().max()) < 1e-7, "hidden: tv gradient vs numerical gradient"
_d32 = tv_loss(_x.numpy().astype(np.float32))[1]
assert type(_d32) is np.ndarray and _d32.dtype == np.float32, "hidden: float32 in, float32 gradient out"
### END HIDDEN TESTS

# %% [markdown] id=style_transfer_adam_md locked
# ## 5. Adam
#
# The variable is the image. Plain gradient descent struggles here: the gradients of the
# different layers differ by orders of magnitude. Adam (Kingma & Ba, 2015) scales every pixel's
# step by a running estimate of its gradient's size. With the gradient $g_t$ at step
# $t = 1, 2, \dots$, $m_0 = v_0 = 0$, $\beta_1 = 0.9$, $\beta_2 = 0.999$,
# $\epsilon = 10^{-8}$ and learning rate $\eta$, equation **(5.11)**:
#
# $$ m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2, $$
# $$ \hat m_t = \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t}, \qquad
#    x_t = x_{t-1} - \eta\, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}. $$
#
# The *bias correction* ($\hat m$, $\hat v$) undoes the pull towards the zero initial values:
# without it the first steps would be far too small. Write `adam_step`, returning the new
# `(x, m, v)`; do not modify the arguments.

# %% [solution] id=style_transfer_adam
def adam_step(x, dx, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step (5.11) at step t >= 1: returns the new (x, m, v), arguments unchanged."""
    ### BEGIN SOLUTION
    if t < 1:
        raise ValueError(f"Adam counts steps from t = 1, got t = {t}")
    m = beta1 * m + (1 - beta1) * dx
    v = beta2 * v + (1 - beta2) * dx * dx
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return x - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
    ### END SOLUTION

# %% [tests] id=style_transfer_adam_test points=2 needs=style_transfer_adam
x0 = np.array([1.0, -2.0, 3.0])
g = np.array([0.5, -1e-3, 0.0])
x1, m1, v1 = adam_step(x0, g, np.zeros(3), np.zeros(3), t=1, lr=0.1)
check_array(x1, "adam_step(...)[0]", shape=(3,), dtype=np.float64)
# with bias correction the first step is lr * sign(g) (up to eps)
assert_close(x1, [0.9, -1.9, 3.0], "the first Adam step moves every pixel by lr·sign(g)", rtol=1e-6)
assert_close(m1, 0.1 * g, "m_1")
assert_close(v1, 0.001 * g * g, "v_1")
assert (x0 == [1.0, -2.0, 3.0]).all(), "adam_step must not modify x"
x2, m2, v2 = adam_step(x1, 2 * g, m1, v1, t=2, lr=0.1)
m_ref, v_ref = 0.9 * m1 + 0.1 * 2 * g, 0.999 * v1 + 0.001 * 4 * g * g
assert_close(x2, x1 - 0.1 * (m_ref / 0.19) / (np.sqrt(v_ref / (1 - 0.999 ** 2)) + 1e-8), "the second Adam step")
passed("Adam step")
### BEGIN HIDDEN TESTS
_x = tf.random.stateless_normal((2, 3, 4, 4), seed=[56, 0], dtype=tf.float64)
_m = tf.zeros_like(_x)
_v = tf.zeros_like(_x)
_xn, _mn, _vn = _x.numpy(), np.zeros((2, 3, 4, 4)), np.zeros((2, 3, 4, 4))
for _t in range(1, 5):
    _g = tf.random.stateless_normal((2, 3, 4, 4), seed=[57, _t], dtype=tf.float64) * (10.0 ** (_t - 3))
    _m = 0.8 * _m + 0.2 * _g
    _v = 0.99 * _v + 0.01 * tf.square(_g)
    _x = _x - 0.05 * (_m / (1 - 0.8 ** _t)) / (tf.sqrt(_v / (1 - 0.99 ** _t)) + 1e-7)
    _keep = _xn.copy(), _mn.copy(), _vn.copy()
    _out = adam_step(_xn, _g.numpy(), _mn, _vn, _t, 0.05, beta1=0.8, beta2=0.99, eps=1e-7)
    assert all(type(_o) is np.ndarray and _o.shape == (2, 3, 4, 4) for _o in _out), "hidden: adam outputs are arrays"
    assert all(float((_a - _b).__abs__().max()) == 0.0 for _a, _b in zip(_keep, (_xn, _mn, _vn))), "hidden: adam modified its arguments"
    _xn, _mn, _vn = _out
    assert float((_mn - _m.numpy()).__abs__().max()) < 1e-12 * float(_m.numpy().__abs__().max()), f"hidden: adam m at t={_t}"
    assert float((_vn - _v.numpy()).__abs__().max()) < 1e-12 * float(_v.numpy().__abs__().max()), f"hidden: adam v at t={_t}"
    assert float((_xn - _x.numpy()).__abs__().max()) < 1e-10, f"hidden: adam x at t={_t}"
_x1 = adam_step(np.zeros(4), np.array([1e-3, -3.0, 2e4, -5e-2]), np.zeros(4), np.zeros(4), 1, 2.0)[0]
assert type(_x1) is np.ndarray and float((_x1 - np.array([-2.0, 2.0, -2.0, 2.0])).__abs__().max()) < 1e-4, "hidden: adam bias correction of the first step"
### END HIDDEN TESTS

# %% [markdown] id=style_transfer_backward_md locked
# ## 6. Back to the image
#
# Training a network back-propagates one gradient, from the loss at the end, and keeps the
# gradients of the *weights*. Here everything is the other way round:
#
# * the weights are fixed — `conv_backward` returns `dw` and `db`, but you throw them away;
# * the loss reads **several** layers (relu1_1 … relu5_1 and relu4_2), so a gradient enters the
#   backward pass at each of them. The gradient reaching a layer's output is the sum of the
#   loss's own gradient there and what flows back from the layers above, equation **(5.10)**:
#
# $$ \delta^l = \frac{\partial L}{\partial a^l} + \left(\frac{\partial a^{l+1}}{\partial a^l}\right)^{\!\top} \delta^{l+1},
#    \qquad \frac{\partial L}{\partial x} = \left(\frac{\partial a^{1}}{\partial x}\right)^{\!\top} \delta^{1}; $$
#
# * the gradient you want is the one of the **input image** $x$.
#
# Write `features_backward(dacts, caches)`: `caches` is the list returned by
# `features_forward`, `dacts` a dict `layer name -> dL/d(output of that layer)` for the layers
# the loss reads. Walk the caches backwards; when you reach a layer named in `dacts`, add its
# gradient to the one coming from above (layers above the deepest one in `dacts` contribute
# nothing — skip them); send the sum through the layer with `layers_tf.conv_backward`,
# `relu_backward` or `max_pool_backward`. Return $\partial L / \partial x$. Raise `KeyError`
# if `dacts` names a layer that is not in `caches`. Do not modify the arrays in `dacts`.

# %% [solution] id=style_transfer_backward
def features_backward(dacts, caches):
    """Gradients dacts {layer name: dL/d output} entering at several layers -> dL/dx (N, 3, H, W), (5.10)."""
    ### BEGIN SOLUTION
    unknown = set(dacts) - {name for name, _, _ in caches}
    if unknown:
        raise KeyError(f"dacts names layers that are not in caches: {sorted(unknown)}")
    grad = None
    for name, kind, cache in reversed(caches):
        if name in dacts:
            grad = dacts[name] if grad is None else grad + dacts[name]
        if grad is None:
            continue
        if kind == "conv":
            grad, _, _ = layers_tf.conv_backward(grad, cache)
        elif kind == "relu":
            grad = layers_tf.relu_backward(grad, cache)
        elif kind == "pool":
            grad = layers_tf.max_pool_backward(grad, cache)
        else:
            raise ValueError(f"unknown layer kind {kind!r} ({name})")
    if grad is None:
        raise ValueError("dacts is empty: no gradient to back-propagate")
    return grad
    ### END SOLUTION

# %% [tests] id=style_transfer_backward_test points=3 needs=style_transfer_backward
def small_network(seed, dtype=np.float64):
    """A tiny VGG-like network with random weights: 3 -> 4 -> 4 channels, a pool, 4 -> 5."""
    r = np.random.default_rng(seed)
    shapes = {"conv1_1": (4, 3, 3, 3), "conv1_2": (4, 4, 3, 3), "conv2_1": (5, 4, 3, 3)}
    weights = {k: (r.standard_normal(s).astype(dtype) * 0.5, r.standard_normal(s[0]).astype(dtype) * 0.1)
               for k, s in shapes.items()}
    layers = [("conv1_1", "conv"), ("relu1_1", "relu"), ("conv1_2", "conv"), ("relu1_2", "relu"),
              ("pool1", "pool"), ("conv2_1", "conv"), ("relu2_1", "relu")]
    return weights, layers


weights_s, layers_s = small_network(0)
xs = rng.standard_normal((1, 3, 4, 4))
acts, caches = features_forward(xs, weights_s, layers_s)
douts = {"relu1_1": rng.standard_normal(acts["relu1_1"].shape), "relu2_1": rng.standard_normal(acts["relu2_1"].shape)}


def probe(v):
    """sum over the chosen layers of <douts[layer], activation>: its gradient is features_backward's answer."""
    a, _ = features_forward(v, weights_s, layers_s)
    return sum((a[k] * d).sum() for k, d in douts.items())


dx = features_backward(douts, caches)
check_array(dx, "features_backward(...)", shape=xs.shape, dtype=np.float64)
assert_close(dx, numerical_gradient(probe, xs), "dL/dx vs the numerical gradient", rtol=1e-5, atol=1e-8)
only_deep = features_backward({"relu2_1": douts["relu2_1"]}, caches)
assert np.abs(only_deep - dx).max() > 1e-6, "the gradient entering at relu1_1 must count too (5.10)"
try:
    features_backward({"relu9_9": douts["relu2_1"]}, caches)
except KeyError:
    pass
else:
    raise AssertionError("a layer name that is not in caches must raise KeyError")
passed("back-propagation from several layers to the image")
### BEGIN HIDDEN TESTS
_r = np.random.default_rng(58)
_shapes = {"conv1_1": (4, 3, 3, 3), "conv1_2": (6, 4, 3, 3), "conv2_1": (5, 6, 3, 3), "conv2_2": (5, 5, 3, 3)}
_w = {_k: (_r.standard_normal(_s) * 0.4, _r.standard_normal(_s[0]) * 0.1) for _k, _s in _shapes.items()}
_layers = [("conv1_1", "conv"), ("relu1_1", "relu"), ("conv1_2", "conv"), ("relu1_2", "relu"), ("pool1", "pool"),
           ("conv2_1", "conv"), ("relu2_1", "relu"), ("conv2_2", "conv"), ("relu2_2", "relu"), ("pool2", "pool")]
_x = _r.standard_normal((2, 3, 8, 8))
_acts, _caches = features_forward(_x, _w, _layers)
_d = {_k: _r.standard_normal(_acts[_k].shape) for _k in ("relu1_1", "pool1", "conv2_1", "relu2_1")}
_dkeep = {_k: _v.copy() for _k, _v in _d.items()}
_xt = tf.constant(_x.transpose(0, 2, 3, 1))
with tf.GradientTape() as _tape:
    _tape.watch(_xt)
    _h, _ref = _xt, 0.0
    for _name, _kind in _layers:
        if _kind == "conv":
            _h = tf.nn.bias_add(tf.nn.conv2d(_h, tf.constant(_w[_name][0].transpose(2, 3, 1, 0)), 1, "SAME"), tf.constant(_w[_name][1]))
        elif _kind == "relu":
            _h = tf.nn.relu(_h)
        else:
            _h = tf.nn.max_pool2d(_h, 2, 2, "VALID")
        if _name in _d:
            _ref = _ref + tf.reduce_sum(_h * tf.constant(_d[_name].transpose(0, 2, 3, 1)))
_ref_dx = _tape.gradient(_ref, _xt).numpy().transpose(0, 3, 1, 2)
_got = features_backward(_d, _caches)
assert type(_got) is np.ndarray and _got.shape == (2, 3, 8, 8) and _got.dtype == np.float64, "hidden: backward shape/dtype"
assert float((_got - _ref_dx).__abs__().max()) < 1e-9 * float(_ref_dx.__abs__().max()), "hidden: backward vs TensorFlow (4 layers feed the loss)"
assert all(float((_d[_k] - _dkeep[_k]).__abs__().max()) == 0.0 for _k in _d), "hidden: backward modified dacts"
_only = {"pool1": _d["pool1"]}
with tf.GradientTape() as _tape:
    _tape.watch(_xt)
    _h = _xt
    for _name, _kind in _layers[:5]:
        if _kind == "conv":
            _h = tf.nn.bias_add(tf.nn.conv2d(_h, tf.constant(_w[_name][0].transpose(2, 3, 1, 0)), 1, "SAME"), tf.constant(_w[_name][1]))
        elif _kind == "relu":
            _h = tf.nn.relu(_h)
        else:
            _h = tf.nn.max_pool2d(_h, 2, 2, "VALID")
    _ref = tf.reduce_sum(_h * tf.constant(_d["pool1"].transpose(0, 2, 3, 1)))
_ref_dx = _tape.gradient(_ref, _xt).numpy().transpose(0, 3, 1, 2)
_got = features_backward(_only, _caches)
assert type(_got) is np.ndarray and float((_got - _ref_dx).__abs__().max()) < 1e-9 * float(_ref_dx.__abs__().max()), "hidden: backward from a middle layer"
try:
    features_backward({"conv7_1": _d["pool1"]}, _caches)
except KeyError:
    pass
else:
    raise AssertionError("hidden: unknown layer must raise KeyError")
### END HIDDEN TESTS

# %% [markdown]
# ## 7. The same algorithm in TensorFlow
#
# With automatic differentiation the whole of sections 1–6 fits in a few lines: compute the
# total loss (5.9) under a `tf.GradientTape` and ask for its gradient with respect to the
# image. TensorFlow works in NHWC, so the image and the content target are transposed; Gram
# matrices do not depend on the layout. Read the cell: your NumPy version in section 8 must
# give the same numbers, and `make_tf_step` (a compiled Adam step) is what the speed
# comparison at the end and `bench/style_transfer.py` time against yours. The cell also defines
# `make_targets`, which computes what the losses compare with — the content layer's activation
# of the photograph and the Gram matrices (your `gram_matrix`) of the style image.

# %% [locked] id=style_transfer_tf
def make_targets(content_x, style_x, weights, layers, content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS):
    """targets["content"]: content_layer's activation of content_x; targets["style"][l]: Gram matrices of style_x."""
    acts_c, _ = features_forward(content_x, weights, layers)
    acts_s, _ = features_forward(style_x, weights, layers)
    return {"content": acts_c[content_layer], "style": {l: gram_matrix(acts_s[l]) for l in style_layers}}


def tf_features(x_nhwc, tf_weights, layers):
    """Every layer's output of the network, NHWC. tf_weights[name] = (HWIO kernel, bias)."""
    out, h = {}, x_nhwc
    for name, kind in layers:
        if kind == "conv":
            h = tf.nn.bias_add(tf.nn.conv2d(h, tf_weights[name][0], 1, "SAME"), tf_weights[name][1])
        elif kind == "relu":
            h = tf.nn.relu(h)
        else:
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        out[name] = h
    return out


def tf_total_loss(x_nhwc, tf_weights, layers, targets, alpha, beta, gamma, content_layer, style_layers):
    """(total, content, style, tv) of equations (5.1), (5.4), (5.6), (5.7), (5.9), in TensorFlow."""
    f = tf_features(x_nhwc, tf_weights, layers)
    y = tf.constant(targets["content"].transpose(0, 2, 3, 1), x_nhwc.dtype)
    content = tf.reduce_sum(tf.square(f[content_layer] - y)) / (2.0 * float(np.prod(y.shape)))
    style = 0.0
    for layer in style_layers:
        n, h, w, c = f[layer].shape
        g = tf.einsum("nhwi,nhwj->nij", f[layer], f[layer])
        a = tf.constant(targets["style"][layer], x_nhwc.dtype)
        style += tf.reduce_sum(tf.square(g - a)) / (4.0 * n * c * c * (h * w) ** 2) / len(style_layers)
    tv = (tf.reduce_sum(tf.square(x_nhwc[:, 1:] - x_nhwc[:, :-1])) +
          tf.reduce_sum(tf.square(x_nhwc[:, :, 1:] - x_nhwc[:, :, :-1]))) / (2.0 * float(np.prod(x_nhwc.shape)))
    return alpha * content + beta * style + gamma * tv, content, style, tv


def to_tf_weights(weights, layers, dtype=tf.float32):
    """Course-format conv weights (OIHW) -> {name: (HWIO kernel, bias)} TensorFlow constants."""
    return {name: (tf.constant(weights[name][0].transpose(2, 3, 1, 0), dtype), tf.constant(weights[name][1], dtype))
            for name, kind in layers if kind == "conv"}


def tf_loss_and_grad(x, weights, layers, targets, alpha, beta, gamma,
                     content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS):
    """Losses and dL/dx of an NCHW image x by automatic differentiation (NCHW gradient)."""
    x_nhwc = tf.constant(x.transpose(0, 2, 3, 1))
    tf_weights = to_tf_weights(weights, layers, x_nhwc.dtype)
    with tf.GradientTape() as tape:
        tape.watch(x_nhwc)
        total, content, style, tv = tf_total_loss(x_nhwc, tf_weights, layers, targets, alpha, beta, gamma,
                                                  content_layer, style_layers)
    grad = tape.gradient(total, x_nhwc).numpy().transpose(0, 3, 1, 2)
    losses = {"content": content, "style": style, "tv": tv, "total": total}
    return {k: float(v) for k, v in losses.items()}, np.ascontiguousarray(grad)


def make_tf_step(x, weights, layers, targets, alpha, beta, gamma, lr,
                 content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS):
    """A compiled TensorFlow iteration (gradient, Adam (5.11), clip) on a variable holding x.
    Returns (step, variable): step() runs one iteration and returns the total loss."""
    image = tf.Variable(x.transpose(0, 2, 3, 1))
    m, v = tf.Variable(tf.zeros_like(image)), tf.Variable(tf.zeros_like(image))
    t = tf.Variable(0.0)
    tf_weights = to_tf_weights(weights, layers)
    low, high = tf.constant(LOW.reshape(1, 1, 1, 3)), tf.constant(HIGH.reshape(1, 1, 1, 3))

    @tf.function(autograph=False)          # plain Python loops, unrolled when traced
    def step():
        with tf.GradientTape() as tape:
            total = tf_total_loss(image, tf_weights, layers, targets, alpha, beta, gamma,
                                  content_layer, style_layers)[0]
        g = tape.gradient(total, image)
        t.assign_add(1.0)
        m.assign(0.9 * m + 0.1 * g)
        v.assign(0.999 * v + 0.001 * g * g)
        update = lr * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        image.assign(tf.clip_by_value(image - update, low, high))
        return total
    return step, image

# %% [markdown] id=style_transfer_total_md locked
# ## 8. The total loss and its gradient
#
# The image is scored by the weighted sum, equation **(5.9)**:
#
# $$ L(x) = \alpha\, L_{content} + \beta \sum_l w_l\, L^l_{style} + \gamma\, L_{tv}(x). $$
#
# `targets` holds what the image is compared with: `targets["content"]`, the content layer's
# activation for the photograph, and `targets["style"][layer]`, the Gram matrix of the style
# image at each style layer (`make_targets` of section 7 builds them with your `gram_matrix`). Write
# `loss_and_grad`: run `features_forward`, evaluate the three losses with your functions of
# sections 1–4 (style weights $w_l = 1/$`len(style_layers)`), put each layer's weighted
# gradient into `dacts` (a layer may be both a content and a style layer: add), back-propagate
# with `features_backward`, and add $\gamma$ times the gradient of $L_{tv}$, which depends on
# $x$ directly. Return `(losses, dx)` with `losses` a dict of floats with keys `"content"`,
# `"style"` (the weighted sum (5.6), before $\beta$), `"tv"` and `"total"`.
#
# The visible test compares your gradient on the real VGG with `tf_loss_and_grad` (relative
# error below $10^{-4}$ in float32).

# %% [solution] id=style_transfer_total
def loss_and_grad(x, targets, weights, layers, alpha, beta, gamma,
                  content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS):
    """Total loss (5.9) of the image x (N, 3, H, W) and its gradient: (dict of floats, dx like x)."""
    ### BEGIN SOLUTION
    acts, caches = features_forward(x, weights, layers)
    l_content, d_content = content_loss(acts[content_layer], targets["content"])
    dacts = {content_layer: alpha * d_content}
    l_style, w_l = 0.0, 1.0 / len(style_layers)
    for layer in style_layers:
        loss, d = style_loss(acts[layer], targets["style"][layer])
        l_style += w_l * loss
        d = (beta * w_l) * d
        dacts[layer] = dacts[layer] + d if layer in dacts else d
    l_tv, d_tv = tv_loss(x)
    dx = features_backward(dacts, caches) + gamma * d_tv
    total = alpha * l_content + beta * l_style + gamma * l_tv
    return {"content": l_content, "style": l_style, "tv": l_tv, "total": total}, dx.astype(x.dtype, copy=False)
    ### END SOLUTION

# %% [tests] id=style_transfer_total_test points=2 needs=style_transfer_total,style_transfer_backward,style_transfer_content,style_transfer_style,style_transfer_gram,style_transfer_tv
SETTINGS = dict(alpha=ALPHA, beta=BETA, gamma=GAMMA)
CHECK = 32                                     # the check runs on a 32×32 image
content_x = to_network(images.load_image(CONTENT_NAME, size=(CHECK, CHECK)))
style_x = to_network(styles.load_style(STYLE_NAME, size=(CHECK, CHECK)))
targets = make_targets(content_x, style_x, pretrained, LAYERS)
x_try = np.clip(content_x + rng.normal(0, 20, content_x.shape).astype(np.float32), LOW, HIGH)
losses, dx = loss_and_grad(x_try, targets, pretrained, LAYERS, **SETTINGS)
tf_losses, tf_dx = tf_loss_and_grad(x_try, pretrained, LAYERS, targets, **SETTINGS)
check_array(dx, "loss_and_grad(...)[1]", shape=x_try.shape, dtype=np.float32)
assert sorted(losses) == ["content", "style", "total", "tv"], f"losses needs the keys content, style, tv, total; got {sorted(losses)}"
for key in losses:
    print(f"{key:>8}: numpy {losses[key]:.6g}   TensorFlow {tf_losses[key]:.6g}")
    assert abs(losses[key] - tf_losses[key]) <= 1e-4 * abs(tf_losses[key]), f"{key} loss differs from TensorFlow's"
err = rel_error(dx, tf_dx)
print(f"gradient: relative error {err:.1e} (max |numpy - TF| / max |TF|)")
assert err < 1e-4, f"your gradient differs from tf.GradientTape's: relative error {err:.2e}"
passed(f"loss_and_grad matches TensorFlow on VGG{pretrained.depth} ({CHECK}×{CHECK})")
### BEGIN HIDDEN TESTS
_r = np.random.default_rng(59)
_shapes = {"conv1_1": (4, 3, 3, 3), "conv1_2": (4, 4, 3, 3), "conv2_1": (6, 4, 3, 3), "conv2_2": (6, 6, 3, 3)}
_w = {_k: (_r.standard_normal(_s) * 0.4, _r.standard_normal(_s[0]) * 0.1) for _k, _s in _shapes.items()}
_layers = [("conv1_1", "conv"), ("relu1_1", "relu"), ("conv1_2", "conv"), ("relu1_2", "relu"), ("pool1", "pool"),
           ("conv2_1", "conv"), ("relu2_1", "relu"), ("conv2_2", "conv"), ("relu2_2", "relu")]
_x = _r.standard_normal((1, 3, 8, 8))
_c = tf.constant(_r.standard_normal((1, 8, 8, 3)))
_s = tf.constant(_r.standard_normal((1, 8, 8, 3)))
_k = {_n: (tf.constant(_w[_n][0].transpose(2, 3, 1, 0)), tf.constant(_w[_n][1])) for _n in _shapes}


def _tf_feats(_h):
    _out = {}
    for _name, _kind in _layers:
        if _kind == "conv":
            _h = tf.nn.bias_add(tf.nn.conv2d(_h, _k[_name][0], 1, "SAME"), _k[_name][1])
        elif _kind == "relu":
            _h = tf.nn.relu(_h)
        else:
            _h = tf.nn.max_pool2d(_h, 2, 2, "VALID")
        _out[_name] = _h
    return _out


_fc, _fs = _tf_feats(_c), _tf_feats(_s)
for _cl, _sl, (_al, _be, _ga) in [("relu2_2", ("relu1_1", "relu2_1"), (1.0, 3.0, 0.7)),
                                  ("relu2_1", ("relu1_2", "relu2_1", "relu2_2"), (0.5, 2.0, 0.0))]:
    _tg = {"content": _fc[_cl].numpy().transpose(0, 3, 1, 2),
           "style": {_l: tf.einsum("nhwi,nhwj->nij", _fs[_l], _fs[_l]).numpy() for _l in _sl}}
    _xt = tf.constant(_x.transpose(0, 2, 3, 1))
    with tf.GradientTape() as _tape:
        _tape.watch(_xt)
        _f = _tf_feats(_xt)
        _lc = tf.reduce_sum(tf.square(_f[_cl] - _fc[_cl])) / (2.0 * float(np.prod(_f[_cl].shape)))
        _ls = 0.0
        for _l in _sl:
            _n, _h, _ww, _ch = _f[_l].shape
            _ls += tf.reduce_sum(tf.square(tf.einsum("nhwi,nhwj->nij", _f[_l], _f[_l]) - _tg["style"][_l])) / (4.0 * _n * _ch * _ch * (_h * _ww) ** 2) / len(_sl)
        _lt = (tf.reduce_sum(tf.square(_xt[:, 1:] - _xt[:, :-1])) + tf.reduce_sum(tf.square(_xt[:, :, 1:] - _xt[:, :, :-1]))) / (2.0 * 192.0)
        _tot = _al * _lc + _be * _ls + _ga * _lt
    _ref_dx = _tape.gradient(_tot, _xt).numpy().transpose(0, 3, 1, 2)
    _got_l, _got_dx = loss_and_grad(_x, _tg, _w, _layers, _al, _be, _ga, content_layer=_cl, style_layers=_sl)
    assert type(_got_dx) is np.ndarray and _got_dx.shape == (1, 3, 8, 8) and _got_dx.dtype == np.float64, "hidden: total dx shape/dtype"
    for _key, _ref in [("content", _lc), ("style", _ls), ("tv", _lt), ("total", _tot)]:
        _ref = float(_ref.numpy())
        assert abs(float(_got_l[_key]) - _ref) <= 1e-9 * abs(_ref), f"hidden: total loss, key {_key}"
    assert float((_got_dx - _ref_dx).__abs__().max()) < 1e-9 * float(_ref_dx.__abs__().max()), f"hidden: total gradient vs TensorFlow (content {_cl})"
### END HIDDEN TESTS

# %% [markdown]
# ## 9. Style transfer
#
# Everything is in place. `stylise` starts from the content photograph, computes the targets
# once, and then repeats: loss and gradient (your `loss_and_grad`), one Adam step (your
# `adam_step`), and a clip of the pixels to [0, 255]. The weights are the ones the book's
# figures use (`ALPHA`, `BETA`, `GAMMA`, `LR`): $\alpha = 1$, $\beta = 10^{-3}$, $\gamma = 10$ and a
# learning rate of 10 (in pixel units: a pixel moves by about 10 grey levels or less per step).
# In full mode (300 steps at 256×256) this takes a while: every step is a forward and a
# backward pass through VGG — section 12 measures one. Quick mode runs a few steps on a tiny image. The result is saved in
# `output/`.

# %% [demo]
def stylise(content_image, style_image, iterations, alpha=ALPHA, beta=BETA, gamma=GAMMA, lr=LR,
            content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS, weights=pretrained, desc="style transfer"):
    """Optimise the pixels (Adam, clipped to [0, 255]); return (uint8 image, {loss name: list per step})."""
    deepest = max([content_layer, *style_layers], key=[name for name, _ in LAYERS].index)
    layers = vgg_layers(weights.depth, deepest)
    content_x, style_x = to_network(content_image), to_network(style_image)
    targets = make_targets(content_x, style_x, weights, layers, content_layer, style_layers)
    x, m, v = content_x.copy(), np.zeros_like(content_x), np.zeros_like(content_x)
    history = {"content": [], "style": [], "tv": [], "total": []}
    for t in progress(range(1, iterations + 1), desc=desc, total=iterations):
        losses, dx = loss_and_grad(x, targets, weights, layers, alpha, beta, gamma, content_layer, style_layers)
        x, m, v = adam_step(x, dx, m, v, t, lr)
        x = np.clip(x, LOW, HIGH)
        for key in history:
            history[key].append(losses[key])
    return to_image(x), history


result, history = stylise(content_image, style_image, ITERATIONS)
saved = images.save_image(result, OUTPUT / f"{CONTENT_NAME}_{STYLE_NAME}_{SIZE}.png")
print("saved", saved)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.9))
for ax, im, title in zip(axes, [content_image, style_image, result],
                         ["content", f"style ({STYLE_NAME})", f"{ITERATIONS} Adam steps"]):
    ax.imshow(im)
    ax.set_title(title)
    ax.axis("off")
fig.suptitle(f"Style transfer, {SIZE}×{SIZE}, VGG{pretrained.depth}{RANDOM_NOTE}")
plt.show()

# %% [markdown]
# ## 10. The loss curves
#
# The three parts of the loss behave differently: the style term (times $\beta$) starts large
# and falls by orders of magnitude, the content term starts at zero (the optimisation starts
# from the photograph) and rises as the style is painted in, and the total variation first rises
# with the new texture, then is held down by $\gamma$.

# %% [demo]
steps = np.arange(1, ITERATIONS + 1)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
for ax, key, scale, label in zip(axes, ["content", "style", "tv"], [ALPHA, BETA, GAMMA],
                                 ["α·L_content (5.1)", "β·L_style (5.6)", "γ·L_tv (5.7)"]):
    ax.plot(steps, scale * np.asarray(history[key]))
    ax.set_title(label)
    ax.set_xlabel("Adam step")
    if key == "style":
        ax.set_yscale("log")
fig.tight_layout()
fig.savefig(OUTPUT / "loss_curves.png", dpi=90)
plt.show()
print({key: f"{values[0]:.4g} -> {values[-1]:.4g}" for key, values in history.items()})

# %% [markdown]
# ## 11. How much style, and which layers?
#
# The ratio $\beta / \alpha$ decides how much of the photograph survives. The layers decide the
# *scale* of the style: Gram matrices of relu1_1 capture colours and fine grain, those of
# relu5_1 whole motifs. The sweeps run smaller (`SWEEP_SIZE`) to save time.

# %% [demo]
sweep_content = images.load_image(CONTENT_NAME, size=(SWEEP_SIZE, SWEEP_SIZE))
sweep_style = styles.load_style(STYLE_NAME, size=(SWEEP_SIZE, SWEEP_SIZE))
betas = [1e-5, 1e-4, 1e-3, 1e-2]
layer_sets = {"relu1_1": ("relu1_1",), "relu1_1 … relu3_1": ("relu1_1", "relu2_1", "relu3_1")}
runs = {f"β = {b:g}": stylise(sweep_content, sweep_style, SWEEP_ITERATIONS, beta=b, desc=f"β = {b:g}")[0]
        for b in betas}
runs.update({name: stylise(sweep_content, sweep_style, SWEEP_ITERATIONS, style_layers=ls, desc=name)[0]
             for name, ls in layer_sets.items()})
runs["relu1_1 … relu5_1"] = runs[f"β = {BETA:g}"]                 # the same run as above
fig, axes = plt.subplots(2, 4, figsize=(12, 6.4))
for ax, (title, im) in zip(axes.flat, runs.items()):
    ax.imshow(im)
    ax.set_title(title, fontsize=10)
axes[1, 3].imshow(sweep_style)
axes[1, 3].set_title("the style image", fontsize=10)
for ax in axes.flat:
    ax.axis("off")
fig.suptitle(f"Top: β sweep (all five style layers). Bottom: style layers used (β = {BETA:g}). "
             f"{SWEEP_SIZE}×{SWEEP_SIZE}, {SWEEP_ITERATIONS} steps{RANDOM_NOTE}", fontsize=10)
fig.tight_layout()
fig.savefig(OUTPUT / "sweeps.png", dpi=80)
plt.show()

# %% [markdown]
# ## 12. How fast is it?
#
# One iteration is a forward pass to relu5_1, the losses, a backward pass and an Adam step. The
# cell below times yours against the compiled TensorFlow step of section 7 on the same image.
# `bench/style_transfer.py` does it at 256×256; the course's goal is NumPy within 3× of
# TensorFlow. (Most of the time goes into the convolutions of both passes, computed by
# TensorFlow in both cases — so where does the rest go?)

# %% [demo]
x0 = to_network(content_image)
bench_targets = make_targets(x0, to_network(style_image), pretrained, LAYERS)
tf_step, _ = make_tf_step(x0, pretrained, LAYERS, bench_targets, ALPHA, BETA, GAMMA, LR)


def numpy_step(state={"x": x0, "m": np.zeros_like(x0), "v": np.zeros_like(x0), "t": 0}):
    state["t"] += 1
    _, g = loss_and_grad(state["x"], bench_targets, pretrained, LAYERS, ALPHA, BETA, GAMMA)
    x, state["m"], state["v"] = adam_step(state["x"], g, state["m"], state["v"], state["t"], LR)
    state["x"] = np.clip(x, LOW, HIGH)


repeat = config.pick(3, 1)
t_np = timing.median_time(numpy_step, repeat=repeat, warmup=1)
t_tf = timing.median_time(lambda: float(tf_step()), repeat=repeat, warmup=1)
print(timing.ratio_table({"numpy (yours)": t_np, "tensorflow": t_tf}, baseline="numpy (yours)"))
print(f"numpy / tensorflow = {t_np / t_tf:.2f} per iteration ({SIZE}×{SIZE})")

# %% [markdown]
# ## Check yourself
#
# 1. Why is the content loss (5.1) zero at the first step, and why is its gradient then zero
#    too? What moves the image at the start?
# 2. The Gram matrix (5.3) throws away *where* features are. Shuffle the pixels' positions
#    within a feature map: which loss changes, which does not?
# 3. Derive (5.5) from (5.4): where does the factor 4 go, and why does the symmetry of $G$
#    matter?
# 4. In `features_backward`, what would go wrong if you *replaced* the gradient coming from
#    above by the one in `dacts` instead of adding them (5.10)?
# 5. With bias correction, how far does the first Adam step move each pixel (5.11)? What
#    happens in the first steps without it?
# 6. `conv_backward` computes `dw` and `db` that nobody uses. Which identity lets you compute
#    only `dx` — as a convolution — and how much time would that save?
