"""Chapter 7 benchmark: the pretrained style network in LiteRT — float32 against int8.

The network is chapter 6's multi-style transform network for one style, built in tf.keras by
the locked cell of notebooks/quantization (loaded with bench.solutions.load_solutions) from
``multistyle26.onnx``. Measured in one run, at 256×256 (quick mode 64×64), prints

* file size of each LiteRT model and the ratio float32 / int8 (expect close to 4×);
* CPU latency (median, calls interleaved between models, 2 threads) of LiteRT float32,
  float16, dynamic-range int8, full int8 (calibrated on the bundled photographs), full int8 with
  the normalisation ops kept in float, and the *folded* models (instance norm replaced by a
  fixed per-channel affine map folded into the convolutions — a different model), float32 and
  int8, also with reflect padding built from slices instead of MIRROR_PAD, against TensorFlow
  float32 (the Keras model in a tf.function);
* PSNR of every output against the float32 Keras output (and, for the folded model, against
  the folded float model).

Goal from the chapter: int8 at least 2× faster than LiteRT float32 with PSNR ≥ 30 dB. The
script reports what it measures; on a shared 2-core machine latency ratios move by ±20 %.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import load_solutions  # noqa: E402
from source_lib import config, images, tflite_tools  # noqa: E402

GOAL_SPEEDUP, GOAL_PSNR = 2.0, 30.0
CALIBRATION = ["astronaut", "coffee", "rocket", "grace_hopper", "brick", "grass", "gravel"]
NORM_OPS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "SUB", "MUL")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=config.pick(256, 64), help="image side (multiple of 4)")
    parser.add_argument("--style", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=config.pick(10, 3), help="timed calls per model (median)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-extra", action="store_true", help="only float32, dynamic and int8")
    args = parser.parse_args(argv)

    ns = load_solutions("quantization")
    tf, keras = ns["tf"], ns["keras"]
    size = (args.size, args.size)
    weights = ns["multistyle"].load_weights()
    load = lambda name: images.load_image(name, size=size).astype(np.float32)[None] / 255.0
    content = load("chelsea")
    calib = [c for n in CALIBRATION for c in (load(n), load(n)[:, :, ::-1].copy())]

    net = ns["build_transform_net"](weights, args.style, size)
    y_float = net(content).numpy()
    start = time.perf_counter()
    flat = {"float32": tflite_tools.convert(net, "float32"),
            "dynamic": tflite_tools.convert(net, "dynamic"),
            "int8": tflite_tools.convert(net, "int8", representative=calib)}
    y_folded = None
    if not args.skip_extra:
        flat["float16"] = tflite_tools.convert(net, "float16")
        flat["int8, norm float"] = tflite_tools.convert(net, "int8", representative=calib, float_ops=NORM_OPS)
        names = ns["STYLE_LAYERS"]
        taps = keras.Model(net.input, [net.get_layer(n).output for n in names])
        outs = [[t.numpy() for t in taps(c)] for c in calib]
        stats = {n: (np.mean([o[k].mean(axis=(0, 1, 2)) for o in outs], axis=0),
                     np.mean([o[k].var(axis=(0, 1, 2)) for o in outs], axis=0)) for k, n in enumerate(names)}
        folded = ns["build_transform_net"](weights, args.style, size, folded=stats)
        sliced = ns["build_transform_net"](weights, args.style, size, folded=stats, pad_with_slices=True)
        y_folded = folded(content).numpy()
        flat["folded float32"] = tflite_tools.convert(folded, "float32")
        flat["folded int8"] = tflite_tools.convert(folded, "int8", representative=calib)
        flat["fold+slice float32"] = tflite_tools.convert(sliced, "float32")
        flat["fold+slice int8"] = tflite_tools.convert(sliced, "int8", representative=calib)
    print(f"{len(flat)} LiteRT conversions in {time.perf_counter() - start:.0f} s; "
          f"{len(calib)} calibration images; {args.size}×{args.size}, style {args.style}, {args.threads} threads")

    runners = {k: tflite_tools.Runner(v, num_threads=args.threads) for k, v in flat.items()}
    tf_float = tf.function(lambda a: net(a))
    times = tflite_tools.latencies({**runners, "TF float32": tf_float}, content, repeat=args.repeat)
    print(f"\n{'model':<18} {'size kB':>8} {'latency ms':>11} {'vs LiteRT f32':>14} {'PSNR dB':>8}")
    print(f"{'TF float32':<18} {'':>8} {times['TF float32'] * 1e3:11.1f} "
          f"{times['float32'] / times['TF float32']:13.2f}× {'(ref)':>8}")
    quality = {}
    for k, r in runners.items():
        quality[k] = tflite_tools.psnr(r(content), y_float)
        print(f"{k:<18} {len(flat[k]) / 1e3:8.1f} {times[k] * 1e3:11.1f} {times['float32'] / times[k]:13.2f}× {quality[k]:8.2f}")
    if y_folded is not None:
        print(f"(folded float model vs original float: {tflite_tools.psnr(y_folded, y_float):.2f} dB; "
              f"folded int8 vs folded float: {tflite_tools.psnr(runners['folded int8'](content), y_folded):.2f} dB; "
              f"fold+slice int8 vs fold+slice float32: "
              f"{tflite_tools.psnr(runners['fold+slice int8'](content), runners['fold+slice float32'](content)):.2f} dB, "
              f"{times['fold+slice float32'] / times['fold+slice int8']:.2f}× faster)")

    size_ratio = len(flat["float32"]) / len(flat["int8"])
    speed_lite = times["float32"] / times["int8"]
    speed_tf = times["TF float32"] / times["int8"]
    print(f"\nsize ratio float32/int8: {size_ratio:.2f}×")
    print(f"int8 speed-up vs LiteRT float32: {speed_lite:.2f}×, vs TF float32: {speed_tf:.2f}×; PSNR {quality['int8']:.2f} dB")
    print(f"dynamic-range speed-up vs LiteRT float32: {times['float32'] / times['dynamic']:.2f}×; PSNR {quality['dynamic']:.2f} dB")
    met = speed_lite >= GOAL_SPEEDUP and quality["int8"] >= GOAL_PSNR
    print(f"goal (full int8 ≥ {GOAL_SPEEDUP:.0f}× faster than float32 at ≥ {GOAL_PSNR:.0f} dB): "
          f"{'met' if met else 'NOT met'}")
    best = [k for k in runners if k != "float32" and quality[k] >= GOAL_PSNR and times["float32"] / times[k] >= GOAL_SPEEDUP]
    print("models that meet it:", ", ".join(best) if best else "none")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
