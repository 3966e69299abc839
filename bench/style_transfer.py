"""Chapter 5 benchmark: one style-transfer iteration in NumPy against TensorFlow.

NumPy: the instructor solution of notebooks/style_transfer (see solutions.py) — `loss_and_grad`
(forward to relu5_1 with `source_lib.layers_tf`, content/style/TV losses and gradients, the
backward pass to the image) followed by `adam_step` and a clip of the pixels.
TensorFlow: the notebook's `make_tf_step`, the same iteration under `tf.GradientTape`, compiled
with `tf.function`. Both use the same VGG weights (the ImageNet VGG16 convolutions when
`python -m source_lib.fetch_weights` has run, else seeded random ones), the same content and
style images at 256×256 (64×64 in quick mode), float32, and the same loss weights.

The two gradients are checked to agree first (relative error below 1e-4). Times: median of
several iterations, the two methods measured in the same run with their calls alternating
(the machines are shared; a change of load then hits both). Prints seconds per iteration and
the ratio NumPy / TensorFlow (the course's goal: at most 3); saves a bar chart to
_build/bench/style_transfer.png.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, images, plot, styles, timing  # noqa: E402

GOAL = 3.0
SETTINGS = dict(alpha=1.0, beta=1e-3, gamma=10.0)
LR = 10.0


def setup(ns: dict, size: int):
    """The starting image, the targets and the two step functions (numpy, tensorflow)."""
    weights, layers = ns["pretrained"], ns["LAYERS"]
    content = ns["to_network"](images.load_image("astronaut", size=(size, size)))
    style = ns["to_network"](styles.load_style(styles.default_style(), size=(size, size)))
    targets = ns["make_targets"](content, style, weights, layers)
    state = {"x": content.copy(), "m": np.zeros_like(content), "v": np.zeros_like(content), "t": 0}

    def numpy_step():
        state["t"] += 1
        _, grad = ns["loss_and_grad"](state["x"], targets, weights, layers, **SETTINGS)
        x, state["m"], state["v"] = ns["adam_step"](state["x"], grad, state["m"], state["v"], state["t"], LR)
        state["x"] = np.clip(x, ns["LOW"], ns["HIGH"])

    tf_step, _ = ns["make_tf_step"](content, weights, layers, targets, lr=LR, **SETTINGS)
    return content, targets, numpy_step, lambda: float(tf_step())


def interleaved(run: dict, repeat: int) -> dict:
    """Median seconds per call of each method, calls alternating between the methods."""
    for fn in run.values():          # warm-up: tracing, first touch of memory
        fn()
    times = {name: [] for name in run}
    for _ in range(repeat):
        for name, fn in run.items():
            times[name].append(timing.median_time(fn, repeat=1, warmup=0))
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=config.pick(256, 64), help="image side (multiple of 16)")
    parser.add_argument("--repeat", type=int, default=config.pick(5, 2), help="timed iterations per method (median)")
    args = parser.parse_args(argv)

    ns = load_solutions("style_transfer")
    content, targets, numpy_step, tf_step = setup(ns, args.size)
    ours = ns["loss_and_grad"](content, targets, ns["pretrained"], ns["LAYERS"], **SETTINGS)[1]
    ref = ns["tf_loss_and_grad"](content, ns["pretrained"], ns["LAYERS"], targets, **SETTINGS)[1]
    err = float(np.abs(ours - ref).max() / np.abs(ref).max())
    assert err < 1e-4, f"NumPy and TensorFlow gradients disagree: relative error {err:.2e}"
    t = interleaved({"numpy": numpy_step, "tensorflow": tf_step}, args.repeat)
    ratio = t["numpy"] / t["tensorflow"]
    print(f"Style transfer iteration (forward to relu5_1, content + 5 style layers + TV, backward, Adam), "
          f"{args.size}×{args.size}, float32, {ns['pretrained'].describe()}; {os.cpu_count()} CPU cores; "
          f"median of {args.repeat} alternating iterations")
    print(f"{'method':>10}  {'s / iteration':>13}")
    for name, seconds in t.items():
        print(f"{name:>10}  {seconds:>13.3f}")
    print(f"gradient relative error numpy vs TF: {err:.1e}")
    print(f"\nnumpy / tensorflow: {ratio:.2f}  (goal <= {GOAL:g}: {'met' if ratio <= GOAL else 'NOT met'})")
    fig = plot.bar_chart({"numpy\n(layers_tf)": t["numpy"], "TensorFlow\n(tf.function)": t["tensorflow"]},
                         "seconds per iteration",
                         title=f"Style transfer, {args.size}×{args.size}, {os.cpu_count()} cores")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "style_transfer.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
