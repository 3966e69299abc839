"""Figures: image grids and bar charts. (Defined in chapter 1.)"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def show_images(images, titles=None, ncols: int | None = None, size: float = 3.0, suptitle: str | None = None):
    """Show a list of (H, W, 3) images side by side; return the matplotlib Figure."""
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("show_images: no images given")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"show_images: {len(images)} images but {len(titles)} titles")
    ncols = ncols or len(images)
    nrows = (len(images) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        image = np.asarray(image)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{title}\n{image.shape[1]}×{image.shape[0]}" if title else "")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def bar_chart(values: dict[str, float], ylabel: str, title: str = "", log: bool = False):
    """A labelled bar chart of `values`; return the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(values), 3.2))
    bars = ax.bar(list(values), list(values.values()), color="#4a7ab5")
    ax.bar_label(bars, fmt="%.3g")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save a figure, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
