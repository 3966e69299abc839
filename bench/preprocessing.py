"""Chapter 1 benchmark: Pillow vs tf.image for the two evaluation pipelines.

Prints the median time of each pipeline on a full-size photo, measured in one run,
and each method's speed relative to pipeline (a) with Pillow; saves a bar chart to
_build/bench/preprocessing.png.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, images, plot, timing  # noqa: E402


def main() -> None:
    ns = load_solutions("preprocessing")
    photo = images.load_image("astronaut" if not config.quick() else "chelsea")
    repeat = config.pick(20, 3)
    methods = {
        "(a) Pillow": lambda: ns["resize_then_crop_pil"](photo),
        "(b) Pillow": lambda: ns["crop_then_resize_pil"](photo),
        "(a) tf.image": lambda: ns["resize_then_crop_tf"](photo),
        "(b) tf.image": lambda: ns["crop_then_resize_tf"](photo),
    }
    times = {name: timing.median_time(fn, repeat=repeat, warmup=2) for name, fn in methods.items()}
    print(f"photo {photo.shape[1]}×{photo.shape[0]}, median of {repeat} runs each")
    print(timing.ratio_table(times, baseline="(a) Pillow"))
    fig = plot.bar_chart({k: v * 1e3 for k, v in times.items()}, "milliseconds per image",
                         title="Preprocessing pipelines (median)")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "preprocessing.png"))


if __name__ == "__main__":
    main()
