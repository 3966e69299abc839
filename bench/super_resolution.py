"""Chapter 9 benchmark: Real-ESRGAN (animevideov3) deployed with LiteRT, 128×128 -> 512×512, batch 1.

The network is built by the instructor solution of notebooks/super_resolution (parse_param,
read_weights, build_model; see solutions.py) from the real ncnn files, then converted to LiteRT
flat buffers: fp32, fp16 weights, dynamic-range int8, full int8 (calibrated on 100 real patches;
10 in quick mode) and two attempts at the PReLU problem: PReLU written as relu(x) - a·relu(-x)
(same function) and PReLU replaced by a leaky ReLU of the layer's mean slope (an approximation,
not fine-tuned). Every variant runs on the same input in one run with XNNPACK and 2 threads; the
table gives the size, median pre-processing (uint8 -> float), inference and post-processing
(clip, round, uint8) milliseconds, the number of delegate pieces, and PSNR on Y (border 4)
against the fp32 output and against the high-resolution image. Goal of the chapter: an int8 (or
mixed) variant >= 3× faster than fp32 with PSNR vs fp32 >= 35 dB. Quick mode (COURSE_QUICK=1):
32×32 input, 1 repeat.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import load_solutions  # noqa: E402
from source_lib import config, images, ncnn, tflite_tools  # noqa: E402

GOAL_SPEEDUP, GOAL_PSNR = 3.0, 35.0


def shrink(hr, factor=4):
    from PIL import Image
    h, w = hr.shape[0] // factor, hr.shape[1] // factor
    return np.asarray(Image.fromarray(hr[:h * factor, :w * factor]).resize((w, h), Image.BICUBIC))


def convert(model, size, mode, calibration=()):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    fn = tf.function(lambda t: model(t, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec((1, size, size, 3), tf.float32)))
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if mode != "fp32":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        conv.representative_dataset = lambda: ([p[None]] for p in calibration)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif mode == "int8, float PReLU":
        # Mixed: every op int8 except PReLU, which stays float32 between DEQUANTIZE/QUANTIZE
        # (the quantization debugger's denylist, as chapter 7 does for instance norm).
        conv.representative_dataset = lambda: ([p[None]] for p in calibration)
        return tflite_tools.convert_keeping_float(conv, [p[None] for p in calibration], ["PRELU"])
    return conv.convert()


def run_variant(flatbuffer, lr_u8, repeat):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_content=flatbuffer, num_threads=2)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    pieces = Counter(op["op_name"] for op in it._get_ops_details())["DELEGATE"]

    def call():
        t0 = time.perf_counter()
        x = (lr_u8.astype(np.float32) / 255.0)[None]
        t1 = time.perf_counter()
        it.set_tensor(i, x)
        it.invoke()
        y = it.get_tensor(o)
        t2 = time.perf_counter()
        out = np.clip(np.rint(y[0] * 255.0), 0, 255).astype(np.uint8)
        return out, (t1 - t0, t2 - t1, time.perf_counter() - t2)

    out, _ = call()
    times = np.median([call()[1] for _ in range(repeat)], axis=0)
    return out, times, pieces


def main() -> int:
    small = config.small()
    size, repeat, n_calib = (32, 1, 10) if small else (128, 7, 100)
    with contextlib.redirect_stdout(io.StringIO()):       # the notebook's setup cells print
        ns = load_solutions("super_resolution")
    param, binary = ncnn.model_files("animevideov3")
    layers = ns["parse_param"](param.read_text())
    model = ns["build_model"](layers, ns["read_weights"](layers, binary.read_bytes()))
    hr = images.load_image("astronaut", size=(2 * 4 * size, 2 * 4 * size))[:4 * size, 4 * size:]
    lr = shrink(hr)
    rng = np.random.default_rng(0)
    sources = [images.to_float(shrink(images.load_image(n), 2)) for n in ("coffee", "chelsea", "rocket", "grace_hopper")]
    calib = []
    for k in range(n_calib):
        s = sources[k % len(sources)]
        y, x = rng.integers(0, s.shape[0] - size), rng.integers(0, s.shape[1] - size)
        calib.append(np.ascontiguousarray(s[y:y + size, x:x + size], dtype=np.float32))
    variants = {"fp32": (model, "fp32"), "fp16": (model, "fp16"), "dynamic": (model, "dynamic"),
                "int8 (PReLU)": (model, "int8"),
                "int8, float PReLU": (model, "int8, float PReLU"),
                "int8 relu-form": (ncnn.load_model("animevideov3", prelu="relu"), "int8"),
                "int8 leaky": (ncnn.load_model("animevideov3", prelu="leaky"), "int8")}
    rows, ref = {}, None
    print(f"animevideov3, {size}×{size} -> {4 * size}×{4 * size}, batch 1, XNNPACK 2 threads, "
          f"median of {repeat}; calibration {n_calib} patches")
    for name, (m, mode) in variants.items():
        fb = convert(m, size, mode, calib)
        out, (pre, inf, post), pieces = run_variant(fb, lr, repeat)
        if ref is None:
            ref = out
        rows[name] = (len(fb), pre, inf, post, pieces, out)
    psnr = ns["psnr_y"]
    base = rows["fp32"][2]
    print(f"{'variant':<18} {'MB':>5} {'pre ms':>7} {'infer ms':>9} {'post ms':>8} {'pieces':>6} "
          f"{'speed-up':>8} {'PSNR vs fp32':>13} {'PSNR vs HR':>11}")
    best = None
    for name, (nbytes, pre, inf, post, pieces, out) in rows.items():
        p_ref = psnr(images.to_float(out), images.to_float(ref)) if name != "fp32" else float("inf")
        p_hr = psnr(images.to_float(out), images.to_float(hr))
        print(f"{name:<18} {nbytes / 1e6:5.2f} {pre * 1e3:7.2f} {inf * 1e3:9.1f} {post * 1e3:8.2f} {pieces:6d} "
              f"{base / inf:7.2f}x {p_ref:13.1f} {p_hr:11.2f}")
        if name.startswith("int8") and p_ref >= GOAL_PSNR and (best is None or inf < best[1]):
            best = (name, inf)
    if best:
        verdict = "MET" if base / best[1] >= GOAL_SPEEDUP else "NOT met"
        print(f"goal (int8 >= {GOAL_SPEEDUP}× faster than fp32 at >= {GOAL_PSNR} dB): {verdict} — "
              f"best such variant {best[0]} at {base / best[1]:.2f}×")
    else:
        print(f"goal: NOT met — no int8 variant reaches {GOAL_PSNR} dB against fp32")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
