"""The compiled CSR × dense kernel of chapter 10 (source_lib/sparse_kernels.py)."""
import numpy as np
import pytest

pytest.importorskip("numba")
scipy_sparse = pytest.importorskip("scipy.sparse")

from source_lib.sparse_kernels import csr_matmul_numba  # noqa: E402


def _csr(a):
    m = scipy_sparse.csr_matrix(a)
    return m.data, m.indices.astype(np.int64), m.indptr.astype(np.int64)


@pytest.mark.parametrize("density, dtype", [(0.0, np.float32), (0.1, np.float32), (0.5, np.float64), (1.0, np.float32)])
def test_matches_dense_product(density, dtype):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((37, 23)) * (rng.random((37, 23)) < density)).astype(dtype)
    b = rng.standard_normal((23, 9)).astype(dtype)
    c = csr_matmul_numba(*_csr(a), b)
    assert c.shape == (37, 9) and c.dtype == dtype
    np.testing.assert_allclose(c, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-5)


def test_reuses_out_and_overwrites_it():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 6)).astype(np.float32) * (rng.random((5, 6)) < 0.5)
    b = rng.standard_normal((6, 4)).astype(np.float32)
    out = np.full((5, 4), 99.0, np.float32)
    assert csr_matmul_numba(*_csr(a), b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-6)


def test_bad_input_raises():
    a = np.eye(3, dtype=np.float32)
    data, indices, indptr = _csr(a)
    with pytest.raises(ValueError, match="column indices"):
        csr_matmul_numba(data, indices, indptr, np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        csr_matmul_numba(data, indices, indptr, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="indptr"):
        csr_matmul_numba(data, indices, indptr[:-1], np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="out"):
        csr_matmul_numba(data, indices, indptr, np.ones((3, 2), np.float32), out=np.empty((3, 3), np.float32))
