"""Chapter 8 benchmark: online against offline inference of the style network, stage by stage.

The network is the pretrained multi-style network (multistyle26.onnx, one style folded in),
built in Keras by the locked cell of notebooks/inference. Everything else is the instructor
solution of that notebook (see solutions.py): `preprocess` / `postprocess` in NumPy,
`convert_to_tflite` (float32 and dynamic-range int8, one file each with unknown H and W) and
`time_pipeline` (median milliseconds of each stage, batch 1).

In one run:

* the pre / infer / post table at 256×256 and 512×512 (64 and 128 in quick mode) for online
  eager, online graph (`tf.function`), online XLA (`jit_compile=True`), offline LiteRT float32,
  offline LiteRT int8 (and onnxruntime on the original ONNX file, for reference), with the first
  call (tracing / compiling) apart and the error against onnxruntime;
* cold start: a fresh Python process from its start to its first result, online (import
  TensorFlow, `tf.saved_model.load`, one call) against offline (import the LiteRT interpreter,
  load the .tflite file, one call) — the median of a few processes each.

Goals (course issue): offline cold start at least 10× faster than online, and offline float32
steady-state latency no worse than online graph mode. The machine is shared and noisy: the
script prints ratios measured in the same run and says honestly whether each goal was met.
Saves a chart to _build/bench/inference.png.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, images, multistyle, plot  # noqa: E402

COLD_GOAL = 10.0

OFFLINE_CHILD = """\
import time
import json, sys
import numpy as np
from ai_edge_litert.interpreter import Interpreter
x = np.load(sys.argv[2])
it = Interpreter(model_path=sys.argv[1])
i = it.get_input_details()[0]["index"]
it.resize_tensor_input(i, list(x.shape)); it.allocate_tensors()
it.set_tensor(i, x); it.invoke()
y = it.get_tensor(it.get_output_details()[0]["index"])
print(json.dumps({"t": time.time(), "tensorflow": "tensorflow" in sys.modules, "mean": float(y.mean())}))
"""

ONLINE_CHILD = """\
import time
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
y = model.serve(tf.constant(np.load(sys.argv[2]))).numpy()
print(json.dumps({"t": time.time(), "tensorflow": True, "mean": float(y.mean())}))
"""


def cold_start(script: str, model: Path, batch_file: Path, repeat: int) -> tuple[float, float]:
    """Median seconds from starting a fresh process to its first result, and the output mean."""
    times, mean = [], None
    for _ in range(repeat):
        start = time.time()
        proc = subprocess.run([sys.executable, "-c", script, str(model), str(batch_file)],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"cold-start process failed:\n{proc.stderr[-2000:]}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        times.append(got["t"] - start)
        mean = got["mean"]
    return statistics.median(times), mean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=config.pick([256, 512], [64, 128]),
                        help="square input sizes (multiples of 4)")
    parser.add_argument("--repeat", type=int, default=config.pick(10, 3), help="timed runs per runtime (median)")
    parser.add_argument("--cold", type=int, default=config.pick(3, 1), help="fresh processes per cold-start measure")
    parser.add_argument("--no-xla", action="store_true", help="skip XLA (its compilation takes seconds)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    here = Path.cwd()
    os.chdir(work)                 # the notebook's locked cells write output/ (the SavedModel) here
    try:
        start = time.perf_counter()
        ns = load_solutions("inference")
        import tensorflow as tf
        import onnxruntime as ort
        from ai_edge_litert.interpreter import Interpreter

        net, saved = ns["net"], work / ns["SAVED_MODEL"]
        files = {"float32": ns["convert_to_tflite"](saved, work / "float32.tflite"),
                 "int8": ns["convert_to_tflite"](saved, work / "int8.tflite", int8=True)}
        print(f"setup (TensorFlow, network, SavedModel, two conversions): {time.perf_counter() - start:.1f} s; "
              f"files: float32 {files['float32'].stat().st_size / 1024:.0f} KiB, "
              f"int8 {files['int8'].stat().st_size / 1024:.0f} KiB")

        class LiteRT:
            def __init__(self, path):
                self.it = Interpreter(model_path=str(path))
                self.index, self.shape = self.it.get_input_details()[0]["index"], None

            def __call__(self, b):
                if b.shape != self.shape:
                    self.it.resize_tensor_input(self.index, list(b.shape))
                    self.it.allocate_tensors()
                    self.shape = b.shape
                self.it.set_tensor(self.index, b)
                self.it.invoke()
                return self.it.get_tensor(self.it.get_output_details()[0]["index"]).copy()

        session = ort.InferenceSession(str(multistyle.onnx_path()), providers=["CPUExecutionProvider"])
        onehot = multistyle.one_hot(ns["STYLE"])
        graph_fn = tf.function(lambda t: net(t))
        xla_fn = tf.function(lambda t: net(t), jit_compile=True)
        runners = {"online eager": lambda b: net(b).numpy(),
                   "online graph": lambda b: graph_fn(tf.constant(b)).numpy(),
                   "online XLA": lambda b: xla_fn(tf.constant(b)).numpy(),
                   "offline LiteRT float32": LiteRT(files["float32"]),
                   "offline LiteRT int8": LiteRT(files["int8"]),
                   "offline onnxruntime": lambda b: session.run(None, {
                       "image": np.ascontiguousarray(b.transpose(0, 3, 1, 2)),
                       "style_weights": onehot})[0].transpose(0, 2, 3, 1)}
        if args.no_xla:
            runners.pop("online XLA")

        photo = images.load_image("chelsea")
        out_hw = photo.shape[:2]
        rows = {}
        for size in args.sizes:
            pre = lambda im, s=size: ns["preprocess"](im, (s, s))
            post = lambda y: ns["postprocess"](y, out_hw)
            batch = pre(photo)
            reference = runners["offline onnxruntime"](batch)
            for name, run in runners.items():
                t0 = time.perf_counter()
                y = run(batch)
                first = (time.perf_counter() - t0) * 1e3
                t = ns["time_pipeline"](pre, run, post, photo, repeat=args.repeat, warmup=1)
                rows[size, name] = {**t, "first": first, "err": ns["max_abs_error"](y, reference),
                                    "psnr": ns["psnr"](y, reference)}

        batch_file = work / "batch.npy"
        np.save(batch_file, ns["preprocess"](photo, (args.sizes[0], args.sizes[0])))
        offline_s, off_mean = cold_start(OFFLINE_CHILD, files["float32"], batch_file, args.cold)
        online_s, on_mean = cold_start(ONLINE_CHILD, saved, batch_file, args.cold)
    finally:
        os.chdir(here)

    print(f"\nstyle network (multistyle26, style {ns['STYLE']}), batch 1, median of {args.repeat}; "
          f"{os.cpu_count()} CPU cores; error vs onnxruntime")
    print(f"{'size':>5}  {'runtime':<24} {'first (ms)':>10} {'pre (ms)':>9} {'infer (ms)':>10} {'post (ms)':>9} "
          f"{'total':>8}  {'max |err|':>9} {'PSNR dB':>8}")
    for (size, name), r in rows.items():
        print(f"{size:>5}  {name:<24} {r['first']:>10.0f} {r['pre']:>9.2f} {r['infer']:>10.1f} {r['post']:>9.2f} "
              f"{r['total']:>8.1f}  {r['err']:>9.1e} {r['psnr']:>8.1f}")

    ratio = online_s / offline_s
    print(f"\ncold start, {args.sizes[0]}×{args.sizes[0]}, fresh process to first result (median of {args.cold}):")
    print(f"  online  (import TensorFlow, load SavedModel, 1 call): {online_s:6.2f} s")
    print(f"  offline (import LiteRT interpreter, load .tflite, 1 call): {offline_s:6.2f} s   "
          f"(outputs agree: {abs(on_mean - off_mean) < 1e-4})")
    print(f"  offline is {ratio:.1f}× faster to start (goal >= {COLD_GOAL:g}×: {'met' if ratio >= COLD_GOAL else 'NOT met'})")
    for size in args.sizes:
        g, o = rows[size, "online graph"]["infer"], rows[size, "offline LiteRT float32"]["infer"]
        print(f"  {size}×{size}: offline float32 infer {o:.1f} ms vs online graph {g:.1f} ms -> "
              f"ratio {o / g:.2f} (goal <= 1: {'met' if o <= g else 'NOT met'})")

    values = {f"{name.replace('offline ', 'off ').replace('online ', 'on ')}\n{size}": r["infer"]
              for (size, name), r in rows.items() if size == args.sizes[-1]}
    fig = plot.bar_chart(values, "milliseconds (inference stage, median)",
                         title=f"style network {args.sizes[-1]}×{args.sizes[-1]}, {os.cpu_count()} cores")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "inference.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
