"""Chapter 2 benchmark: convolution by loops, by im2col + one matrix product, and by TensorFlow.

One VGG-like layer (N=2, C_in=C_out=64, 56×56, 3×3 kernel, stride 1, padding 1, float32),
all methods measured in one run (median of several runs each). Prints

* the speed-up of im2col over the loops, forward and backward;
* the ratio of the im2col forward to tf.nn.conv2d on the same input.

The loops take seconds per call, so they are timed on the first `--channels` output
channels only (their cost is proportional to the number of output channels: one
iteration per (n, c_out, h, w)) and scaled to all 64; the script prints the factor.
The implementations are the instructor solutions of notebooks/conv_pool (see solutions.py).
Saves a bar chart to _build/bench/conv_pool.png.

NumPy's BLAS runs on one thread by default (`--blas-threads`): on a small machine shared
with TensorFlow's thread pool, a multi-threaded OpenBLAS whose threads spin-wait for each
other made the timings erratic (the same call took 10 ms or 250 ms from run to run), while
one thread gave stable numbers. TensorFlow keeps its own default (all cores).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, plot, timing  # noqa: E402

N, C_IN, C_OUT, SIZE, K, STRIDE, PAD = 2, 64, 64, 56, 3, 1, 1
TARGETS = {"forward": 160.0, "backward": 111.0, "tf": 3.0}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=4,
                        help="output channels the loops are timed on (default 4 of 64)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="threads for NumPy's BLAS (default 1; 0 = the library's default)")
    parser.add_argument("--repeat", type=int, default=config.pick(7, 3),
                        help="runs per fast method (median); the loops run (repeat + 1) // 2 times")
    args = parser.parse_args(argv)
    if not 1 <= args.channels <= C_OUT:
        parser.error(f"--channels must be in 1..{C_OUT}")

    if args.blas_threads > 0:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=args.blas_threads, user_api="blas")
    from threadpoolctl import threadpool_info
    blas_threads = max((i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"), default=1)

    ns = load_solutions("conv_pool")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C_IN, SIZE, SIZE)).astype(np.float32)
    w = (rng.standard_normal((C_OUT, C_IN, K, K)) * 0.05).astype(np.float32)
    b = rng.standard_normal(C_OUT).astype(np.float32)

    # im2col, full layer
    out, cache = ns["conv_forward_im2col"](x, w, b, STRIDE, PAD)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    # TensorFlow on the same input, already in NHWC (the layout its CPU kernel wants)
    x_nhwc, w_hwio = tf.constant(x.transpose(0, 2, 3, 1)), tf.constant(w.transpose(2, 3, 1, 0))
    padding = [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]]

    def tf_forward():
        return tf.nn.conv2d(x_nhwc, w_hwio, strides=STRIDE, padding=padding).numpy()

    ref = tf_forward().transpose(0, 3, 1, 2) + b.reshape(1, -1, 1, 1)
    assert np.abs(out - ref).max() < 1e-3 * np.abs(ref).max(), "im2col forward disagrees with tf.nn.conv2d"

    # loops on the first `channels` output channels
    f = args.channels
    scale = C_OUT / f
    out_slice, cache_slice = ns["conv_forward_naive"](x, w[:f], b[:f], STRIDE, PAD)
    assert np.abs(out_slice - out[:, :f]).max() < 1e-3 * np.abs(out).max(), "loops disagree with im2col"
    dout_slice = np.ascontiguousarray(dout[:, :f])

    repeat, slow_repeat = args.repeat, max(1, (args.repeat + 1) // 2)
    times = {
        "loops forward": scale * timing.median_time(
            lambda: ns["conv_forward_naive"](x, w[:f], b[:f], STRIDE, PAD), repeat=slow_repeat, warmup=0),
        "im2col forward": timing.median_time(
            lambda: ns["conv_forward_im2col"](x, w, b, STRIDE, PAD), repeat=repeat, warmup=2),
        "tf.nn.conv2d forward": timing.median_time(tf_forward, repeat=repeat, warmup=2),
        "loops backward": scale * timing.median_time(
            lambda: ns["conv_backward_naive"](dout_slice, cache_slice), repeat=slow_repeat, warmup=0),
        "im2col backward": timing.median_time(
            lambda: ns["conv_backward_im2col"](dout, cache), repeat=repeat, warmup=2),
    }

    print(f"layer: x ({N}, {C_IN}, {SIZE}, {SIZE}), w ({C_OUT}, {C_IN}, {K}, {K}), stride {STRIDE}, "
          f"pad {PAD}, float32; {os.cpu_count()} CPU cores, NumPy BLAS on {blas_threads} thread(s), "
          f"TensorFlow on {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()}")
    print(f"loops timed on {f} of {C_OUT} output channels (median of {slow_repeat}) and scaled ×{scale:g}; "
          f"other methods: median of {repeat}")
    forward = {k.replace(" forward", ""): v for k, v in times.items() if k.endswith("forward")}
    backward = {k.replace(" backward", ""): v for k, v in times.items() if k.endswith("backward")}
    print("\nFORWARD")
    print(timing.ratio_table(forward, baseline="loops"))
    print("\nBACKWARD")
    print(timing.ratio_table(backward, baseline="loops"))
    fwd = times["loops forward"] / times["im2col forward"]
    bwd = times["loops backward"] / times["im2col backward"]
    vs_tf = times["im2col forward"] / times["tf.nn.conv2d forward"]
    print()
    print(f"im2col over loops, forward : {fwd:8.1f}x  (target >= {TARGETS['forward']:g}x)")
    print(f"im2col over loops, backward: {bwd:8.1f}x  (target >= {TARGETS['backward']:g}x)")
    print(f"im2col forward / tf.nn.conv2d: {vs_tf:6.2f}   (target <= {TARGETS['tf']:g})")

    fig = plot.bar_chart({k.replace(" forward", "\nforward").replace(" backward", "\nbackward"): v * 1e3
                          for k, v in times.items()},
                         "milliseconds per call (log scale)", log=True,
                         title=f"3×3 conv, 64→64 channels, 2×56×56, float32, {os.cpu_count()} cores")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "conv_pool.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
