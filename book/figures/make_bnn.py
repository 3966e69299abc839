"""Draw the figures of book/bnn.md (they are committed as PNGs; the book build runs no code).

    .venv/bin/python book/figures/make_bnn.py            # all three figures
    .venv/bin/python book/figures/make_bnn.py popcount   # only some of: popcount ste vgg

* bnn_popcount.png — a dot product of two ±1 vectors read off their bits: XOR, popcount.
* bnn_ste.png      — sign() in the forward pass and the straight-through gradient.
* bnn_vgg.png      — VGG16 with every convolution's weights replaced by alpha·sign(W): cosine
  similarity of its feature maps to the float network's, and between different images, per
  layer. Uses the ImageNet weights `source_lib.vgg` finds (python -m source_lib.fetch_weights),
  else seeded random weights — the title says which.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
PLUS, MINUS = "#4a7ab5", "#e8e8e8"


def popcount_figure() -> Path:
    a = np.array([1, -1, -1, 1, 1, 1, -1, 1])
    b = np.array([1, 1, -1, -1, 1, -1, -1, 1])
    rows = [("a", a, "±1"), ("b", b, "±1"), ("x = bits(a)", (a > 0).astype(int), "bit"),
            ("y = bits(b)", (b > 0).astype(int), "bit"), ("x XOR y", ((a > 0) ^ (b > 0)).astype(int), "bit"),
            ("a · b (products)", a * b, "±1")]
    fig, ax = plt.subplots(figsize=(9.5, 3.9))
    for r, (label, values, kind) in enumerate(rows):
        y = len(rows) - 1 - r
        ax.text(-0.3, y + 0.5, label, ha="right", va="center", fontsize=11)
        for j, v in enumerate(values):
            if kind == "bit":
                face = "#f2c14e" if (label.startswith("x XOR") and v) else ("#cfe0f3" if v else "white")
                text = str(v)
            else:
                face = PLUS if v > 0 else MINUS
                text = "+1" if v > 0 else "−1"
            ax.add_patch(Rectangle((j, y + 0.08), 0.92, 0.84, facecolor=face, edgecolor="#555555", lw=0.8))
            ax.text(j + 0.46, y + 0.5, text, ha="center", va="center", fontsize=11,
                    color="white" if (kind != "bit" and v > 0) else "black")
    n, d = len(a), int(((a > 0) ^ (b > 0)).sum())
    ax.text(8.4, 1.5, f"popcount(x XOR y) = {d}\n\nn − 2·popcount = {n} − 2·{d} = {n - 2 * d}",
            va="center", fontsize=11)
    ax.text(8.4, 0.5, f"sum of products = {int(a @ b)}", va="center", fontsize=11)
    ax.set_xlim(-3.2, 14)
    ax.set_ylim(-0.1, len(rows) + 0.1)
    ax.axis("off")
    out = HERE / "bnn_popcount.png"
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def ste_figure() -> Path:
    r = np.linspace(-2.5, 2.5, 1001)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0))
    axes[0].plot(r, np.where(r >= 0, 1.0, -1.0), color=PLUS, lw=2, label="sign(r), forward")
    axes[0].plot(r, np.clip(r, -1, 1), color="#d62728", ls="--", lw=1.5, label="clip(r, −1, 1), what the STE differentiates")
    axes[0].set_title("forward")
    axes[0].set_xlabel("r")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].plot(r, np.zeros_like(r), color=PLUS, lw=2, label="true derivative of sign (0 a.e.)")
    axes[1].plot(r, (np.abs(r) <= 1).astype(float), color="#d62728", ls="--", lw=1.5, label="straight-through: 1 where |r| ≤ 1")
    axes[1].set_ylim(-0.2, 1.4)
    axes[1].set_title("backward: ∂q/∂r")
    axes[1].set_xlabel("r")
    axes[1].legend(fontsize=8, loc="upper left")
    for ax in axes:
        ax.axhline(0, color="#999999", lw=0.5)
        ax.axvline(0, color="#999999", lw=0.5)
    fig.tight_layout()
    out = HERE / "bnn_ste.png"
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


def vgg_figure() -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from source_lib import images, vgg

    weights = vgg.load_pretrained(depth=16, include_top=False)
    label = "seeded RANDOM weights" if weights.random else "ImageNet weights"
    names = ["astronaut", "coffee", "chelsea", "rocket", "grace_hopper"]
    photos = np.stack([images.load_image(n, size=(224, 224)) for n in names]).astype(np.float32)
    x = photos - weights.mean_rgb                                    # NHWC, RGB minus mean
    layers = vgg.conv_names(16)
    last_of_block = {f"conv{b + 1}_{n}" for b, n in enumerate(vgg.CONFIGS[16])}

    def features(binary: bool) -> dict:
        h, out = tf.constant(x), {}
        for name in layers:
            w, bias = weights[name]
            if binary:    # alpha·sign(W), alpha = mean |W| of each output filter
                scale = np.abs(w).mean(axis=(1, 2, 3), keepdims=True)
                w = np.where(w < 0, -scale, scale).astype(np.float32)
            h = tf.nn.relu(tf.nn.conv2d(h, w.transpose(2, 3, 1, 0), 1, "SAME") + bias)
            out[name] = h.numpy().reshape(len(names), -1)
            if name in last_of_block:
                h = tf.nn.max_pool2d(h, 2, 2, "VALID")
        return out

    def unit(v):
        return v / (np.linalg.norm(v, axis=1, keepdims=True) + 1e-12)

    f, fb = features(False), features(True)
    to_float = [float((unit(f[n]) * unit(fb[n])).sum(1).mean()) for n in layers]
    k = len(names)

    def between(v):
        s = unit(v) @ unit(v).T
        return float((s.sum() - k) / (k * k - k))

    fig, ax = plt.subplots(figsize=(8.5, 3.4))
    ax.plot(layers, to_float, marker="o", label="binarised vs float, same image")
    ax.plot(layers, [between(f[n]) for n in layers], marker="s", label="between different images, float")
    ax.plot(layers, [between(fb[n]) for n in layers], marker="s", label="between different images, binarised")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("cosine similarity (ReLU outputs)")
    ax.tick_params(axis="x", rotation=60)
    ax.set_title(f"VGG16, every convolution binarised to α·sign(W), no retraining ({label}, 5 photos)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = HERE / "bnn_vgg.png"
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    for n, s in zip(layers, to_float):
        print(f"{n}: to float {s:.3f}, between images float {between(f[n]):.3f}, binarised {between(fb[n]):.3f}")
    return out


def main(argv: list[str]) -> None:
    makers = {"popcount": popcount_figure, "ste": ste_figure, "vgg": vgg_figure}
    for name in argv or list(makers):
        print("wrote", makers[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
