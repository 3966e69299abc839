"""Numerical gradients by central differences. (Defined in chapter 1; used from chapter 2 on.)

For a function f: R^n -> R^m and an upstream gradient dout (shape of f(x)), the
numerical gradient of sum(f(x) * dout) with respect to x is

    dx[i] ≈ sum((f(x + h e_i) - f(x - h e_i)) * dout) / (2 h)

which is what every backward pass in the course is checked against (float64,
relative error below 1e-6).
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                       dout: np.ndarray | None = None, h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of sum(f(x) * dout) w.r.t. `x` (float64; `x` is restored)."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise ValueError("numerical_gradient needs a float64 ndarray x (float32 is too coarse)")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(x), dtype=np.float64)
        x[i] = old - h
        minus = np.asarray(f(x), dtype=np.float64)
        x[i] = old
        weight = 1.0 if dout is None else dout
        grad[i] = np.sum((plus - minus) * weight) / (2 * h)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> float:
    """max |a - b| / max(|a| + |b|, eps): the relative error used in the course."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ, {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), eps)))
