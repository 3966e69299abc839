"""Draw book/figures/style_transfer_result.png, style_transfer_losses.png and style_transfer_sweep.png.

Run once after `python -m source_lib.fetch_weights` (the PNGs are committed, so the book build
needs neither the weights nor TensorFlow):

    .venv/bin/python book/figures/make_style_transfer.py

The optimisation is the assignment's algorithm — losses (5.1), (5.4), (5.6), (5.7), (5.9) and
Adam (5.11) with the notebook's settings — computed with `tf.GradientTape` (the NumPy version
gives the same gradients to 1e-7 but is not in source_lib), so the figures do not depend on
anyone's solution. To keep the script short the main run has `--iterations` (80) Adam steps at
256×256 and the sweeps `--sweep-iterations` (50) steps at `--sweep-size` (96); the captions on
the book page say so. It needs about 4 minutes of CPU time (measured: 10 minutes of wall time
on a shared 2-core machine with a load average of 8). Without a weight file the figures use
seeded random weights and their titles say so.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from source_lib import images, styles, vgg  # noqa: E402

HERE = Path(__file__).resolve().parent
CONTENT = "astronaut"
CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
ALPHA, BETA, GAMMA, LR = 1.0, 1e-3, 10.0, 10.0        # the notebook's settings
BETAS = (1e-5, 1e-4, 1e-3, 1e-2)
LAYER_SETS = {"relu1_1": ("relu1_1",), "relu1_1 … relu3_1": ("relu1_1", "relu2_1", "relu3_1")}


def network(weights, last):
    """[(name, kind)] up to `last`, and the convolutions as TensorFlow (HWIO kernel, bias)."""
    names = vgg.layer_names(weights.depth, include_top=False)
    layers = [(n, n.rstrip("0123456789_")) for n in names[:names.index(last) + 1]]
    kernels = {n: (tf.constant(weights[n][0].transpose(2, 3, 1, 0)), tf.constant(weights[n][1]))
               for n, kind in layers if kind == "conv"}
    return layers, kernels


def features(x, layers, kernels):
    out, h = {}, x
    for name, kind in layers:
        if kind == "conv":
            h = tf.nn.bias_add(tf.nn.conv2d(h, kernels[name][0], 1, "SAME"), kernels[name][1])
        elif kind == "relu":
            h = tf.nn.relu(h)
        else:
            h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        out[name] = h
    return out


def gram(f):
    return tf.einsum("nhwi,nhwj->nij", f, f)


def to_input(image):
    return tf.constant((image.astype(np.float32) - vgg.MEAN_RGB)[None])


def stylise(weights, content_image, style_image, iterations, beta=BETA, style_layers=STYLE_LAYERS):
    """Adam on the pixels from the content image; returns (uint8 image, {loss: array per step})."""
    order = vgg.layer_names(weights.depth, include_top=False)
    layers, kernels = network(weights, max([CONTENT_LAYER, *style_layers], key=order.index))
    content, style = to_input(content_image), to_input(style_image)
    target = features(content, layers, kernels)[CONTENT_LAYER]
    style_feats = features(style, layers, kernels)
    grams = {layer: gram(style_feats[layer]) for layer in style_layers}
    image = tf.Variable(content)
    m, v, t = tf.Variable(tf.zeros_like(content)), tf.Variable(tf.zeros_like(content)), tf.Variable(0.0)
    low, high = tf.constant(-vgg.MEAN_RGB), tf.constant(255.0 - vgg.MEAN_RGB)
    size = float(np.prod(content.shape))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            f = features(image, layers, kernels)
            l_content = tf.reduce_sum(tf.square(f[CONTENT_LAYER] - target)) / (2.0 * float(np.prod(target.shape)))
            l_style = 0.0
            for layer in style_layers:
                n, h, w, c = f[layer].shape
                l_style += (tf.reduce_sum(tf.square(gram(f[layer]) - grams[layer])) /
                            (4.0 * n * c * c * (h * w) ** 2) / len(style_layers))
            l_tv = (tf.reduce_sum(tf.square(image[:, 1:] - image[:, :-1])) +
                    tf.reduce_sum(tf.square(image[:, :, 1:] - image[:, :, :-1]))) / (2.0 * size)
            total = ALPHA * l_content + beta * l_style + GAMMA * l_tv
        g = tape.gradient(total, image)
        t.assign_add(1.0)
        m.assign(0.9 * m + 0.1 * g)
        v.assign(0.999 * v + 0.001 * g * g)
        image.assign(tf.clip_by_value(image - LR * (m / (1 - 0.9 ** t)) / (tf.sqrt(v / (1 - 0.999 ** t)) + 1e-8),
                                      low, high))
        return tf.stack([l_content, l_style, l_tv])

    history = np.array([step().numpy() for _ in range(iterations)])
    result = np.clip(np.rint(image.numpy()[0] + vgg.MEAN_RGB), 0, 255).astype(np.uint8)
    return result, {"content": history[:, 0], "style": history[:, 1], "tv": history[:, 2]}


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=80)
    parser.add_argument("--sweep-size", type=int, default=96)
    parser.add_argument("--sweep-iterations", type=int, default=50)
    parser.add_argument("--style", default=None, help="a style of source_lib.styles (default: its default)")
    args = parser.parse_args(argv)
    weights = vgg.load_pretrained(19, include_top=False)
    note = " — RANDOM weights (no weight file found)" if weights.random else ""
    style_name = args.style or styles.default_style()
    written, start = [], time.perf_counter()

    content = images.load_image(CONTENT, size=(args.size, args.size))
    style = styles.load_style(style_name, size=(args.size, args.size))
    result, history = stylise(weights, content, style, args.iterations)
    print(f"main run: {time.perf_counter() - start:.0f} s")
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, im, title in zip(axes, [content, style, result],
                             ["content", f"style: {style_name}", f"result, {args.iterations} Adam steps"]):
        ax.imshow(im)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle(f"Style transfer by optimisation, {args.size}×{args.size}, VGG{weights.depth}{note}", fontsize=10)
    fig.tight_layout()
    written.append(HERE / "style_transfer_result.png")
    fig.savefig(written[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    steps = np.arange(1, args.iterations + 1)
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    for ax, key, scale, label in zip(axes, ["content", "style", "tv"], [ALPHA, BETA, GAMMA],
                                     ["α · content loss (5.1)", "β · style loss (5.6)", "γ · total variation (5.7)"]):
        ax.plot(steps, scale * history[key])
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("Adam step")
        if key == "style":
            ax.set_yscale("log")
    fig.tight_layout()
    written.append(HERE / "style_transfer_losses.png")
    fig.savefig(written[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)

    s = args.sweep_size
    content_s = images.load_image(CONTENT, size=(s, s))
    style_s = styles.load_style(style_name, size=(s, s))
    runs = {f"β = {b:g}": stylise(weights, content_s, style_s, args.sweep_iterations, beta=b)[0] for b in BETAS}
    runs.update({name: stylise(weights, content_s, style_s, args.sweep_iterations, style_layers=ls)[0]
                 for name, ls in LAYER_SETS.items()})
    runs["relu1_1 … relu5_1"] = runs[f"β = {BETA:g}"]
    print(f"sweeps done: {time.perf_counter() - start:.0f} s")
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.6))
    for ax, (title, im) in zip(axes.flat, runs.items()):
        ax.imshow(im)
        ax.set_title(title, fontsize=9)
    axes[1, 3].imshow(style_s)
    axes[1, 3].set_title("style image", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(f"Top: style weight β (α = 1, all five style layers). Bottom: style layers used (β = {BETA:g}). "
                 f"{s}×{s}, {args.sweep_iterations} steps{note}", fontsize=9)
    fig.tight_layout()
    written.append(HERE / "style_transfer_sweep.png")
    fig.savefig(written[-1], dpi=90, bbox_inches="tight")
    plt.close(fig)
    print(f"total: {time.perf_counter() - start:.0f} s")
    return written


if __name__ == "__main__":
    for path in main():
        print("wrote", path)
