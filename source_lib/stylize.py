"""Stylise images with an offline style network, without TensorFlow. (Chapter 8.)

    python -m source_lib.stylize --model style.tflite --input photo.jpg --output out.png
    python -m source_lib.stylize --model style.tflite --input photos/ --output styled/

The model is a LiteRT flatbuffer exported in chapter 8 (``convert_to_tflite`` in
notebooks/inference); it is run by ``ai_edge_litert.interpreter.Interpreter`` through
`source_lib.offline_runtime` — this tool never imports TensorFlow, which is the point of
offline inference. A folder is processed file by file with a progress bar; every image must
have a width and height that are multiples of 4 (``--crop`` crops the few extra pixels
instead of stopping).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import offline_runtime

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class StylizeError(Exception):
    """A problem the user can fix (missing file, bad image, wrong size)."""


def crop_to_multiple(image, m: int = 4):
    """Crop the bottom/right rows and columns so that H and W are multiples of `m`."""
    h, w = image.shape[:2]
    if h < m or w < m:
        raise ValueError(f"image of {w}×{h} pixels is too small (at least {m}×{m})")
    return image[: h - h % m, : w - w % m]


def plan(input_path: Path, output_path: Path) -> list[tuple[Path, Path]]:
    """Pairs (source, destination) for a file or a folder of images."""
    if input_path.is_dir():
        sources = sorted(p for p in input_path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not sources:
            raise StylizeError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {input_path}")
        if output_path.exists() and not output_path.is_dir():
            raise StylizeError(f"--input is a folder, so --output must be a folder, not the file {output_path}")
        return [(p, output_path / (p.stem + ".png")) for p in sources]
    if not input_path.exists():
        raise StylizeError(f"input {input_path} not found")
    if output_path.is_dir():
        return [(input_path, output_path / (input_path.stem + ".png"))]
    return [(input_path, output_path)]


def run(model_path: str | Path, input_path: str | Path, output_path: str | Path, *,
        crop: bool = False, threads: int | None = None, show_progress: bool = True) -> list[Path]:
    """Stylise one image or a folder; returns the written paths. Raises StylizeError."""
    model_path, input_path, output_path = Path(model_path), Path(input_path), Path(output_path)
    jobs = plan(input_path, output_path)
    try:
        model = offline_runtime.OfflineModel(model_path, num_threads=threads)
    except (FileNotFoundError, ValueError) as err:
        raise StylizeError(str(err)) from None
    if len(jobs) > 1 and show_progress:
        from tqdm import tqdm

        jobs_iter = tqdm(jobs, desc="stylize", unit="img", file=sys.stderr)
    else:
        jobs_iter = jobs
    written = []
    for source, target in jobs_iter:
        try:
            image = offline_runtime.read_image(source)
            if crop:
                image = crop_to_multiple(image)
            out = offline_runtime.stylize(model, image)
        except (FileNotFoundError, ValueError, TypeError) as err:
            raise StylizeError(f"{source}: {err}") from None
        written.append(offline_runtime.write_image(out, target))
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m source_lib.stylize",
                                     description="Stylise images with an offline LiteRT style network (no TensorFlow).")
    parser.add_argument("--model", required=True, help="a .tflite file exported in chapter 8")
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--output", required=True, help="output image file, or folder (for a folder input)")
    parser.add_argument("--crop", action="store_true", help="crop sizes down to multiples of 4 instead of failing")
    parser.add_argument("--threads", type=int, default=None, help="interpreter threads (default: LiteRT's choice)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        written = run(args.model, args.input, args.output, crop=args.crop, threads=args.threads)
    except StylizeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} image(s) in {time.perf_counter() - start:.2f} s"
          + (f": {written[0]}" if len(written) == 1 else f" to {Path(args.output)}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
