"""Tests of source_lib.ncnn (the reference ncnn reader) and source_lib.upscale (tiling + CLI)."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from source_lib import images, ncnn, upscale

TINY = """7767517
5 6
Input in 0 1 data
Split sp 1 2 data d0 d1
Convolution c1 1 1 d0 a 0=12 1=3 4=1 5=1 6=324 9=2 -23310=1,1.000000e-01
PixelShuffle ps 1 1 a e 0=2
Eltwise add 2 1 e d1x out 0=1 -23301=2,5.000000e-01,1.000000e+00
"""
TINY = TINY.replace("5 6", "6 7").replace(
    "Eltwise", "Interp up 1 1 d1 d1x 0=1 1=2.000000e+00 2=2.000000e+00\nEltwise")


def tiny_files(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((12, 3, 3, 3)).astype(np.float16)
    b = rng.standard_normal(12).astype(np.float32)
    return w.astype(np.float32), b, struct.pack("<I", ncnn.TAG_FP16) + w.tobytes() + b.tobytes()


def test_parse_param_reads_arrays_and_types():
    layers = ncnn.parse_param(TINY)
    assert [lay.type for lay in layers] == ["Input", "Split", "Convolution", "PixelShuffle", "Interp", "Eltwise"]
    assert layers[2].params == {0: 12, 1: 3, 4: 1, 5: 1, 6: 324, 9: 2, 10: [0.1]}
    assert layers[5].params[1] == [0.5, 1.0]
    with pytest.raises(ncnn.NcnnFormatError):
        ncnn.parse_param("123\n1 1\n")


def test_weights_padding_and_errors():
    w, b, data = tiny_files()
    got = ncnn.load_weights(ncnn.parse_param(TINY), data)
    assert (got["c1"][0] == w).all() and (got["c1"][1] == b).all()
    with pytest.raises(ncnn.NcnnFormatError, match="left over"):
        ncnn.load_weights(ncnn.parse_param(TINY), data + bytes(4))
    odd = struct.pack("<I", ncnn.TAG_FP16) + np.ones(3, "<f2").tobytes() + b"\0\0"
    reader = ncnn.BlobReader(odd)
    assert reader.tagged(3).tolist() == [1.0, 1.0, 1.0] and reader.offset == 12
    with pytest.raises(ncnn.NcnnFormatError, match="tag"):
        ncnn.BlobReader(struct.pack("<I", 0x000D4B38) + bytes(4)).tagged(1)


def test_pixel_shuffle_order_and_keras_model():
    tf = pytest.importorskip("tensorflow")
    x = np.arange(8.0).reshape(1, 8, 1, 1)
    assert ncnn.pixel_shuffle_nchw(x, 2)[0, 1].tolist() == [[4, 5], [6, 7]]
    w, b, data = tiny_files()
    layers = ncnn.parse_param(TINY)
    model = ncnn.build_keras(layers, ncnn.load_weights(layers, data))
    img = np.random.default_rng(1).random((1, 4, 5, 3)).astype(np.float32)
    z = tf.nn.conv2d(img, w.transpose(2, 3, 1, 0), 1, "SAME").numpy() + b
    z = np.where(z >= 0, z, 0.1 * z)
    ref = 0.5 * ncnn.pixel_shuffle_nchw(z.transpose(0, 3, 1, 2), 2).transpose(0, 2, 3, 1) + img.repeat(2, 1).repeat(2, 2)
    assert np.abs(model(img).numpy() - ref).max() < 1e-4


def test_prelu_variants_agree_on_the_real_model():
    pytest.importorskip("tensorflow")
    try:
        a = ncnn.load_model("animevideov3")
    except FileNotFoundError:
        pytest.skip("Real-ESRGAN files not fetched (python -m source_lib.fetch_models)")
    b = ncnn.load_model("animevideov3", prelu="relu")
    x = np.random.default_rng(2).random((1, 8, 8, 3)).astype(np.float32)
    ya, yb = a(x).numpy(), b(x).numpy()
    assert ya.shape == (1, 32, 32, 3) and np.abs(ya - yb).max() < 1e-4
    with pytest.raises(ValueError):
        ncnn.build_keras([], {}, prelu="nope")


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(KeyError, match="animevideov3"):
        ncnn.model_files("x8-magic")


@pytest.mark.parametrize("overlap", [0, 3])
def test_tiling_equals_whole_image_for_a_local_operation(overlap):
    img = np.random.default_rng(3).random((13, 10, 3)).astype(np.float32)
    run = lambda t: t.repeat(2, 1).repeat(2, 2)          # nearest ×2: every output depends on one pixel
    out = upscale.upscale_tiled(run, img, scale=2, tile=4, overlap=overlap, show_progress=False)
    assert out.shape == (26, 20, 3) and (out == run(img[None])[0]).all()
    with pytest.raises(ValueError, match="float"):
        upscale.upscale_tiled(run, (img * 255).astype(np.uint8), scale=2)
    with pytest.raises(ValueError, match="tile"):
        upscale.tile_boxes(5, 5, 0)


def test_cli_writes_a_4x_image(tmp_path, capsys):
    pytest.importorskip("tensorflow")
    try:
        ncnn.model_files("animevideov3")
    except FileNotFoundError:
        pytest.skip("Real-ESRGAN files not fetched")
    src = images.save_image(images.load_image("chelsea", size=(24, 20)), tmp_path / "in.png")
    assert upscale.main(["--model", "animevideov3", "--input", str(src), "--output",
                         str(tmp_path / "out.png"), "--tile", "12", "--overlap", "4"]) == 0
    out = images.load_image(tmp_path / "out.png")
    assert out.shape == (80, 96, 3)
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        upscale.main(["--model", "nope", "--input", str(src), "--output", str(tmp_path / "x.png")])
