"""Checks that tell a student what is wrong. (Defined in chapter 1; used by every chapter.)

Visible test cells call these so that a failure reads like advice: which value,
which shape or dtype was expected, where the first difference is and how large
the error is. Hidden tests do not rely on them alone (a student cell could
replace them); they compare with ndarray methods and plain `assert`.
"""
from __future__ import annotations

import numpy as np


class CheckFailed(AssertionError):
    """A visible check failed; the message explains why."""


def check_array(x, name: str = "result", *, shape=None, dtype=None, finite: bool = True) -> np.ndarray:
    """Check that `x` is an ndarray with the given shape and dtype kind; return it.

    `dtype` may be a NumPy dtype (exact match) or one of 'float', 'int', 'uint', 'bool'.
    """
    if not isinstance(x, np.ndarray):
        raise CheckFailed(f"{name} should be a numpy.ndarray, got {type(x).__name__}")
    if shape is not None and tuple(x.shape) != tuple(shape):
        raise CheckFailed(f"{name} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    if dtype is not None:
        kinds = {"float": "f", "int": "i", "uint": "u", "bool": "b"}
        if isinstance(dtype, str) and dtype in kinds:
            if x.dtype.kind != kinds[dtype]:
                raise CheckFailed(f"{name} has dtype {x.dtype}, expected a {dtype} dtype")
        elif x.dtype != np.dtype(dtype):
            raise CheckFailed(f"{name} has dtype {x.dtype}, expected {np.dtype(dtype)}")
    if finite and x.dtype.kind in "fc" and not np.all(np.isfinite(x)):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise CheckFailed(f"{name} has NaN or infinite values, first at index {tuple(int(i) for i in bad)}")
    return x


def assert_close(actual, expected, name: str = "result", *, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Like numpy.testing.assert_allclose, with a message a student can act on."""
    expected = np.asarray(expected)
    actual = check_array(actual, name, shape=expected.shape, finite=False)
    a = actual.astype(np.float64)
    e = expected.astype(np.float64)
    err = np.abs(a - e)
    bad = ~(err <= atol + rtol * np.abs(e))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(
            f"{name} differs from the reference at {int(bad.sum())} of {bad.size} positions.\n"
            f"  first at index {idx}: got {a[idx].item()!r}, expected {e[idx].item()!r}\n"
            f"  largest absolute error {err.max():.3g} (tolerance: atol={atol:g}, rtol={rtol:g})")


def assert_equal(actual, expected, name: str = "result") -> None:
    """Exact equality of arrays (shape and values), with a readable message."""
    expected = np.asarray(expected)
    actual = check_array(actual, name, shape=expected.shape, finite=False)
    bad = actual != expected
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(f"{name} differs at {int(bad.sum())} of {bad.size} positions; "
                          f"first at index {idx}: got {actual[idx].item()!r}, expected {expected[idx].item()!r}")


def passed(what: str) -> None:
    """Print a one-line success message (test cells end with it)."""
    print(f"✔ {what}")
