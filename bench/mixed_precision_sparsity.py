"""Chapter 10 benchmark: mixed-precision step time, and sparse against dense matrix products.

Measured in one run, prints

* **mixed precision** — the median time of one Keras training step (`train_on_batch`) of a small
  conv net (32×32×3 inputs, batch 32) and of a dense net (784-1024-1024-10, batch 256) under the
  `float32`, `mixed_bfloat16` and `mixed_float16` policies, timed in alternating rounds, as
  ratios to float32; and the test accuracy of a 64-256-256-10 MLP on scikit-learn's digits
  trained the same way under each policy (the chapter's goal: bfloat16 ≥ 1.8× float32 with
  accuracy within 0.5 points). The oneDNN instruction set TensorFlow found is printed too: on a
  CPU without AVX512_BF16/AMX, 16-bit products run as float32 kernels plus conversions.
* **sparsity** — a 2048×2048 matrix at 0–99 % sparsity times a dense 2048×256 matrix: dense BLAS
  (NumPy), the course's compiled CSR kernel (`source_lib.sparse_kernels`, numba), SciPy's CSR,
  and the assignment's NumPy `csr_matmul` (instructor solution of
  notebooks/mixed_precision_sparsity, from 80 %), each checked against the dense product; the
  speed-up over dense per sparsity and the break-even sparsity. Goal: the course's kernel faster
  than dense from 90 % sparsity.

Quick mode (COURSE_QUICK=1) shrinks everything. The machines are shared and noisy: compare the
ratios printed by one run, never absolute times. Numba uses its non-spinning "workqueue" threads
(see bench/bnn.py for why).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
LEVELS = (0.0, 0.5, 0.75, 0.9, 0.95, 0.98, 0.99)
BF16_GOAL = 1.8
SPARSE_GOAL_FROM = 0.9


def alternate(fns: dict, rounds: int) -> dict:
    """Median seconds of each function, timed in turn round by round (one warm-up call each)."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def onednn_isa() -> str:
    """The instruction set oneDNN reports (runs a tiny product in a subprocess with ONEDNN_VERBOSE=1)."""
    import subprocess
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\nimport tensorflow as tf\n"
            "a = tf.cast(tf.ones((8, 8)), tf.bfloat16); tf.matmul(a, a)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ONEDNN_VERBOSE": "1"})
    lines = (proc.stdout + proc.stderr).splitlines()
    isa = next((l.split("isa:")[-1] for l in lines if "isa:" in l), "unknown")
    kernel = next((l for l in lines if ",exec," in l), "")
    kind = "bf16 kernels" if "src_bf16" in kernel else ("f32 kernels" if "src_f32" in kernel else "no oneDNN kernel")
    return f"{isa}; a bfloat16 matmul ran as: {kind}"


def mixed_precision(rounds: int, epochs: int, quick: bool) -> dict:
    import keras

    def make(kind, policy):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        if kind == "conv":
            layers = [keras.Input((32, 32, 3)), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                      keras.layers.MaxPooling2D(), keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                      keras.layers.MaxPooling2D(), keras.layers.Flatten()]
        elif kind == "dense":
            layers = [keras.Input((784,)), keras.layers.Dense(1024, activation="relu"),
                      keras.layers.Dense(1024, activation="relu")]
        else:
            layers = [keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                      keras.layers.Dense(256, activation="relu")]
        model = keras.Sequential(layers + [keras.layers.Dense(10), keras.layers.Activation("linear", dtype="float32")])
        opt = keras.optimizers.Adam(1e-3) if kind == "digits" else keras.optimizers.SGD(0.01)
        if policy == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        keras.mixed_precision.set_global_policy("float32")
        return model

    out = {"steps": {}, "accuracy": {}}
    rng = np.random.default_rng(0)
    nets = [("dense", 64 if quick else 256)] + ([] if quick else [("conv", 32)])
    for kind, batch in nets:
        x = rng.random((batch, 32, 32, 3) if kind == "conv" else (batch, 784), dtype=np.float32)
        y = np.arange(batch) % 10
        models = {p: make(kind, p) for p in POLICIES}
        fns = {p: (lambda m=m: m.train_on_batch(x, y)) for p, m in models.items()}
        out["steps"][f"{kind} (batch {batch})"] = alternate(fns, rounds)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    digits = load_digits()
    xd = (digits.data / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(xd, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    for p in POLICIES:
        model = make("digits", p)
        start = time.perf_counter()
        model.fit(x_tr, y_tr, epochs=epochs, batch_size=32, verbose=0)
        out["accuracy"][p] = (float(model.evaluate(x_te, y_te, verbose=0)[1]), time.perf_counter() - start)
    return out


def sparsity(size, levels, rounds: int, threads: int) -> dict:
    import numba
    import scipy.sparse
    from threadpoolctl import threadpool_limits

    from source_lib.sparse_kernels import csr_matmul_numba

    ns = load_solutions("mixed_precision_sparsity")
    dense_to_csr, csr_matmul = ns["dense_to_csr"], ns["csr_matmul"]
    M, K, N = size
    rng = np.random.default_rng(0)
    full = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    out = np.empty((M, N), np.float32)
    start = time.perf_counter()
    csr_matmul_numba(*dense_to_csr(np.eye(4, dtype=np.float32)), np.ones((4, 2), np.float32))
    compile_s = time.perf_counter() - start
    thread_counts = sorted({1, max(1, threads)})
    tables = {t: {} for t in thread_counts}
    for s in levels:
        a = full * (rng.random(full.shape) >= s)
        data, indices, indptr = dense_to_csr(a)
        a_sp = scipy.sparse.csr_matrix(a)
        ref = a @ b
        tol = 1e-3 * float(np.abs(ref).max())
        assert np.abs(csr_matmul_numba(data, indices, indptr, b, out=out) - ref).max() < tol, "numba CSR kernel is wrong"
        assert np.abs(a_sp @ b - ref).max() < tol, "scipy CSR is wrong"
        if s >= 0.8:
            assert np.abs(csr_matmul(data, indices, indptr, b) - ref).max() < tol, "NumPy csr_matmul is wrong"
        for t in thread_counts:
            numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
            fns = {"dense BLAS": lambda: a @ b,
                   "course CSR (numba)": lambda: csr_matmul_numba(data, indices, indptr, b, out=out)}
            if t == 1:
                fns["scipy CSR"] = lambda: a_sp @ b
                if s >= 0.8:
                    fns["assignment csr_matmul (NumPy)"] = lambda: csr_matmul(data, indices, indptr, b)
            with threadpool_limits(limits=t, user_api="blas"):
                tables[t][s] = alternate(fns, rounds)
    return {"tables": tables, "compile_s": compile_s}


def break_even(levels, ratios):
    """Smallest sparsity where the speed-up over dense reaches 1 (log-linear interpolation)."""
    prev = None
    for s in levels:
        r = ratios.get(s)
        if r is None:
            prev = None
            continue
        if r >= 1:
            if prev is None:
                return s
            ps, pr = prev
            f = np.log(pr) / (np.log(pr) - np.log(r))
            return ps + f * (s - ps)
        prev = (s, r)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=config.pick(7, 2), help="alternating rounds (median)")
    parser.add_argument("--epochs", type=int, default=config.pick(20, 2), help="digits training epochs per policy")
    parser.add_argument("--skip-mixed", action="store_true", help="only the sparse products")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="the most threads for BLAS and the numba kernel (also measured with 1)")
    args = parser.parse_args(argv)
    quick = config.small()
    size = config.pick((2048, 2048, 256), (512, 512, 64))
    levels = config.pick(LEVELS, (0.0, 0.9, 0.99))
    print(f"chapter 10 benchmark; {os.cpu_count()} CPU cores; {'QUICK' if quick else 'FULL'} sizes; "
          f"medians of {args.rounds} alternating rounds\n")

    if not args.skip_mixed:
        print("oneDNN:", onednn_isa())
        mp = mixed_precision(args.rounds, args.epochs, quick)
        for net, times in mp["steps"].items():
            base = times["float32"]
            print(f"train step, {net:<18}" + "  ".join(
                f"{p} {t * 1e3:7.1f} ms ({base / t:4.2f}x)" for p, t in times.items()))
        acc32 = mp["accuracy"]["float32"][0]
        print(f"digits MLP, {args.epochs} epochs: " + ", ".join(
            f"{p} {a:.1%} ({t:.1f} s)" for p, (a, t) in mp["accuracy"].items()))
        worst = min(times["float32"] / times["mixed_bfloat16"] for times in mp["steps"].values())
        acc_gap = abs(mp["accuracy"]["mixed_bfloat16"][0] - acc32) * 100
        verdict = "reached" if worst >= BF16_GOAL and acc_gap <= 0.5 else "NOT reached"
        print(f"goal bfloat16 >= {BF16_GOAL}x float32 (worst net: {worst:.2f}x) with accuracy within 0.5 points "
              f"({acc_gap:.1f}): {verdict}\n")

    sp = sparsity(size, levels, args.rounds, args.threads)
    M, K, N = size
    methods = ["dense BLAS", "course CSR (numba)", "scipy CSR", "assignment csr_matmul (NumPy)"]
    print(f"sparse ({M}×{K}) @ dense ({K}×{N}), float32; numba kernel compiled in {sp['compile_s']:.1f} s; "
          f"ms per product (speed-up over dense BLAS with the same number of threads)")
    verdicts = []
    for t, table in sp["tables"].items():
        print(f"\n{t} thread(s) for BLAS and the numba kernel (SciPy and NumPy: 1 thread)")
        print(f"{'sparsity':>8}" + "".join(f"{m:>32}" for m in methods))
        ratios = {m: {} for m in methods[1:]}
        for s, times in table.items():
            row = f"{s:8.0%}"
            for m in methods:
                if m in times:
                    r = times["dense BLAS"] / times[m]
                    if m != "dense BLAS":
                        ratios[m][s] = r
                    row += f"{times[m] * 1e3:>22.2f} ms ({r:5.1f}x)"
                else:
                    row += f"{'-':>32}"
            print(row)
        for m in methods[1:]:
            if ratios[m]:
                be = break_even(list(table), ratios[m])
                print(f"break-even sparsity, {m:<30}: " + (f"{be:.0%}" if be is not None else "not in this range"))
        goal = [s for s in table if s >= SPARSE_GOAL_FROM]
        verdicts.append((t, all(ratios["course CSR (numba)"][s] > 1 for s in goal),
                         ", ".join(f"{s:.0%}: {ratios['course CSR (numba)'][s]:.1f}x" for s in goal)))
    print()
    for t, ok, detail in verdicts:
        print(f"goal: course CSR kernel faster than dense from {SPARSE_GOAL_FROM:.0%} sparsity, {t} thread(s): "
              f"{'reached' if ok else 'NOT reached'} ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
