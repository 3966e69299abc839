"""source_lib.multistyle: the pretrained 26-style network (chapter 6) read from its ONNX file."""
from __future__ import annotations

import numpy as np
import pytest

from source_lib import multistyle, weights

pytest.importorskip("onnxruntime")
try:
    multistyle.onnx_path()
except weights.WeightsNotFound:
    pytest.skip("multistyle26.onnx not fetched (python -m source_lib.fetch_models)", allow_module_level=True)


def test_weights_names_and_shapes():
    w = multistyle.load_weights()
    assert w["contract.0.w"].shape == (32, 3, 9, 9) and w["expand.2.w"].shape == (3, 4, 9, 9)
    assert w["res.5.1.norm.gamma"].shape == (multistyle.NUM_STYLES, 32)
    assert all(v.dtype == np.float32 for v in w.values())
    assert sum(v.size for v in w.values()) == 166104


def test_conv_layers_read_from_the_graph():
    layers = multistyle.conv_layers()
    assert len(layers) == 3 + 12 + 3
    assert [l["stride"] for l in layers[:3]] == [1, 2, 2]
    assert all(l["padding"] == "reflect" for l in layers)
    assert layers[-1]["name"] == "expand.2" and layers[-1]["shape"] == (3, 4, 9, 9)


def test_upsampling_is_nearest_times_two():
    ups = multistyle.upsampling()
    assert len(ups) == 2
    for u in ups:
        assert u["mode"] == "nearest" and u["scales"] == (1.0, 1.0, 2.0, 2.0)


def test_reference_runs_and_blends():
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 16, 20)).astype(np.float32)
    a = multistyle.reference(x, multistyle.one_hot(0))
    b = multistyle.reference(x, multistyle.one_hot(1))
    assert a.shape == (1, 3, 16, 20) and a.dtype == np.float32
    assert 0 < a.min() and a.max() < 1 and np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("bad, error", [(np.zeros((3, 16, 16), np.float32), ValueError),
                                        (np.zeros((1, 3, 18, 16), np.float32), ValueError),
                                        (np.zeros((1, 3, 16, 16), np.uint8), TypeError)])
def test_bad_images_raise_clear_errors(bad, error):
    with pytest.raises(error):
        multistyle.reference(bad, multistyle.one_hot(0))


def test_bad_style_weights():
    with pytest.raises(ValueError, match="0 … 25"):
        multistyle.one_hot(26)
    with pytest.raises(ValueError, match="style_weights"):
        multistyle.reference(np.zeros((1, 3, 8, 8), np.float32), np.ones(3, np.float32))


def test_missing_file_names_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "search_dirs", lambda: [tmp_path])
    with pytest.raises(weights.WeightsNotFound, match="fetch_models"):
        multistyle.onnx_path()
