"""A compiled CSR × dense product (numba). (Defined in chapter 10, mixed precision and sparsity.)

The assignment writes CSR construction and the product in NumPy (notebooks/mixed_precision_sparsity);
this module is the compiled kernel that `bench/mixed_precision_sparsity.py` times against dense BLAS:

    C[i, :] = sum over k in indptr[i]:indptr[i+1] of data[k] * B[indices[k], :]      (10.9)

Rows of C are independent and run in parallel (`prange`); the inner loop over the N columns of B
is contiguous and numba/LLVM vectorises it (AVX2: 8 float32 lanes). numba is imported on the first
call, so importing this module costs nothing.
"""
from __future__ import annotations

import numpy as np

_KERNEL = None


def _compile():
    global _KERNEL
    if _KERNEL is None:
        try:
            from numba import njit, prange
        except ImportError as exc:      # pragma: no cover - numba is in requirements.txt
            raise ImportError("csr_matmul_numba needs numba (pip install numba, see requirements.txt)") from exc

        @njit(parallel=True, fastmath=True, nogil=True, cache=False)
        def kernel(data, indices, indptr, b, out):
            n_cols = b.shape[1]
            for i in prange(indptr.shape[0] - 1):
                for j in range(n_cols):
                    out[i, j] = 0
                for k in range(indptr[i], indptr[i + 1]):
                    v = data[k]
                    col = indices[k]
                    for j in range(n_cols):
                        out[i, j] += v * b[col, j]

        _KERNEL = kernel
    return _KERNEL


def check_csr(data, indices, indptr, b) -> None:
    """Raise ValueError unless (data, indices, indptr) is a CSR matrix that fits b's rows."""
    if b.ndim != 2:
        raise ValueError(f"b must be 2-D, got shape {b.shape}")
    if data.ndim != 1 or indices.ndim != 1 or indptr.ndim != 1 or data.shape != indices.shape:
        raise ValueError(f"data and indices must be 1-D of equal length, indptr 1-D; got {data.shape}, "
                         f"{indices.shape}, {indptr.shape}")
    if indptr.size < 1 or indptr[0] != 0 or indptr[-1] != data.size or np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must start at 0, never decrease and end at len(data)")
    if indices.size and (indices.min() < 0 or indices.max() >= b.shape[0]):
        raise ValueError(f"column indices must be in [0, {b.shape[0]}) for b with {b.shape[0]} rows")


def csr_matmul_numba(data, indices, indptr, b, out=None) -> np.ndarray:
    """Dense (M, N) = CSR (M, K) @ b (K, N), compiled with numba, rows in parallel.

    data (nnz,), indices (nnz,) int, indptr (M + 1,) int, b (K, N) C-contiguous; the result has
    dtype np.result_type(data, b). `out` (M, N) may be passed to reuse memory (timing loops)."""
    data, indices, indptr = np.asarray(data), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)
    b = np.ascontiguousarray(b)
    check_csr(data, indices, indptr, b)
    dtype = np.result_type(data, b)
    if out is None:
        out = np.empty((indptr.size - 1, b.shape[1]), dtype)
    elif out.shape != (indptr.size - 1, b.shape[1]) or out.dtype != dtype:
        raise ValueError(f"out must be {(indptr.size - 1, b.shape[1])} {dtype}, got {out.shape} {out.dtype}")
    _compile()(data.astype(dtype, copy=False), indices, indptr, b.astype(dtype, copy=False), out)
    return out
