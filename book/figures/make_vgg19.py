"""Draw book/figures/vgg19_filters.png and book/figures/vgg19_features.png.

Run once after `python -m source_lib.fetch_weights` (the PNGs are committed, so the book build
needs neither the weights nor TensorFlow):

    .venv/bin/python book/figures/make_vgg19.py

The activations are computed by TensorFlow (`source_lib.vgg.keras_activations`), not by the
assignment's NumPy code. Without a weight file the figures are drawn with seeded random weights
and their titles say so.
"""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from source_lib import images, vgg  # noqa: E402

HERE = Path(__file__).resolve().parent
SIZE = 224


def main() -> list[Path]:
    weights = vgg.load_pretrained(19, include_top=False)
    conv = {k: v for k, v in weights.items() if k.startswith("conv")}
    depth = weights.depth
    note = " — RANDOM weights (no weight file found)" if weights.random else " — ImageNet weights"
    written = []

    w1 = conv["conv1_1"][0].transpose(0, 2, 3, 1)
    lo, hi = w1.min(axis=(1, 2, 3), keepdims=True), w1.max(axis=(1, 2, 3), keepdims=True)
    fig, axes = plt.subplots(4, 16, figsize=(10, 2.9))
    for ax, tile in zip(axes.flat, (w1 - lo) / (hi - lo)):
        ax.imshow(tile, interpolation="nearest")
        ax.axis("off")
    fig.suptitle(f"The 64 conv1_1 filters of VGG{depth}, RGB, each scaled to [0, 1]{note}", fontsize=10)
    fig.tight_layout()
    written.append(HERE / "vgg19_filters.png")
    fig.savefig(written[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)

    photo = images.load_image("astronaut", size=(SIZE, SIZE))
    x = (photo.astype(np.float32) - vgg.MEAN_RGB).transpose(2, 0, 1)[None]
    acts = vgg.keras_activations(vgg.to_keras(conv, vgg.keras_model(depth, False, SIZE)), x)
    ends = [f"relu{b + 1}_{n}" for b, n in enumerate(vgg.CONFIGS[depth])]
    fig, axes = plt.subplots(len(ends), 5, figsize=(8.5, 1.75 * len(ends)))
    for row, name in zip(axes, ends):
        a = acts[name][0]
        row[0].imshow(photo)
        row[0].set_ylabel(f"{name}\n{a.shape[0]}×{a.shape[1]}×{a.shape[2]}", rotation=0, ha="right",
                          va="center", fontsize=9)
        for ax, ch in zip(row[1:], np.argsort(-a.mean(axis=(1, 2)))[:4]):
            ax.imshow(a[ch], cmap="magma")
            ax.set_title(f"channel {ch}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"VGG{depth}: the four most active channels at the end of each block{note}", fontsize=10)
    fig.tight_layout()
    written.append(HERE / "vgg19_features.png")
    fig.savefig(written[-1], dpi=80, bbox_inches="tight")
    plt.close(fig)
    return written


if __name__ == "__main__":
    for path in main():
        print("wrote", path)
