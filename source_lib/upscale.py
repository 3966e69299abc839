"""Upscale an image with a Real-ESRGAN model, tile by tile. (Defined in chapter 9, Deploying a real
super-resolution network.)

    python -m source_lib.upscale --model animevideov3 --input photo.png --output photo_x4.png
    python -m source_lib.upscale --model x4plus --input astronaut --output out.png --tile 96

The model is read from its ncnn files by ``source_lib.ncnn`` (run ``python -m
source_lib.fetch_models`` once to get them). A large image is cut into tiles with an overlap on
every side; each tile is upscaled on its own and only its centre is kept, so memory stays bounded
by the tile size. With an overlap at least as large as the network's receptive-field radius the
result equals the whole-image result; smaller overlaps leave faint seams (chapter 9 measures it).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import images


def tile_boxes(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of the tiles that cover an image; the last ones may be smaller."""
    if tile < 1:
        raise ValueError(f"tile must be at least 1 pixel, got {tile}")
    return [(y, x, min(y + tile, height), min(x + tile, width))
            for y in range(0, height, tile) for x in range(0, width, tile)]


def upscale_tiled(run: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *, scale: int = 4,
                  tile: int = 128, overlap: int = 18, show_progress: bool = True) -> np.ndarray:
    """Apply `run` ((1, h, w, 3) float32 -> (1, h·scale, w·scale, 3)) to an (H, W, 3) float image
    tile by tile; each tile sees `overlap` extra input pixels on every side. Returns float32
    (H·scale, W·scale, 3)."""
    image = images.check_image(image)
    if image.dtype.kind != "f":
        raise ValueError(f"upscale_tiled expects a float image in [0, 1], got dtype {image.dtype}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    h, w, _ = image.shape
    out = np.zeros((h * scale, w * scale, 3), np.float32)
    boxes = tile_boxes(h, w, tile)
    if show_progress:
        from .progress import progress
        boxes = progress(boxes, desc="tiles")
    for top, left, bottom, right in boxes:
        t0, l0 = max(top - overlap, 0), max(left - overlap, 0)
        b0, r0 = min(bottom + overlap, h), min(right + overlap, w)
        y = np.asarray(run(np.ascontiguousarray(image[None, t0:b0, l0:r0], dtype=np.float32)))[0]
        if y.shape[:2] != ((b0 - t0) * scale, (r0 - l0) * scale):
            raise ValueError(f"run returned shape {y.shape} for a {(b0 - t0, r0 - l0)} tile; "
                             f"expected {scale}× larger")
        dy, dx = (top - t0) * scale, (left - l0) * scale
        out[top * scale:bottom * scale, left * scale:right * scale] = \
            y[dy:dy + (bottom - top) * scale, dx:dx + (right - left) * scale]
    return out


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from . import ncnn
    parser = argparse.ArgumentParser(description="Upscale an image 4× with a Real-ESRGAN model.")
    parser.add_argument("--model", default="animevideov3", help=f"one of {', '.join(ncnn.MODELS)}")
    parser.add_argument("--input", required=True, help="image file, or a sample name such as 'astronaut'")
    parser.add_argument("--output", required=True, help="where to write the upscaled PNG/JPEG")
    parser.add_argument("--tile", type=int, default=128, help="tile side in input pixels (default 128)")
    parser.add_argument("--overlap", type=int, default=18,
                        help="extra input pixels per tile side (default 18: exact for animevideov3, whose "
                             "18 convolutions 3x3 see 18 pixels; the RRDB models see further, raise it "
                             "if seams show)")
    args = parser.parse_args(argv)
    if args.model not in ncnn.MODELS:
        parser.error(f"unknown model {args.model!r}; choose one of {', '.join(ncnn.MODELS)}")
    image = images.to_float(images.load_image(args.input))
    model = ncnn.load_model(args.model)
    import tensorflow as tf
    call = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    start = time.perf_counter()
    out = upscale_tiled(lambda t: call(tf.constant(t)).numpy(), image, tile=args.tile, overlap=args.overlap)
    path = images.save_image(np.clip(out, 0.0, 1.0), Path(args.output))
    print(f"{args.input}: {image.shape[1]}×{image.shape[0]} -> {out.shape[1]}×{out.shape[0]} "
          f"with {args.model} in {time.perf_counter() - start:.1f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
