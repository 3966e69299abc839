"""Chapter 8 benchmark: a binary (XNOR + popcount) matrix product against float32 BLAS.

The product is one VGG-like layer seen through im2col: 256 output channels times
3×3×256 = 2304 inputs, over 56×56 = 3136 output positions (quick mode: 64 × 576 × 784).
Measured in one run, prints

* the memory ratio: float32 bytes / packed bytes, for the weights and for the activations
  (32× when the inner dimension is a multiple of 64);
* the time of the float32 GEMM (NumPy → OpenBLAS), of the assignment's NumPy binary product
  (the instructor solution of notebooks/bnn: XOR, popcount and sum as three NumPy passes), and
  of a compiled XNOR-popcount kernel (numba: popcount is LLVM's ctpop, i.e. the POPCNT
  instruction; 4×2 register tiles; rows in parallel with prange), with BLAS and the kernel on
  the **same number of threads** — one thread, and all cores;
* the cost of binarising and packing the activations, which a real binary layer pays on every
  call (the weights are packed once).

Every result is checked against the float product of the ±1 matrices (they must be equal
exactly). Timings alternate between methods, round by round, and report medians: the machines
are shared and noisy; numba uses its non-spinning "workqueue" threads unless
NUMBA_THREADING_LAYER says otherwise. Saves a bar chart to _build/bench/bnn.png. Without numba installed the
compiled kernel is skipped and the script says so.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# numba's default OpenMP threads spin-wait after each parallel call; on a small shared machine
# they then compete with OpenBLAS's threads for the same cores and both timings suffer. The
# workqueue layer sleeps instead. (Override with NUMBA_THREADING_LAYER=omp to compare.)
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import REPO, load_solutions  # noqa: E402
from source_lib import config, plot, timing  # noqa: E402

FULL = (256, 2304, 3136)     # C_out, C_in·3·3, H_out·W_out of VGG16's conv3 layers on 224×224
QUICK = (64, 576, 784)
GOAL = 4.0                   # speed-up over BLAS (same threads) the chapter aims for


def xnor_paper_speedup(c: int, n_w: int) -> float:
    """XNOR-Net's estimate, 64·c·N_W / (c·N_W + 64): binary operations 64 to a word, plus one
    high-precision operation per output for the scaling."""
    return 64 * c * n_w / (c * n_w + 64)


def compiled_kernel():
    """The numba XNOR-popcount GEMM, or None (with the reason) if numba is missing."""
    try:
        import numba
        from numba import njit, prange, types
        from numba.extending import intrinsic
    except ImportError as exc:
        return None, f"numba is not installed ({exc})"

    @intrinsic
    def popcount64(typingctx, x):
        """LLVM's ctpop on one uint64: the POPCNT instruction on x86-64 (and CNT on ARM)."""
        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])
        return types.uint64(types.uint64), codegen

    @njit(parallel=True, boundscheck=False, nogil=True)
    def xnor_gemm(a, b, n, out):
        """out[i, j] = n - 2·Σ_w popcount(a[i, w] ^ b[j, w]), equation (4.7).

        4 rows of `a` × 2 rows of `b` per tile: 6 words loaded feed 8 XOR+POPCNT+ADD, and the 8
        counters stay in registers. Blocks of 4 rows run in parallel (prange)."""
        M, W = a.shape
        P = b.shape[0]
        for ib in prange((M + 3) // 4):
            i0 = ib * 4
            if i0 + 4 <= M:
                j = 0
                while j + 2 <= P:
                    c00 = c10 = c20 = c30 = c01 = c11 = c21 = c31 = 0
                    for k in range(W):
                        b0 = b[j, k]
                        b1 = b[j + 1, k]
                        x0 = a[i0, k]
                        x1 = a[i0 + 1, k]
                        x2 = a[i0 + 2, k]
                        x3 = a[i0 + 3, k]
                        c00 += popcount64(x0 ^ b0)
                        c10 += popcount64(x1 ^ b0)
                        c20 += popcount64(x2 ^ b0)
                        c30 += popcount64(x3 ^ b0)
                        c01 += popcount64(x0 ^ b1)
                        c11 += popcount64(x1 ^ b1)
                        c21 += popcount64(x2 ^ b1)
                        c31 += popcount64(x3 ^ b1)
                    out[i0, j] = n - 2 * np.int64(c00)
                    out[i0 + 1, j] = n - 2 * np.int64(c10)
                    out[i0 + 2, j] = n - 2 * np.int64(c20)
                    out[i0 + 3, j] = n - 2 * np.int64(c30)
                    out[i0, j + 1] = n - 2 * np.int64(c01)
                    out[i0 + 1, j + 1] = n - 2 * np.int64(c11)
                    out[i0 + 2, j + 1] = n - 2 * np.int64(c21)
                    out[i0 + 3, j + 1] = n - 2 * np.int64(c31)
                    j += 2
                if j < P:
                    for i in range(i0, i0 + 4):
                        acc = 0
                        for k in range(W):
                            acc += popcount64(a[i, k] ^ b[j, k])
                        out[i, j] = n - 2 * np.int64(acc)
            else:
                for i in range(i0, M):
                    for jj in range(P):
                        acc = 0
                        for k in range(W):
                            acc += popcount64(a[i, k] ^ b[jj, k])
                        out[i, jj] = n - 2 * np.int64(acc)

    return (numba, xnor_gemm), f"numba {numba.__version__}"


def alternate(fns: dict, rounds: int) -> dict:
    """Median seconds of each function, timed in turn round by round (one warm-up call each
    time, so that each method starts from warm caches and awake threads)."""
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=3, metavar=("M", "K", "N"), default=None,
                        help=f"M×K weights times K×N activations (default {FULL}, quick {QUICK})")
    parser.add_argument("--repeat", type=int, default=config.pick(9, 3), help="rounds (median)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="the most threads for BLAS and the kernel (also measured with 1)")
    args = parser.parse_args(argv)
    M, K, N = args.size or config.pick(FULL, QUICK)

    from threadpoolctl import threadpool_limits

    ns = load_solutions("bnn")
    pack_bits, binary_matmul = ns["pack_bits"], ns["binary_matmul"]
    rng = np.random.default_rng(0)
    w = rng.standard_normal((M, K)).astype(np.float32)          # weights, one row per filter
    cols = rng.standard_normal((N, K)).astype(np.float32)       # im2col rows, one per position
    w_pm = np.where(w >= 0, 1.0, -1.0).astype(np.float32)
    cols_pm_t = np.ascontiguousarray(np.where(cols >= 0, 1.0, -1.0).astype(np.float32).T)   # K×N
    w_words, col_words = pack_bits(w), pack_bits(cols)
    words = w_words.shape[1]
    reference = (w_pm @ cols_pm_t).astype(np.int64)

    # memory
    mem_w = w.nbytes / w_words.nbytes
    mem_a = cols.nbytes / col_words.nbytes

    # correctness
    out_numpy = binary_matmul(w_words, col_words, K)
    assert (out_numpy == reference).all(), "NumPy binary product differs from the float ±1 product"
    kernel, kernel_note = compiled_kernel()
    out = np.empty((M, N), np.int64)
    if kernel:
        numba, xnor_gemm = kernel
        start = time.perf_counter()
        xnor_gemm(w_words, col_words, K, out)
        compile_s = time.perf_counter() - start
        assert (out == reference).all(), "compiled XNOR kernel differs from the float ±1 product"
        kernel_note = f"numba {numba.__version__} ({numba.threading_layer()} threads), compiled in {compile_s:.1f} s"

    thread_counts = sorted({1, max(1, args.threads)})
    results = {}
    for t in thread_counts:
        fns = {"float32 BLAS": lambda: w_pm @ cols_pm_t}
        if kernel:
            numba.set_num_threads(min(t, numba.config.NUMBA_NUM_THREADS))
            fns["XNOR+popcount (numba)"] = lambda: xnor_gemm(w_words, col_words, K, out)
        with threadpool_limits(limits=t, user_api="blas"):
            results[t] = alternate(fns, args.repeat)
    numpy_time = timing.median_time(lambda: binary_matmul(w_words, col_words, K),
                                    repeat=max(1, args.repeat // 3), warmup=0)
    pack_time = timing.median_time(lambda: pack_bits(cols), repeat=args.repeat)

    print(f"binary GEMM: {M}×{K} weights @ {K}×{N} activations (im2col of a 3×3 conv, "
          f"{K // 9}→{M} channels, {N} positions); {os.cpu_count()} CPU cores; {kernel_note}")
    print(f"packed: {words} uint64 words per row; every result equals the float ±1 product exactly\n")
    print(f"memory, weights     : float32 {w.nbytes:>11,} B, packed {w_words.nbytes:>9,} B  -> {mem_w:5.1f}x")
    print(f"memory, activations : float32 {cols.nbytes:>11,} B, packed {col_words.nbytes:>9,} B  -> {mem_a:5.1f}x\n")
    for t in thread_counts:
        table = dict(results[t])
        if t == 1:
            table["XNOR+popcount (NumPy)"] = numpy_time
        print(f"{t} thread(s) for BLAS and the kernel (median of {args.repeat} alternating rounds)")
        print(timing.ratio_table(table, baseline="float32 BLAS").replace("speed-up vs float32 BLAS",
                                                                         " speed-up vs BLAS"))
        print()
    print(f"binarise + pack the activations (NumPy pack_bits): {pack_time * 1e3:.2f} ms per call")
    best_blas = min(r["float32 BLAS"] for r in results.values())
    print(f"NumPy binary product / float32 BLAS (1 thread): {numpy_time / results[1]['float32 BLAS']:.1f}x slower")
    theory = xnor_paper_speedup(K // 9, 9)
    print(f"XNOR-Net's estimate 64·c·N_W/(c·N_W+64) for c={K // 9}, N_W=9: {theory:.1f}x (high-precision operations)")
    if kernel:
        t_max = thread_counts[-1]
        same = results[t_max]["float32 BLAS"] / results[t_max]["XNOR+popcount (numba)"]
        one = results[1]["float32 BLAS"] / results[1]["XNOR+popcount (numba)"]
        best_xnor = min(r["XNOR+popcount (numba)"] for r in results.values())
        with_pack = results[t_max]["float32 BLAS"] / (results[t_max]["XNOR+popcount (numba)"] + pack_time)
        print(f"compiled XNOR kernel over BLAS: {one:.1f}x on 1 thread, {same:.1f}x on {t_max} threads, "
              f"{best_blas / best_xnor:.1f}x best against best; "
              f"{with_pack:.1f}x on {t_max} threads counting NumPy packing of the activations")
        verdict = "reached" if min(one, same) >= GOAL else "NOT reached"
        print(f"goal >= {GOAL:g}x over BLAS with the same threads: {verdict}")
    else:
        print("compiled kernel skipped: install numba (see requirements.txt) to measure the speed-up")

    t_max = thread_counts[-1]
    bars = {f"float32\nBLAS": results[t_max]["float32 BLAS"] * 1e3}
    if kernel:
        bars["XNOR\nnumba"] = results[t_max]["XNOR+popcount (numba)"] * 1e3
        bars["XNOR numba\n+ packing"] = (results[t_max]["XNOR+popcount (numba)"] + pack_time) * 1e3
    bars["XNOR NumPy\n(1 thread)"] = numpy_time * 1e3
    fig = plot.bar_chart(bars, "milliseconds per product (log scale)", log=True,
                         title=f"{M}×{K} @ {K}×{N}, {t_max} thread(s)")
    print("chart:", plot.save(fig, REPO / "_build" / "bench" / "bnn.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
