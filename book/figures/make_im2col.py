"""Draw book/figures/im2col.png: patches of the input become columns of a matrix.

Run once after changing the figure (it is committed as a PNG, so the book build needs
no code for it):

    .venv/bin/python book/figures/make_im2col.py
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

OUT = Path(__file__).resolve().with_name("im2col.png")
H = W = 4          # one 4×4 input channel
K = 3              # 3×3 kernel, stride 1, no padding -> 2×2 output, 4 windows
COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e"]


def cell(ax, x, y, text, face="white", edge="#444444", size=1.0, fontsize=10, lw=0.8):
    ax.add_patch(Rectangle((x, y), size, size, facecolor=face, edgecolor=edge, lw=lw))
    ax.text(x + size / 2, y + size / 2, text, ha="center", va="center", fontsize=fontsize)


def main() -> Path:
    fig, ax = plt.subplots(figsize=(11, 4.4))
    ax.set_xlim(-0.5, 23.5)
    ax.set_ylim(-1.0, 10.2)
    ax.set_aspect("equal")
    ax.axis("off")
    values = [[r * W + c + 1 for c in range(W)] for r in range(H)]
    windows = [(i, j) for i in range(H - K + 1) for j in range(W - K + 1)]

    # 1. the input with its four 3×3 windows
    x0, y0 = 0.0, 3.0
    for r in range(H):
        for c in range(W):
            cell(ax, x0 + c, y0 + (H - 1 - r), f"{values[r][c]}", face="#f4f4f4")
    for q, (i, j) in enumerate(windows):
        inset = 0.06 + 0.07 * q
        ax.add_patch(Rectangle((x0 + j + inset, y0 + (H - K - i) + inset), K - 2 * inset, K - 2 * inset,
                               fill=False, edgecolor=COLOURS[q], lw=2.2))
    ax.text(x0 + W / 2, y0 + H + 0.5, "input $X$ (one channel, 4×4)\nfour 3×3 windows, stride 1",
            ha="center", va="bottom", fontsize=10)

    ax.add_patch(FancyArrowPatch((4.5, 5.0), (6.7, 5.0), arrowstyle="-|>", mutation_scale=18, lw=1.5))
    ax.text(5.6, 5.35, "im2col", ha="center", va="bottom", fontsize=11, style="italic")

    # 2. cols: one column per window, rows ordered (c_in, k_h, k_w)
    cx0, cy0, s = 8.3, 0.5, 0.95
    for q, (i, j) in enumerate(windows):
        for r in range(K * K):
            kh, kw = divmod(r, K)
            cell(ax, cx0 + q * s, cy0 + (K * K - 1 - r) * s, f"{values[i + kh][j + kw]}",
                 face=COLOURS[q] + "33", edge=COLOURS[q], size=s, fontsize=9)
    for r in range(K * K):
        kh, kw = divmod(r, K)
        ax.text(cx0 - 0.15, cy0 + (K * K - 1 - r) * s + s / 2, f"({kh},{kw})", ha="right", va="center",
                fontsize=7, color="#555555")
    ax.text(cx0 + 2 * s, cy0 + K * K * s + 0.25, "cols  ($C_{in}K_hK_w$ × $N H_{out} W_{out}$ = 9 × 4)\n"
            "column $q$ = window $q$", ha="center", va="bottom", fontsize=10)
    ax.text(cx0 - 1.0, cy0 - 0.55, "row = $(k_h, k_w)$", fontsize=7, color="#555555")

    # 3. one matrix product, then reshape
    mx = 13.1
    ax.text(mx, 4.8, "$W_{mat}$ · cols", fontsize=12, va="center")
    ax.text(mx, 3.7, "($C_{out}$ × 9)(9 × 4)", fontsize=8, va="center", color="#555555")
    ax.add_patch(FancyArrowPatch((mx + 3.0, 4.8), (mx + 4.0, 4.8), arrowstyle="-|>", mutation_scale=18, lw=1.5))
    yx0 = mx + 4.3
    for q in range(4):
        cell(ax, yx0 + q * 0.9, 4.35, f"$y_{q}$", face=COLOURS[q] + "33", edge=COLOURS[q], size=0.9)
    ax.text(yx0 + 1.8, 5.55, "$Y_{mat}$ ($C_{out}$ × 4)", ha="center", fontsize=10)
    ax.add_patch(FancyArrowPatch((yx0 + 1.8, 4.2), (yx0 + 1.8, 3.0), arrowstyle="-|>", mutation_scale=15, lw=1.2))
    ax.text(yx0 + 2.0, 3.55, "reshape", fontsize=9, style="italic")
    for q, (i, j) in enumerate(windows):
        cell(ax, yx0 + 0.9 + j * 0.9, 1.9 - i * 0.9, f"$y_{q}$", face=COLOURS[q] + "33", edge=COLOURS[q], size=0.9)
    ax.text(yx0 + 1.8, -0.45, "output $Y$ (2×2 per channel)", ha="center", fontsize=10)

    fig.tight_layout()
    fig.savefig(OUT, dpi=120, bbox_inches="tight", facecolor="white", metadata={"Software": None})
    plt.close(fig)
    return OUT


if __name__ == "__main__":
    print(main())
