"""The network trained in chapter 6 is found and quantized by chapters 7 and 8.

`train_style.find_trained` ($COURSE_TRAINED_STYLE, the chapter 6 notebook's output beside the
running notebook's folder), `train_style.export_single_input` and
`tflite_tools.convert_saved_model` (float32 and full int8 run by the LiteRT interpreter against
the SavedModel). A tiny network in the layout of chapter 6 (reflect-padded convolutions, a
stride-2 convolution, instance norms, `tf.repeat` upsampling, a sigmoid) is trained for two
steps by the `train_style` CLI, as in test_train_style.py."""
from __future__ import annotations

import os
import shutil
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from source_lib import images, tflite_tools, train_style

tf = pytest.importorskip("tensorflow")

SIZE = 32
TINY = textwrap.dedent('''
    import tensorflow as tf
    import keras

    def _norm(x):
        mean, var = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + 1e-5)

    def _pad(x, p):
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    class TransformNet(keras.Model):
        def __init__(self, num_styles=1, contract=(8, 8, 8), expand=(8, 8), num_res=1, **kw):
            super().__init__(**kw)
            self.num_styles = num_styles
            self.down = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)
            self.up = keras.layers.Conv2D(3, 3, use_bias=False)

        def call(self, inputs):
            x, s = inputs
            h = tf.nn.relu(_norm(self.down(_pad(x, 1))))
            h = tf.repeat(tf.repeat(h, 2, axis=1), 2, axis=2)
            return tf.sigmoid(_norm(self.up(_pad(h, 1))) + tf.reduce_sum(s))

    def gram_matrix(f):
        n, h, w, c = f.shape
        f = tf.reshape(f, (-1, h * w, c))
        return tf.matmul(f, f, transpose_a=True) / (h * w * c)

    def train_step(net, loss_net, optimizer, content, style_weights, style_grams, loss_weights):
        with tf.GradientTape() as tape:
            out = net((content, style_weights))
            feats = loss_net(out)
            loss = sum(tf.reduce_mean(tf.square(gram_matrix(feats[k]) - g)) for k, g in style_grams.items())
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return {"total": loss}
''')


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """data/models/<name>/ as the CLI writes it: <name>_savedmodel/, config.json, ..."""
    root = tmp_path_factory.mktemp("trained")
    (root / "tiny.py").write_text(TINY)
    out = root / "models" / "tiny"
    assert train_style.main(["--style", "brick", "--out", str(out), "--size", str(SIZE), "--batch", "1",
                             "--steps", "2", "--solutions", str(root / "tiny.py")]) == 0
    return out


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(train_style.TRAINED_ENV, raising=False)
    monkeypatch.setattr(train_style.config, "DATA_DIR", train_style.config.DATA_DIR / "no-such-folder")


def test_find_trained_via_environment(trained, monkeypatch, tmp_path):
    saved = trained / "tiny_savedmodel"
    monkeypatch.setenv(train_style.TRAINED_ENV, str(saved))
    assert train_style.find_trained(tmp_path) == saved
    monkeypatch.setenv(train_style.TRAINED_ENV, str(trained))        # the folder holding it
    assert train_style.find_trained(tmp_path) == saved


def test_find_trained_bad_environment_is_a_clear_error(trained, monkeypatch, tmp_path):
    not_saved = tmp_path / "empty"
    not_saved.mkdir()
    for bad in [tmp_path / "missing", not_saved, trained / "config.json"]:
        monkeypatch.setenv(train_style.TRAINED_ENV, str(bad))
        with pytest.raises(FileNotFoundError, match="COURSE_TRAINED_STYLE.*not a SavedModel folder written by"):
            train_style.find_trained(tmp_path)
    alone = tmp_path / "alone_savedmodel"                    # a SavedModel without save()'s config.json
    shutil.copytree(trained / "tiny_savedmodel", alone)
    monkeypatch.setenv(train_style.TRAINED_ENV, str(alone))
    with pytest.raises(FileNotFoundError, match="config.json"):
        train_style.find_trained(tmp_path)


def test_find_trained_beside_the_notebook_and_in_data_models(trained, no_env, monkeypatch, tmp_path):
    course = tmp_path / "course"
    notebook_dir = course / "quantization"
    notebook_dir.mkdir(parents=True)
    assert train_style.find_trained(notebook_dir) is None
    hint = train_style.trained_hint(notebook_dir)
    assert "fast_style_transfer" in hint and "python -m source_lib.train_style" in hint
    data = tmp_path / "data"                                 # data/models/<name>/<name>_savedmodel
    shutil.copytree(trained, data / "models" / "tiny")
    monkeypatch.setattr(train_style.config, "DATA_DIR", data)
    assert train_style.find_trained(notebook_dir) == data / "models" / "tiny" / "tiny_savedmodel"
    out = course / "fast_style_transfer" / "output" / "fast_style"     # chapter 6's save() output
    out.mkdir(parents=True)
    shutil.copytree(trained / "tiny_savedmodel", out / "fast_style_savedmodel")
    shutil.copy(trained / "config.json", out / "config.json")
    assert train_style.find_trained(notebook_dir) == out / "fast_style_savedmodel"      # first in order
    monkeypatch.chdir(notebook_dir)                          # default: the working directory
    assert train_style.find_trained() == out / "fast_style_savedmodel"


def test_litert_float32_and_int8_match_the_savedmodel(trained, tmp_path):
    saved = trained / "tiny_savedmodel"
    x = images.to_float(images.load_image("chelsea", size=(SIZE, SIZE)))[None]
    reference = train_style.load_savedmodel(saved)(x)
    static = train_style.export_single_input(saved, tmp_path / "static", x.shape)
    calib = [c[None] for c in train_style.random_crops(train_style.content_images(("coffee", "astronaut")),
                                                       SIZE, 16, np.random.default_rng(0))]
    flat32 = tflite_tools.convert_saved_model(static, "float32", path=tmp_path / "f32.tflite")
    flat8 = tflite_tools.convert_saved_model(static, "int8", representative=calib)
    assert (tmp_path / "f32.tflite").read_bytes() == flat32
    y32, y8 = tflite_tools.Runner(flat32)(x), tflite_tools.Runner(flat8)(x)
    assert y32.shape == y8.shape == x.shape
    assert np.abs(y32 - reference).max() < 1e-4
    assert tflite_tools.psnr(y8, reference) >= 20.0
    assert tflite_tools.op_counts(flat8)["CONV_2D"] == {"int8": 2}
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        tflite_tools.convert_saved_model(tmp_path, "float32")
