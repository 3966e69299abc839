"""Draw the figures of book/mixed_precision_sparsity.md (committed as PNGs; the book build runs no code).

    .venv/bin/python book/figures/make_mixed_precision_sparsity.py                 # all four
    .venv/bin/python book/figures/make_mixed_precision_sparsity.py formats scaler  # only some of:
                                                          formats scaler training breakeven
    ... --results DIR      where the notebook wrote its JSON results
                           (default notebooks/mixed_precision_sparsity/output)

* mixed_precision_formats.png         — bit layouts of float32, float16 and bfloat16 with their range.
* mixed_precision_scaler.png          — the dynamic loss scaler (10.5) on a linear model with float16
  gradients, computed here with the assignment's instructor functions (bench.solutions).
* mixed_precision_sparse_training.png — test accuracy per epoch of the sparse-training experiment;
  reads sparse_training.json written by a FULL run of the notebook.
* mixed_precision_breakeven.png       — sparse vs dense product time against sparsity; reads
  matmul_times.json written by a FULL run of the notebook.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
COLORS = {"sign": "#e07a5f", "exponent": "#81b29a", "fraction": "#4a7ab5"}
DEFAULT_RESULTS = REPO / "notebooks" / "mixed_precision_sparsity" / "output"


def save(fig, name: str) -> Path:
    out = HERE / name
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    print("wrote", out)
    return out


def formats_figure() -> Path:
    rows = [("float32", 8, 23, "±3.4e38", "1.2e-38", "1.4e-45", "2^-23 ≈ 1.2e-7"),
            ("float16", 5, 10, "65504", "6.1e-5", "6.0e-8", "2^-10 ≈ 9.8e-4"),
            ("bfloat16", 8, 7, "±3.4e38", "1.2e-38", "9.2e-41", "2^-7 ≈ 7.8e-3")]
    fig, ax = plt.subplots(figsize=(11, 2.9))
    cell = 0.25
    for r, (name, e, p, big, norm, sub, eps) in enumerate(rows):
        y = 2 - r
        ax.text(-0.2, y + 0.35, name, ha="right", va="center", fontsize=11, weight="bold")
        x = 0.0
        for kind, count in (("sign", 1), ("exponent", e), ("fraction", p)):
            for _ in range(count):
                ax.add_patch(Rectangle((x, y + 0.1), cell * 0.92, 0.5, facecolor=COLORS[kind], edgecolor="white"))
                x += cell
            label = {"sign": "s", "exponent": f"exp. {count}", "fraction": f"fraction {count}"}[kind]
            ax.text(x - count * cell / 2, y + 0.8, label, ha="center", va="center", fontsize=8)
        ax.text(8.6, y + 0.35, f"max {big}   min normal {norm}   min subnormal {sub}   spacing at 1: {eps}",
                va="center", fontsize=9)
    ax.set_xlim(-2.0, 17.5)
    ax.set_ylim(-0.1, 3.1)
    ax.axis("off")
    return save(fig, "mixed_precision_formats.png")


def scaler_figure() -> Path:
    from bench.solutions import load_solutions

    ns = load_solutions("mixed_precision_sparsity")
    step, update, backward16 = ns["loss_scaled_sgd_step"], ns["update_loss_scale"], ns["linear_backward16"]
    rng = np.random.default_rng(9)
    w_true = rng.standard_normal((8, 1)).astype(np.float32)
    w = np.zeros((8, 1), np.float32)
    scale, good, scales, applied, errors = 2.0**24, 0, [], [], []
    for t in range(300):
        xb = rng.standard_normal((32, 8)).astype(np.float32)
        dy = (xb @ w - xb @ w_true) / 32
        if 150 <= t < 153:
            dy = dy * 1e3
        w, _, finite = step(w, backward16(xb, dy), 0.1, scale)
        scale, good, ok = update(scale, good, finite, growth_interval=20)
        scales.append(scale)
        applied.append(ok)
        errors.append(float(np.abs(w - w_true).max()))
    scales, applied = np.array(scales), np.array(applied)
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    ax[0].semilogy(scales, drawstyle="steps-post", base=2)
    ax[0].plot(np.nonzero(~applied)[0], scales[~applied], "rx", label=f"skipped step ({(~applied).sum()})")
    ax[0].set_xlabel("step"); ax[0].set_ylabel("loss scale S"); ax[0].legend(); ax[0].set_title("dynamic loss scale")
    ax[1].semilogy(errors); ax[1].set_xlabel("step"); ax[1].set_ylabel("max |w − w_true|")
    ax[1].set_title("float32 master weights")
    fig.tight_layout()
    return save(fig, "mixed_precision_scaler.png")


def training_figure(results: Path) -> Path:
    data = json.loads((results / "sparse_training.json").read_text())
    res, epochs = data["results"], data["epochs"]
    levels = sorted({float(k.split("/")[1]) for k in res if not k.startswith("dense")})
    fig, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.2), sharey=True)
    for ax, s in zip(axes, levels):
        for method, label in [("dense", "dense"), ("magnitude", "gradual magnitude"), ("random", "random fixed mask"),
                              ("momentum", "sparse momentum")]:
            key = "dense/0.0" if method == "dense" else f"{method}/{s}"
            curves = np.array([r["curve"] for r in res[key]])
            ax.plot(np.arange(1, epochs + 1), curves.mean(0), label=label, ls="--" if method == "dense" else "-")
        ax.set_title(f"{s:.0%} sparse"); ax.set_xlabel("epoch"); ax.set_ylim(0.8, 1.0); ax.grid(alpha=0.3)
        final = np.mean([r["curve"][-1] for r in res[f"random/{s}"]])
        if final < 0.8:
            ax.text(0.5, 0.05, f"random fixed mask: {final:.0%} (below the axis)", transform=ax.transAxes,
                    ha="center", fontsize=8, color="C2")
    axes[0].set_ylabel("test accuracy (digits)")
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"64-300-100-10 MLP, mean of {len(data['seeds'])} seeds", fontsize=10)
    fig.tight_layout()
    return save(fig, "mixed_precision_sparse_training.png")


def breakeven_figure(results: Path) -> Path:
    data = json.loads((results / "matmul_times.json").read_text())
    M, K, N = data["shape"]
    levels = np.array(data["levels"]) * 100
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, t in data["times"].items():
        t = np.array(t, dtype=float) * 1e3
        name = "assignment csr_matmul (NumPy)" if name == "your csr_matmul" else name
        ax.plot(levels, t, marker="o", ms=3, label=name, lw=2.5 if name.startswith("dense") else 1.3,
                color="black" if name.startswith("dense") else None)
    ax.set_yscale("log"); ax.set_xlabel("sparsity (%)"); ax.set_ylabel("ms per product")
    ax.set_title(f"{M}×{K} sparse @ {K}×{N}, float32"); ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0)); ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, "mixed_precision_breakeven.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", nargs="*", default=["formats", "scaler", "training", "breakeven"])
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)
    for name in args.which:
        if name in ("training", "breakeven") and not args.results.exists():
            raise SystemExit(f"{args.results} not found: run the notebook in full mode first "
                             "(jupyter nbconvert --execute notebooks/mixed_precision_sparsity/mixed_precision_sparsity.ipynb)")
        {"formats": formats_figure, "scaler": scaler_figure,
         "training": lambda: training_figure(args.results), "breakeven": lambda: breakeven_figure(args.results)}[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
