# %% [config] timeout=300 partial=preprocessing_center_crop_box,preprocessing_central_fraction_box,preprocessing_normalize

# %% [markdown] id=preprocessing_header locked
# # Chapter 1 — Image preprocessing
#
# Before an image reaches a network it is resized, cropped and normalised. These steps look
# trivial, yet two pipelines that "both keep the central 87.5 %" give different pixels, and a
# network trained with one and fed with the other loses accuracy. In this assignment you
# implement both classic pipelines twice — with Pillow and with `tf.image` — and measure how
# they differ.
#
# **Learning goals**
# 1. Compute centre-crop boxes exactly, equations (1.1) and (1.2) of the book chapter.
# 2. Implement (a) *resize to 256×256, then centre-crop 224×224* and (b) *centre-crop 0.875,
#    then resize to 224×224*, with Pillow and with `tf.image`.
# 3. Normalise an image for an ImageNet network, equation (1.3).
# 4. See why the order of the steps and the library both matter, and what data augmentation does.
#
# Images are NumPy arrays of shape `(H, W, 3)`, dtype `uint8`, RGB. Fill in every cell that says
# `YOUR CODE HERE`, then run the test cell below it. Hidden tests run when the notebook is graded.

# %% [locked] id=preprocessing_imports
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import matplotlib.pyplot as plt
from PIL import Image
import tensorflow as tf

from source_lib import config, images, plot
from source_lib.checks import assert_close, assert_equal, check_array, passed

print(config.banner())
photo = images.load_image("chelsea")      # 451 × 300, not square on purpose
print("photo:", photo.shape, photo.dtype)

# %% [markdown]
# ## 1. Crop boxes
#
# A box is `(top, left, bottom, right)` in pixel indices, so the crop is
# `image[top:bottom, left:right]`. For a centre crop of size `crop_h × crop_w` from an
# `H × W` image, equation **(1.1)**:
#
# $$ \text{top} = \left\lfloor \frac{H - h_c}{2} \right\rfloor,\quad
#    \text{left} = \left\lfloor \frac{W - w_c}{2} \right\rfloor,\quad
#    \text{bottom} = \text{top} + h_c,\quad \text{right} = \text{left} + w_c. $$
#
# Raise a `ValueError` if the crop is larger than the image or not positive.

# %% [solution] id=preprocessing_center_crop_box
def center_crop_box(height, width, crop_h, crop_w):
    """Box (top, left, bottom, right) of a crop_h × crop_w centre crop, equation (1.1)."""
    ### BEGIN SOLUTION
    if crop_h <= 0 or crop_w <= 0:
        raise ValueError(f"crop size must be positive, got {crop_h}×{crop_w}")
    if crop_h > height or crop_w > width:
        raise ValueError(f"crop {crop_h}×{crop_w} is larger than the image {height}×{width}")
    top = (height - crop_h) // 2
    left = (width - crop_w) // 2
    return (top, left, top + crop_h, left + crop_w)
    ### END SOLUTION

# %% [tests] id=preprocessing_center_crop_box_test points=2 needs=preprocessing_center_crop_box
assert center_crop_box(256, 256, 224, 224) == (16, 16, 240, 240), "256×256 → 224×224 keeps rows and columns 16…239"
assert center_crop_box(5, 8, 2, 3) == (1, 2, 3, 5), "odd margins round down: (5-2)//2 = 1, (8-3)//2 = 2"
try:
    center_crop_box(10, 10, 11, 4)
except ValueError:
    pass
else:
    raise AssertionError("a crop taller than the image must raise ValueError")
passed("center_crop_box")
### BEGIN HIDDEN TESTS
box = center_crop_box(300, 451, 224, 224)
assert tuple(int(v) for v in box) == (38, 113, 262, 337), "hidden: 300×451 image, 224×224 crop"
assert tuple(int(v) for v in center_crop_box(7, 7, 7, 7)) == (0, 0, 7, 7), "hidden: crop of the full image"
for bad in [(4, 4, 0, 2), (4, 4, 2, 5)]:
    try:
        center_crop_box(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"hidden: center_crop_box{bad} must raise ValueError")
### END HIDDEN TESTS

# %% [markdown]
# A *central fraction* crop keeps the central fraction $f$ of each side. Following
# `tf.image.central_crop`, the margin is computed first and rounded down, and the crop is what
# is left between two equal margins — equation **(1.2)**:
#
# $$ \text{top} = \left\lfloor \frac{H (1 - f)}{2} \right\rfloor,\quad
#    \text{bottom} = H - \text{top},\qquad
#    \text{left} = \left\lfloor \frac{W (1 - f)}{2} \right\rfloor,\quad
#    \text{right} = W - \text{left}. $$
#
# Raise a `ValueError` unless $0 < f \le 1$.

# %% [solution] id=preprocessing_central_fraction_box
def central_fraction_box(height, width, fraction):
    """Box (top, left, bottom, right) keeping the central `fraction` of each side, equation (1.2)."""
    ### BEGIN SOLUTION
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    top = int((height - height * fraction) / 2)
    left = int((width - width * fraction) / 2)
    return (top, left, height - top, width - left)
    ### END SOLUTION

# %% [tests] id=preprocessing_central_fraction_box_test points=2 needs=preprocessing_central_fraction_box
assert central_fraction_box(512, 512, 0.875) == (32, 32, 480, 480), "512 × 0.875 = 448: margins of 32"
assert central_fraction_box(427, 640, 0.875) == (26, 40, 401, 600), "427 rows: margin floor(26.69) = 26"
for bad in (0, 1.5):
    try:
        central_fraction_box(10, 10, bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"fraction={bad} must raise ValueError")
passed("central_fraction_box")
### BEGIN HIDDEN TESTS
# Independent reference: tf.image.central_crop on an image whose pixel values are their own indices.
for (h, w, f) in [(300, 451, 0.875), (33, 17, 0.5), (9, 9, 1.0), (224, 300, 0.3)]:
    index = np.arange(h * w, dtype=np.float64).reshape(h, w, 1)
    ref = tf.image.central_crop(index, f).numpy()
    t, l, b, r = (int(v) for v in central_fraction_box(h, w, f))
    assert (b - t, r - l) == ref.shape[:2], f"hidden: crop size for {h}×{w}, f={f}"
    assert divmod(int(ref[0, 0, 0]), w) == (t, l), f"hidden: crop position for {h}×{w}, f={f}"
### END HIDDEN TESTS

# %% [markdown]
# ## 2. The two pipelines with Pillow
#
# * **(a)** resize the whole image to `resize × resize` with bilinear filtering
#   (`Image.BILINEAR`), then take the centre `crop × crop` box of equation (1.1);
# * **(b)** take the central-fraction box of equation (1.2) at the original resolution, then
#   resize that crop to `size × size` (bilinear).
#
# Both return `uint8` arrays of shape `(crop, crop, 3)` and `(size, size, 3)`. Use
# `Image.fromarray`, `Image.resize((width, height), Image.BILINEAR)` and your box functions.

# %% [solution] id=preprocessing_pil
def resize_then_crop_pil(image, resize=256, crop=224):
    """Pipeline (a) with Pillow: (H, W, 3) uint8 -> (crop, crop, 3) uint8."""
    ### BEGIN SOLUTION
    big = np.asarray(Image.fromarray(image).resize((resize, resize), Image.BILINEAR))
    top, left, bottom, right = center_crop_box(resize, resize, crop, crop)
    return big[top:bottom, left:right].copy()
    ### END SOLUTION


def crop_then_resize_pil(image, fraction=0.875, size=224):
    """Pipeline (b) with Pillow: (H, W, 3) uint8 -> (size, size, 3) uint8."""
    ### BEGIN SOLUTION
    top, left, bottom, right = central_fraction_box(image.shape[0], image.shape[1], fraction)
    cropped = Image.fromarray(image[top:bottom, left:right])
    return np.asarray(cropped.resize((size, size), Image.BILINEAR)).copy()
    ### END SOLUTION

# %% [tests] id=preprocessing_pil_test points=2 needs=preprocessing_pil,preprocessing_center_crop_box,preprocessing_central_fraction_box
a = resize_then_crop_pil(photo)
b = crop_then_resize_pil(photo)
check_array(a, "resize_then_crop_pil(photo)", shape=(224, 224, 3), dtype=np.uint8)
check_array(b, "crop_then_resize_pil(photo)", shape=(224, 224, 3), dtype=np.uint8)
ref_a = np.asarray(Image.fromarray(photo).resize((256, 256), Image.BILINEAR))[16:240, 16:240]
assert_equal(a, ref_a, "resize_then_crop_pil(photo)")
passed("Pillow pipelines have the right shape and type; (a) matches the reference")
### BEGIN HIDDEN TESTS
ref_b = np.asarray(Image.fromarray(photo[18:282, 28:423]).resize((224, 224), Image.BILINEAR))
for got, ref in [(a, ref_a), (b, ref_b)]:
    assert type(got) is np.ndarray and got.dtype == np.uint8 and got.shape == (224, 224, 3), "hidden: type/shape"
    assert int((got.astype(np.int16) - ref.astype(np.int16)).__abs__().max()) == 0, "hidden: Pillow pipeline pixels"
small = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(40, 30, 3)
got = crop_then_resize_pil(small, fraction=0.5, size=8)
ref = np.asarray(Image.fromarray(small[10:30, 7:23]).resize((8, 8), Image.BILINEAR))
assert type(got) is np.ndarray and got.shape == (8, 8, 3), "hidden: small crop_then_resize_pil shape"
assert int((got.astype(np.int16) - ref.astype(np.int16)).__abs__().max()) == 0, "hidden: small crop_then_resize_pil pixels"
got = resize_then_crop_pil(small, resize=20, crop=12)
ref = np.asarray(Image.fromarray(small).resize((20, 20), Image.BILINEAR))[4:16, 4:16]
assert type(got) is np.ndarray and got.shape == (12, 12, 3), "hidden: small resize_then_crop_pil shape"
assert int((got.astype(np.int16) - ref.astype(np.int16)).__abs__().max()) == 0, "hidden: small resize_then_crop_pil pixels"
### END HIDDEN TESTS

# %% [markdown]
# ## 3. The same pipelines with `tf.image`
#
# Use `tf.image.resize(x, (h, w), method="bilinear")` (which works in float32 and by default
# does **not** low-pass filter when shrinking) and slice with the same boxes. Return `uint8`
# arrays: round to the nearest integer and clip to $[0, 255]$ before casting.

# %% [solution] id=preprocessing_tf
def resize_then_crop_tf(image, resize=256, crop=224):
    """Pipeline (a) with tf.image: (H, W, 3) uint8 -> (crop, crop, 3) uint8."""
    ### BEGIN SOLUTION
    big = tf.image.resize(tf.convert_to_tensor(image, tf.float32), (resize, resize), method="bilinear")
    top, left, bottom, right = center_crop_box(resize, resize, crop, crop)
    out = tf.clip_by_value(tf.round(big[top:bottom, left:right]), 0, 255)
    return tf.cast(out, tf.uint8).numpy()
    ### END SOLUTION


def crop_then_resize_tf(image, fraction=0.875, size=224):
    """Pipeline (b) with tf.image: (H, W, 3) uint8 -> (size, size, 3) uint8."""
    ### BEGIN SOLUTION
    top, left, bottom, right = central_fraction_box(image.shape[0], image.shape[1], fraction)
    cropped = tf.convert_to_tensor(image[top:bottom, left:right], tf.float32)
    out = tf.image.resize(cropped, (size, size), method="bilinear")
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8).numpy()
    ### END SOLUTION

# %% [tests] id=preprocessing_tf_test points=2 needs=preprocessing_tf,preprocessing_center_crop_box,preprocessing_central_fraction_box
a_tf = resize_then_crop_tf(photo)
b_tf = crop_then_resize_tf(photo)
check_array(a_tf, "resize_then_crop_tf(photo)", shape=(224, 224, 3), dtype=np.uint8)
check_array(b_tf, "crop_then_resize_tf(photo)", shape=(224, 224, 3), dtype=np.uint8)
ref_b_tf = tf.image.resize(tf.image.central_crop(photo.astype(np.float32), 0.875), (224, 224)).numpy()
assert_close(b_tf, np.clip(np.rint(ref_b_tf), 0, 255), "crop_then_resize_tf(photo)", atol=0)
passed("tf.image pipelines have the right shape and type; (b) matches tf.image.central_crop + resize")
### BEGIN HIDDEN TESTS
ref_a_tf = tf.image.resize_with_crop_or_pad(tf.image.resize(photo.astype(np.float32), (256, 256)), 224, 224).numpy()
ref_a_tf = tf.cast(tf.clip_by_value(tf.round(ref_a_tf), 0, 255), tf.uint8).numpy()
ref_b_tf = tf.cast(tf.clip_by_value(tf.round(ref_b_tf), 0, 255), tf.uint8).numpy()
for got, ref in [(a_tf, ref_a_tf), (b_tf, ref_b_tf)]:
    assert type(got) is np.ndarray and got.dtype == np.uint8 and got.shape == (224, 224, 3), "hidden: type/shape"
    assert int((got.astype(np.int16) - ref.astype(np.int16)).__abs__().max()) == 0, "hidden: tf.image pipeline pixels"
ramp = np.tile(np.linspace(0, 255, 50, dtype=np.float32), (20, 1))[..., None].repeat(3, axis=2).astype(np.uint8)
got = crop_then_resize_tf(ramp, fraction=0.5, size=10)
ref = tf.cast(tf.round(tf.image.resize(tf.image.central_crop(ramp.astype(np.float32), 0.5), (10, 10))), tf.uint8).numpy()
assert type(got) is np.ndarray and got.shape == (10, 10, 3), "hidden: ramp shape"
assert int((got.astype(np.int16) - ref.astype(np.int16)).__abs__().max()) == 0, "hidden: ramp pixels"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. Normalising for the network
#
# Networks trained on ImageNet expect each channel standardised with the training set's mean
# and standard deviation, equation **(1.3)**:
#
# $$ \hat{x}_{h,w,c} = \frac{x_{h,w,c}/255 - \mu_c}{\sigma_c},\qquad
#    \mu = (0.485, 0.456, 0.406),\quad \sigma = (0.229, 0.224, 0.225). $$
#
# Return `float32`, same shape as the input. Raise `ValueError` if the image is not
# `(H, W, 3)`.

# %% [solution] id=preprocessing_normalize
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(image, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """Equation (1.3): (H, W, 3) uint8 -> (H, W, 3) float32."""
    ### BEGIN SOLUTION
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"normalize expects (H, W, 3), got {image.shape}")
    x = image.astype(np.float32) / 255.0
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)
    ### END SOLUTION

# %% [tests] id=preprocessing_normalize_test points=2 needs=preprocessing_normalize
white = np.full((2, 3, 3), 255, np.uint8)
out = normalize(white)
check_array(out, "normalize(white)", shape=(2, 3, 3), dtype=np.float32)
assert_close(out[0, 0], [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], "normalize(white)[0, 0]")
try:
    normalize(np.zeros((4, 4), np.uint8))
except ValueError:
    pass
else:
    raise AssertionError("a grey (H, W) image must raise ValueError")
passed("normalize")
### BEGIN HIDDEN TESTS
px = np.array([[[0, 128, 51]]], np.uint8)
got = normalize(px)
assert type(got) is np.ndarray and got.dtype == np.float32 and got.shape == (1, 1, 3), "hidden: normalize type/shape"
expect = [(0 / 255 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (51 / 255 - 0.406) / 0.225]
for c in range(3):
    assert abs(float(got[0, 0, c]) - expect[c]) < 1e-5, f"hidden: normalize channel {c}"
got = normalize(px, mean=(0, 0, 0), std=(1, 1, 1))
assert abs(float(got[0, 0, 1]) - 128 / 255) < 1e-6, "hidden: normalize honours mean and std arguments"
### END HIDDEN TESTS

# %% [markdown]
# ## 5. Does the order matter? Does the library matter?
#
# Both pipelines keep the central 87.5 % of each side (224/256 = 0.875), so on paper they see
# the same part of the photo. Run the cell below: it shows the four results and the difference
# maps. Where do the differences come from? Think about (i) the rounding of the crop box in
# (1.2) at the original resolution, (ii) which pixels the bilinear filter can see near the crop
# border in each order, and (iii) Pillow filtering over all source pixels when it shrinks while
# `tf.image.resize` samples just the nearest four (try `antialias=True`).

# %% [demo]
results = {
    "(a) Pillow": resize_then_crop_pil(photo),
    "(b) Pillow": crop_then_resize_pil(photo),
    "(a) tf.image": resize_then_crop_tf(photo),
    "(b) tf.image": crop_then_resize_tf(photo),
}
plot.show_images(results.values(), titles=results.keys(), ncols=4)
plt.show()

def mean_abs_diff(x, y):
    return float(np.abs(x.astype(np.float32) - y.astype(np.float32)).mean())

pairs = [("(a) Pillow", "(b) Pillow"), ("(a) tf.image", "(b) tf.image"),
         ("(a) Pillow", "(a) tf.image"), ("(b) Pillow", "(b) tf.image")]
for p, q in pairs:
    print(f"mean |{p} − {q}| = {mean_abs_diff(results[p], results[q]):5.2f} grey levels")
plot.show_images([np.abs(results[p].astype(int) - results[q].astype(int)).mean(axis=2).astype(np.uint8) * 8
                  for p, q in pairs], titles=[f"{p} vs {q}" for p, q in pairs], ncols=4,
                 suptitle="absolute differences (×8)")
plt.show()

# %% [markdown]
# ## 6. Data augmentation
#
# During training the crop is *random* and the image may be flipped or have its colours
# jittered, so that the network sees a slightly different picture every epoch. At test time the
# deterministic centre crop above is used. The cell below shows eight augmented views of one
# photo (random 224×224 crop of the 256×256 resize, horizontal flip with probability ½,
# brightness ±0.2, saturation ×[0.7, 1.3]).

# %% [demo]
rng = config.seed_everything(0)
base = np.asarray(Image.fromarray(photo).resize((256, 256), Image.BILINEAR))
views = []
for i in range(config.pick(8, 4)):
    top, left = rng.integers(0, 256 - 224 + 1, size=2)
    view = tf.convert_to_tensor(base[top:top + 224, left:left + 224], tf.float32) / 255.0
    if rng.random() < 0.5:
        view = tf.image.flip_left_right(view)
    view = tf.image.adjust_brightness(view, float(rng.uniform(-0.2, 0.2)))
    view = tf.image.adjust_saturation(view, float(rng.uniform(0.7, 1.3)))
    views.append(images.to_uint8(tf.clip_by_value(view, 0, 1).numpy()))
plot.show_images(views, ncols=4, size=2.2, suptitle="random crop + flip + colour jitter")
plt.show()

# %% [markdown]
# ## Check yourself
#
# 1. For a 300 × 451 photo, which rows does pipeline (a) keep, measured in the *original* image?
#    And pipeline (b)?
# 2. Why does `tf.image.resize` without `antialias=True` produce jagged edges when shrinking a
#    large photo by 4×, while Pillow does not?
# 3. A model was trained on pipeline (b) with mean/std normalisation. You serve it with
#    pipeline (a) and no normalisation. Which of the two mistakes hurts more, and why?
# 4. Why is the crop random during training but centred at test time?
