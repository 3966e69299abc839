"""The offline runtime and the `python -m source_lib.stylize` tool (chapter 8): no TensorFlow in
the process that runs the model, a folder with a progress bar, clear errors."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from source_lib import config, offline_runtime, stylize


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small image-to-image network ([1, H, W, 3] -> sigmoid of a 3×3 conv) as a .tflite file
    with unknown H and W, and the TensorFlow function it came from."""
    tf = pytest.importorskip("tensorflow")
    kernel = tf.constant(np.random.default_rng(0).normal(0, 0.5, (3, 3, 3, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def net(x):
        return tf.sigmoid(tf.nn.conv2d(x, kernel, 1, "SAME"))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([net.get_concrete_function()], net)
    path = tmp_path_factory.mktemp("model") / "tiny.tflite"
    path.write_bytes(converter.convert())
    return path, lambda batch: net(tf.constant(batch)).numpy()


def test_offline_model_matches_tensorflow_for_several_sizes(tiny_model):
    path, reference = tiny_model
    model = offline_runtime.OfflineModel(path)
    rng = np.random.default_rng(1)
    for h, w in [(8, 12), (16, 16), (8, 12)]:
        batch = rng.uniform(0, 1, (1, h, w, 3)).astype(np.float32)
        out = model(batch)
        assert out.shape == (1, h, w, 3) and out.dtype == np.float32
        assert np.abs(out - reference(batch)).max() < 1e-5
    with pytest.raises(TypeError, match="float32"):
        model(np.zeros((1, 8, 8, 3), np.float64))


def test_pre_and_post_processing():
    image = np.arange(8 * 12 * 3, dtype=np.uint8).reshape(8, 12, 3)
    batch = offline_runtime.to_batch(image)
    assert batch.shape == (1, 8, 12, 3) and batch.dtype == np.float32 and batch.max() <= 1
    assert (offline_runtime.to_image(batch) == image).all()
    with pytest.raises(ValueError, match="multiple of 4"):
        offline_runtime.to_batch(np.zeros((10, 12, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        offline_runtime.to_batch(np.zeros((8, 8, 3), np.float32))
    assert stylize.crop_to_multiple(np.zeros((10, 13, 3), np.uint8)).shape == (8, 12, 3)


def test_missing_or_bad_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="export one"):
        offline_runtime.OfflineModel(tmp_path / "none.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ValueError, match="not a LiteRT"):
        offline_runtime.OfflineModel(bad)


def _cli(*args, cwd=None):
    code = ("import sys, runpy\n"
            "sys.argv = ['stylize'] + sys.argv[1:]\n"
            "try:\n"
            "    runpy.run_module('source_lib.stylize', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    rc = e.code\n"
            "else:\n"
            "    rc = 0\n"
            "print('TF_LOADED', 'tensorflow' in sys.modules)\n"
            "sys.exit(rc)\n")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or config.REPO, timeout=120)


def test_cli_on_a_folder_without_tensorflow(tiny_model, tmp_path):
    path, reference = tiny_model
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    for i, (h, w) in enumerate([(8, 12), (12, 16), (16, 8)]):
        offline_runtime.write_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), src / f"img{i}.png")
    (src / "notes.txt").write_text("not an image, skipped")
    proc = _cli("--model", path, "--input", src, "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "TF_LOADED False" in proc.stdout, "the CLI must not import TensorFlow"
    assert "stylize" in proc.stderr and "3/3" in proc.stderr, "a tqdm progress bar over the folder"
    for i in range(3):
        image = offline_runtime.read_image(src / f"img{i}.png")
        got = offline_runtime.read_image(tmp_path / "out" / f"img{i}.png")
        want = offline_runtime.to_image(reference(offline_runtime.to_batch(image)))
        assert got.shape == image.shape and np.abs(got.astype(int) - want).max() <= 1


def test_cli_errors_are_clear(tiny_model, tmp_path):
    path, _ = tiny_model
    odd = tmp_path / "odd.png"
    offline_runtime.write_image(np.zeros((10, 12, 3), np.uint8), odd)
    proc = _cli("--model", path, "--input", odd, "--output", tmp_path / "o.png")
    assert proc.returncode == 2 and "multiple of 4" in proc.stderr
    proc = _cli("--model", path, "--input", odd, "--output", tmp_path / "o.png", "--crop")
    assert proc.returncode == 0, proc.stderr
    assert offline_runtime.read_image(tmp_path / "o.png").shape == (8, 12, 3)
    proc = _cli("--model", tmp_path / "missing.tflite", "--input", odd, "--output", tmp_path / "x.png")
    assert proc.returncode == 2 and "not found" in proc.stderr
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    proc = _cli("--model", path, "--input", broken, "--output", tmp_path / "y.png")
    assert proc.returncode == 2 and "cannot read" in proc.stderr
    proc = _cli("--model", path, "--input", tmp_path / "nothing.png", "--output", tmp_path / "z.png")
    assert proc.returncode == 2 and "not found" in proc.stderr
