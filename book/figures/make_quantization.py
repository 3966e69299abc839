"""Draw the figures of book/quantization.md (they are committed as PNGs; the book build runs no code).

    .venv/bin/python book/figures/make_quantization.py              # all figures
    .venv/bin/python book/figures/make_quantization.py histograms   # only some of: grid histograms style

* quantization_grid.png       — the int8 grid of (7.1): codes, step, rounding and saturation.
* quantization_histograms.png — weights and conv-input activations of one layer (res.2.0) of
  the pretrained style network (chapter 6, style 3) with the clipping thresholds of max,
  99.99th-percentile and KL calibration over the bundled photographs (128×128).
* quantization_style.png      — the stylised image at float32 and from the full-int8 LiteRT
  model (256×256), and their difference.

The quantizer and the Keras network come from the instructor solution of notebooks/quantization
(bench.solutions.load_solutions), so regenerate the notebook first.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE.parent.parent / "bench"))
STYLE = 3
CALIBRATION = ["astronaut", "coffee", "rocket", "grace_hopper", "brick", "grass", "gravel"]


def _solutions():
    from solutions import load_solutions
    return load_solutions("quantization")


def _load(name, size):
    from source_lib import images
    return images.load_image(name, size=(size, size)).astype(np.float32)[None] / 255.0


def grid_figure() -> Path:
    ns = _solutions()
    x = np.linspace(-1.6, 1.6, 2001)
    position, scale = ns["choose_position_scale"](np.array([1.0]))
    step = 2.0 ** position / scale
    # a 3-bit-like coarse view for readability: the same rule with m = 1 and 7 levels per side
    coarse = 1.0 / 7
    q = np.clip(np.round(x / coarse), -8, 7) * coarse
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].plot(x, x, color="0.7", lw=1, label="x")
    axes[0].plot(x, q, color="C0", lw=1.6, label="dequantize(quantize(x))")
    axes[0].axvspan(-1.6, -8 * coarse - coarse / 2, color="C3", alpha=0.1)
    axes[0].axvspan(7 * coarse + coarse / 2, 1.6, color="C3", alpha=0.1, label="saturation")
    axes[0].set_title("rounding and saturation (4-bit codes, for visibility)", fontsize=10)
    axes[0].set_xlabel("x"); axes[0].legend(fontsize=8)
    xs = np.random.default_rng(0).uniform(-1, 1, 20000)
    err = xs - ns["fake_quantize"](xs, position, scale)
    axes[1].hist(err / step, bins=60, color="0.45")
    axes[1].axvline(-0.5, color="C3", ls="--"); axes[1].axvline(0.5, color="C3", ls="--", label="± step / 2, (7.6)")
    axes[1].set_title(f"int8 error for max|x| = 1: position {position}, scale {scale:.4f}", fontsize=10)
    axes[1].set_xlabel("(x − x̂) / step"); axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = HERE / "quantization_grid.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def histogram_figure(size: int = 128, layer: str = "res.2.0") -> Path:
    from source_lib import multistyle

    ns = _solutions()
    weights = multistyle.load_weights()
    taps = ns["build_transform_net"](weights, STYLE, (size, size), taps=True)
    calib = [c for n in CALIBRATION for c in (_load(n, size), _load(n, size)[:, :, ::-1].copy())]
    k = ns["STYLE_LAYERS"].index(layer)
    acts = [taps(c)[1 + k].numpy() for c in calib]
    thresholds = {m: ns["calibrate"](acts, m) for m in ("max", "percentile", "kl")}
    w = weights[layer + ".w"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].hist(w.ravel(), bins=120, color="0.45")
    m = float(np.abs(w).max())
    axes[0].axvline(m, color="C3", ls="--", label=f"± max |w| = {m:.3f} (per tensor)")
    axes[0].axvline(-m, color="C3", ls="--")
    per_channel = np.abs(w).reshape(len(w), -1).max(axis=1)
    axes[0].plot(per_channel, np.full(len(w), 0.8), "v", color="C1", ms=4, label="per-channel max (32 filters)")
    axes[0].set_yscale("log"); axes[0].set_title(f"{layer}: weights", fontsize=10); axes[0].legend(fontsize=8)
    values = np.concatenate([a.ravel() for a in acts])
    axes[1].hist(values, bins=150, color="0.45")
    for (name, t), c in zip(thresholds.items(), ["C3", "C1", "C2"]):
        axes[1].axvline(t, color=c, ls="--", label=f"{name}: T = {t:.2f}")
    axes[1].set_yscale("log")
    axes[1].set_title(f"{layer}: input activations, {len(calib)} images {size}×{size}", fontsize=10)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path = HERE / "quantization_histograms.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def style_figure(size: int = 256) -> Path:
    from source_lib import multistyle, tflite_tools

    ns = _solutions()
    weights = multistyle.load_weights()
    net = ns["build_transform_net"](weights, STYLE, (size, size))
    content = _load("chelsea", size)
    calib = [c for n in CALIBRATION for c in (_load(n, size), _load(n, size)[:, :, ::-1].copy())]
    y = net(content).numpy()[0]
    y8 = tflite_tools.Runner(tflite_tools.convert(net, "int8", representative=calib))(content)[0]
    yd = tflite_tools.Runner(tflite_tools.convert(net, "dynamic"))(content)[0]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    panels = [(y, "float32"), (yd, f"LiteRT dynamic range, {tflite_tools.psnr(yd, y):.1f} dB"),
              (y8, f"LiteRT full int8, {tflite_tools.psnr(y8, y):.1f} dB")]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(np.clip(img, 0, 1)); ax.set_title(title, fontsize=9); ax.axis("off")
    im = axes[3].imshow(np.abs(y8 - y).mean(axis=-1), cmap="magma")
    axes[3].set_title("|full int8 − float32| (mean over RGB)", fontsize=9); axes[3].axis("off")
    fig.colorbar(im, ax=axes[3], fraction=0.046)
    fig.tight_layout()
    path = HERE / "quantization_style.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str]) -> None:
    makers = {"grid": grid_figure, "histograms": histogram_figure, "style": style_figure}
    for name in argv or list(makers):
        print("wrote", makers[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
