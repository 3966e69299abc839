"""Draw the figures of book/super_resolution.md (committed as PNGs; the book build runs no code).

    .venv/bin/python book/figures/make_super_resolution.py            # both figures
    .venv/bin/python book/figures/make_super_resolution.py shuffle    # only some of: shuffle crops

* super_resolution_shuffle.png — which input channel lands on which sub-pixel: PyTorch/ncnn pixel
  shuffle against tf.nn.depth_to_space, for C = 2 output channels and r = 2.
* super_resolution_crops.png   — a drawing and a photograph shrunk 4×, then upscaled by bicubic and
  by Real-ESRGAN animevideov3 (source_lib.ncnn; run python -m source_lib.fetch_models first),
  with PSNR on Y.
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
COLORS = ["#4a7ab5", "#7fa7d6", "#b5cdea", "#dde8f5", "#c2571a", "#e08a4f", "#f0b78c", "#f9dcc6"]


def shuffle_figure() -> Path:
    r, c = 2, 2
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), gridspec_kw={"width_ratios": [2.3, 1, 1]})
    ax = axes[0]
    for k in range(c * r * r):
        ax.add_patch(Rectangle((k, 0), 0.9, 0.9, facecolor=COLORS[k], edgecolor="#444"))
        ax.text(k + 0.45, 0.45, str(k), ha="center", va="center", fontsize=12)
    ax.set_xlim(-0.2, 8); ax.set_ylim(-0.5, 1.4); ax.axis("off")
    ax.set_title("input: 8 channels at one pixel (h, w)", fontsize=10)
    for ax, title, index in [(axes[1], "PyTorch / ncnn PixelShuffle\nchannel c·r² + i·r + j", lambda ci, i, j: ci * r * r + i * r + j),
                             (axes[2], "tf.nn.depth_to_space\nchannel (i·r + j)·C + c", lambda ci, i, j: (i * r + j) * c + ci)]:
        for ci in range(c):
            for i in range(r):
                for j in range(r):
                    k = index(ci, i, j)
                    x0, y0 = ci * (r + 0.4) + j, r - 1 - i
                    ax.add_patch(Rectangle((x0, y0), 0.95, 0.95, facecolor=COLORS[k], edgecolor="#444"))
                    ax.text(x0 + 0.47, y0 + 0.47, str(k), ha="center", va="center", fontsize=11)
            ax.text(ci * (r + 0.4) + r / 2, -0.35, f"output channel {ci}", ha="center", fontsize=8)
        ax.set_xlim(-0.2, c * (r + 0.4)); ax.set_ylim(-0.6, r + 0.1); ax.set_aspect("equal"); ax.axis("off")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = HERE / "super_resolution_shuffle.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def crops_figure() -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from PIL import Image, ImageDraw

    from source_lib import images, ncnn

    def y(img):
        return 16 + 65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]

    def psnr(a, b):
        return 10 * np.log10(255.0**2 / np.mean((y(a) - y(b))[4:-4, 4:-4] ** 2))

    rng = np.random.default_rng(0)
    im = Image.new("RGB", (256, 256), (250, 240, 220))
    draw = ImageDraw.Draw(im)
    for _ in range(14):
        x0, y0 = rng.integers(0, 216, 2)
        s = int(rng.integers(16, 64))
        draw.ellipse([int(x0), int(y0), int(x0) + s, int(y0) + s], fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
                     outline=(0, 0, 0), width=3)
    sources = {"drawing": np.asarray(im), "photo": images.load_image("coffee", size=(256, 256))}
    model = ncnn.load_model("animevideov3")
    fig, axes = plt.subplots(2, 4, figsize=(10.5, 5.6))
    for row, (name, hr) in zip(axes, sources.items()):
        lr = np.asarray(Image.fromarray(hr).resize((64, 64), Image.BICUBIC))
        lr_f, hr_f = images.to_float(lr), images.to_float(hr)
        bic = np.clip(tf.image.resize(lr_f[None], (256, 256), "bicubic").numpy()[0], 0, 1)
        sr = np.clip(model(lr_f[None]).numpy()[0], 0, 1)
        crop = (slice(64, 192), slice(64, 192))
        panels = [(lr_f.repeat(4, 0).repeat(4, 1), "input, 64×64 (nearest ×4)"),
                  (bic, f"bicubic, {psnr(bic, hr_f):.2f} dB"), (sr, f"Real-ESRGAN, {psnr(sr, hr_f):.2f} dB"),
                  (hr_f, "original 256×256")]
        for ax, (img, title) in zip(row, panels):
            ax.imshow(img[crop]); ax.set_title(f"{name}: {title}" if ax is row[0] else title, fontsize=8); ax.axis("off")
    fig.suptitle("centre crops; PSNR on Y against the original", fontsize=10)
    fig.tight_layout()
    path = HERE / "super_resolution_crops.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


FIGURES = {"shuffle": shuffle_figure, "crops": crops_figure}

if __name__ == "__main__":
    for key in sys.argv[1:] or FIGURES:
        print("wrote", FIGURES[key]())
