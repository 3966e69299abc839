"""Chapter 3 benchmark: the VGG19 forward pass in NumPy against TensorFlow.

NumPy: the instructor solution of notebooks/vgg19 (`vgg_forward` with `conv3x3_forward`, see
solutions.py), NCHW. TensorFlow: `tf.keras.applications.VGG19` holding the same weights, called
through `tf.function` on the same input already in NHWC (the layout its CPU kernels want).
Both run the whole network with fc6–fc8 on 224×224 images (64×64 in quick mode), float32,
batches of 1 and 8 (1 and 2 in quick mode). The weights are seeded random ones: the time does
not depend on their values. The outputs are checked to agree first.

Times: median of several calls, both methods measured in the same run with their calls
alternating (the machines are shared; a change of load then hits both), plus how many cores
each kept busy. Memory: each method runs once more in its own
child process that samples its resident memory every millisecond during two calls; the table
gives the peak and the growth over the memory held before the first call (weights,
libraries). Prints the tables and the ratio NumPy / TensorFlow (the course's goal: at most 2);
saves a bar chart to _build/bench/vgg19.png.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, plot, timing, vgg  # noqa: E402

GOAL = 2.0


def setup(size: int, batch: int, ns: dict, tensorflow: bool = True):
    """Weights, the NumPy layer list, the inputs and (if `tensorflow`) a Keras model holding
    the same weights with its NHWC input; otherwise those two are None."""
    weights = vgg.random_weights(19, include_top=True, input_hw=size, seed=0)
    layers = ns["build_layers"](vgg.CONFIGS[19], include_top=True, input_hw=size)
    x = np.random.default_rng(1).uniform(-120, 130, (batch, 3, size, size)).astype(np.float32)
    call = x_nhwc = None
    if tensorflow:
        import tensorflow as tf

        model = vgg.to_keras(weights, vgg.keras_model(19, include_top=True, input_hw=size))
        call = tf.function(lambda t: model(t, training=False))
        x_nhwc = tf.constant(x.transpose(0, 2, 3, 1))
    return weights, layers, call, x, x_nhwc


def runners(ns: dict, weights, layers, call, x, x_nhwc) -> dict:
    return {"numpy": lambda: ns["vgg_forward"](x, layers, weights)[0],
            "tensorflow": lambda: call(x_nhwc).numpy()}


class PeakRSS:
    """Samples this process's resident memory in a thread while active."""

    def __init__(self, interval: float = 0.001):
        import psutil

        self.proc, self.interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()

    def rss(self) -> int:
        return self.proc.memory_info().rss

    def __enter__(self):
        self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def child(method: str, size: int, batch: int) -> None:
    """Memory of one method: print {"before": bytes, "peak": bytes} as the last line."""
    import gc

    ns = load_solutions("vgg19")
    # Each process holds one copy of the weights: NumPy's arrays or the Keras model's variables.
    weights, layers, call, x, x_nhwc = setup(size, batch, ns, tensorflow=method == "tensorflow")
    if method == "tensorflow":
        weights.clear()
    gc.collect()
    fn = runners(ns, weights, layers, call, x, x_nhwc)[method]
    sampler = PeakRSS()
    before = sampler.rss()
    with sampler:
        fn()
        fn()
    print(json.dumps({"before": before, "peak": sampler.peak}))


def memory(method: str, size: int, batch: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", method, "--size", str(size),
                           "--batches", str(batch)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"memory run of {method} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleaved(run: dict, repeat: int) -> dict:
    """Median wall time and CPU use ((user + system) / wall) of each method, calls alternating
    between the methods so that a change in the machine's load hits both alike."""
    import resource

    for fn in run.values():       # warm-up: tracing, first-touch of memory
        fn()
    walls = {name: [] for name in run}
    cpu = {name: 0.0 for name in run}
    for _ in range(repeat):
        for name, fn in run.items():
            before = resource.getrusage(resource.RUSAGE_SELF)
            walls[name].append(timing.median_time(fn, repeat=1, warmup=0))
            after = resource.getrusage(resource.RUSAGE_SELF)
            cpu[name] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {name: {"time": float(np.median(w)), "cpu": cpu[name] / sum(w)} for name, w in walls.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=config.pick(224, 64), help="image side (multiple of 32)")
    parser.add_argument("--batches", type=int, nargs="+", default=config.pick([1, 8], [1, 2]))
    parser.add_argument("--repeat", type=int, default=config.pick(5, 2), help="timed calls per method (median)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--child", choices=["numpy", "tensorflow"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.size, args.batches[0])
        return 0

    ns = load_solutions("vgg19")
    rows = []
    for batch in args.batches:
        weights, layers, call, x, x_nhwc = setup(args.size, batch, ns)
        run = runners(ns, weights, layers, call, x, x_nhwc)
        ours, ref = run["numpy"](), run["tensorflow"]()
        err = float(np.abs(ours - ref).max() / np.abs(ref).max())
        assert err < 1e-4, f"NumPy and TensorFlow disagree: relative error {err:.2e}"
        rows.append((batch, interleaved(run, args.repeat), err))
        del weights, run, call
    mem = {} if args.no_memory else {(m, b): memory(m, args.size, b)
                                     for b in args.batches for m in ("numpy", "tensorflow")}
    mb = 2 ** 20

    def m(name, batch):
        if (name, batch) not in mem:
            return "-"
        got = mem[name, batch]
        return f"{got['peak'] / mb:.0f} (+{(got['peak'] - got['before']) / mb:.0f})"

    print(f"VGG19 with fc6–fc8, {args.size}×{args.size}, float32, seeded random weights; "
          f"{os.cpu_count()} CPU cores; median of {args.repeat} alternating calls")
    print(f"{'batch':>5}  {'numpy (s)':>9}  {'TF (s)':>7}  {'numpy/TF':>8}  {'ms/img np':>9}  {'ms/img TF':>9}  "
          f"{'cores np':>8}  {'cores TF':>8}  {'peak MB np':>12}  {'peak MB TF':>12}  {'rel. err':>8}")
    for batch, t, err in rows:
        np_t, tf_t = t["numpy"]["time"], t["tensorflow"]["time"]
        print(f"{batch:>5}  {np_t:>9.3f}  {tf_t:>7.3f}  {np_t / tf_t:>8.2f}  {1e3 * np_t / batch:>9.0f}  "
              f"{1e3 * tf_t / batch:>9.0f}  {t['numpy']['cpu']:>8.2f}  {t['tensorflow']['cpu']:>8.2f}  "
              f"{m('numpy', batch):>12}  {m('tensorflow', batch):>12}  {err:>8.1e}")
    print("cores: (user + system CPU time) / wall time during the calls. peak MB: resident memory during "
          "two calls in a fresh process (growth over the weights and libraries in brackets).")
    worst = max(t["numpy"]["time"] / t["tensorflow"]["time"] for _, t, _ in rows)
    print(f"\nnumpy / tensorflow, worst batch: {worst:.2f}  (goal <= {GOAL:g}: {'met' if worst <= GOAL else 'NOT met'})")

    values = {}
    for batch, t, _ in rows:
        values[f"numpy\nbatch {batch}"] = 1e3 * t["numpy"]["time"] / batch
        values[f"TF\nbatch {batch}"] = 1e3 * t["tensorflow"]["time"] / batch
    fig = plot.bar_chart(values, "milliseconds per image",
                         title=f"VGG19 forward, {args.size}×{args.size}, {os.cpu_count()} cores (random weights)")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "vgg19.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
