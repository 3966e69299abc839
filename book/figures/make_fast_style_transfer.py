"""Draw the figures of chapter 6 (real-time style transfer): book/figures/fast_style_*.png.

    .venv/bin/python book/figures/make_fast_style_transfer.py

* fast_style_grid.png and fast_style_blend.png: the pretrained multistyle26 network run by
  onnxruntime (`source_lib.multistyle.reference`; the assignment's Keras network gives the same
  images to 1e-4) on sample photos, all 26 styles, and a blend of two styles;
* fast_style_training.png and fast_style_frames.png: the network trained from scratch by
  ``python -m source_lib.train_style --style multistyle26:20 --out data/models/fast_style_multistyle20``
  (its SavedModel and history.json); skipped with a message if that folder does not exist.

The PNGs are committed: the book build needs neither the weights nor TensorFlow.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from source_lib import config, images, multistyle, train_style  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL = config.DATA_DIR / "models" / "fast_style_multistyle20"


def stylise(photo: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return multistyle.reference(photo.transpose(2, 0, 1)[None].copy(), weights)[0].transpose(1, 2, 0)


def grid(side: int = 128) -> Path:
    photos = ["chelsea", "astronaut"]
    fig, axes = plt.subplots(2 * len(photos), 14, figsize=(14 * 1.05, 2 * len(photos) * 1.1))
    for p, name in enumerate(photos):
        photo = images.to_float(images.load_image(name, size=(side, side)))
        cells = [("photo", photo)] + [(f"style {k}", stylise(photo, multistyle.one_hot(k))) for k in range(26)]
        cells.append(("mean of all", stylise(photo, np.full(26, 1 / 26, np.float32))))
        for i, (title, im) in enumerate(cells):
            ax = axes[2 * p + i // 14, i % 14]
            ax.imshow(im)
            ax.set_title(title, fontsize=6)
            ax.axis("off")
    fig.tight_layout(pad=0.2)
    path = HERE / "fast_style_grid.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def blend(a: int = 3, b: int = 17, side: int = 192) -> Path:
    photo = images.to_float(images.load_image("coffee", size=(side, side)))
    mixes = np.linspace(0, 1, 5)
    fig, axes = plt.subplots(1, 5, figsize=(12, 2.8))
    for ax, t in zip(axes, mixes):
        ax.imshow(stylise(photo, (1 - t) * multistyle.one_hot(a) + t * multistyle.one_hot(b)))
        ax.set_title(f"{1 - t:.2f} · style {a} + {t:.2f} · style {b}", fontsize=8)
        ax.axis("off")
    fig.tight_layout(pad=0.3)
    path = HERE / "fast_style_blend.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def trained(side: int = 256) -> list[Path]:
    if not (MODEL / "history.json").is_file():
        print(f"skipped the trained-network figures: no {MODEL} (run python -m source_lib.train_style "
              f"--style multistyle26:20 --out {MODEL})")
        return []
    run = train_style.load_savedmodel(MODEL)
    history = json.loads((MODEL / "history.json").read_text())
    info = json.loads((MODEL / "config.json").read_text())
    weights = train_style.LOSS_WEIGHTS
    style = np.asarray(Image.open(MODEL / "style.png"), np.float32) / 255
    names = ["astronaut", "chelsea", "rocket", "grace_hopper"]
    photos = np.stack([images.to_float(images.load_image(n, size=(side, side))) for n in names])
    styled = run(photos, [1.0])
    fig = plt.figure(figsize=(13, 6.4))
    ax = fig.add_subplot(2, 5, 1)
    ax.imshow(style)
    ax.set_title("style image", fontsize=9)
    ax.axis("off")
    ax = fig.add_subplot(2, 5, (6, 6))
    for name in ("total", "content", "style"):
        w = 1.0 if name == "total" else weights[name]
        values = np.array(history[name]) * w
        smooth = np.convolve(values, np.ones(10) / 10, mode="valid")
        ax.plot(smooth, label=name if name == "total" else f"{name} × {w:g}")
    ax.set_yscale("log")
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    ax.set_title("weighted losses (mean of 10 steps)", fontsize=8)
    for k in range(4):
        for row, im in ((0, photos[k]), (1, styled[k])):
            ax = fig.add_subplot(2, 5, 2 + k + 5 * row)
            ax.imshow(im)
            ax.axis("off")
    fig.suptitle(f"trained from scratch: {info['steps']} steps, batch {info['batch']}, {info['size']} px crops "
                 f"(widths {info['contract']}, {info['num_res']} residual blocks, up {info['expand']})", fontsize=10)
    fig.tight_layout()
    path = HERE / "fast_style_training.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)

    wide = images.load_image("coffee")
    frames = []
    for t in range(8):
        left = int(t * (wide.shape[1] - wide.shape[0]) / 7)
        crop = Image.fromarray(wide[:, left:left + wide.shape[0]]).resize((128, 128), Image.BILINEAR)
        frames.append(np.asarray(crop, np.float32) / 255)
    frames = np.stack(frames)
    out = run(frames, [1.0])
    fig, axes = plt.subplots(2, 8, figsize=(12.5, 3.4))
    for t in range(8):
        axes[0, t].imshow(frames[t])
        axes[1, t].imshow(out[t])
        axes[0, t].axis("off")
        axes[1, t].axis("off")
    fig.tight_layout(pad=0.2)
    path2 = HERE / "fast_style_frames.png"
    fig.savefig(path2, dpi=90)
    plt.close(fig)
    return [path, path2]


def main() -> list[Path]:
    written = [grid(), blend(), *trained()]
    for p in written:
        print("wrote", p)
    return written


if __name__ == "__main__":
    main()
