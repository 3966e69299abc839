"""source_lib.train_style (chapter 6): data, loss network, loop with resumable checkpoints, CLI.

The graded parts (transform network, Gram matrix, training step) come from the notebook; here a
tiny stand-in module provides them so that the tests check only the library."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from source_lib import images, train_style

tf = pytest.importorskip("tensorflow")

TINY = textwrap.dedent('''
    import tensorflow as tf
    import keras

    class TransformNet(keras.Model):
        def __init__(self, num_styles=1, contract=(4, 4, 4), expand=(4, 4), num_res=1, **kw):
            super().__init__(**kw)
            self.num_styles = num_styles
            self.conv = keras.layers.Conv2D(3, 3, padding="same")

        def call(self, inputs):
            x, s = inputs
            return tf.sigmoid(self.conv(x))

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
def loss_net():
    return train_style.loss_network()


def test_random_crops_shapes_and_range():
    photos = train_style.content_images(("coffee", "chelsea"))
    batch = train_style.random_crops(photos, 24, 3, np.random.default_rng(0))
    assert batch.shape == (3, 24, 24, 3) and batch.dtype == np.float32
    assert 0 <= batch.min() and batch.max() <= 1
    with pytest.raises(ValueError, match="multiple of 4"):
        train_style.random_crops(photos, 30, 1, np.random.default_rng(0))


def test_style_image_specs():
    assert train_style.style_image("brick", 16).shape == (1, 16, 16, 3)
    styled = train_style.style_image("multistyle26:3", 20)
    assert styled.shape == (1, 20, 20, 3) and styled.dtype == np.float32
    array = np.random.default_rng(0).uniform(0, 1, (30, 40, 3))
    assert train_style.style_image(array, 8).shape == (1, 8, 8, 3)
    with pytest.raises(FileNotFoundError):
        train_style.style_image("no_such_painting", 8)


def test_style_image_takes_chapter_5_paintings(tmp_path, monkeypatch):
    """A painting the instructor put into data/styles/ for chapter 5 is found by name here too."""
    from PIL import Image

    from source_lib import config

    (tmp_path / "styles").mkdir()
    painting = np.zeros((12, 12, 3), np.uint8)
    painting[:, :6] = (200, 30, 10)                      # left half red, right half black
    Image.fromarray(painting).save(tmp_path / "styles" / "red_left.png")
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    style = train_style.style_image("red_left", 12)[0]
    assert style.shape == (12, 12, 3)
    assert abs(float(style[:, :5, 0].mean()) - 200 / 255) < 0.02 and float(style[:, 7:].max()) < 0.02


def test_loss_network_layers(loss_net):
    out = loss_net(tf.zeros((2, 32, 32, 3)))
    assert set(out) == set(train_style.STYLE_LAYERS)
    assert out["relu1_2"].shape == (2, 32, 32, 64) and out["relu4_3"].shape == (2, 4, 4, 512)
    assert float(tf.reduce_min(out["relu2_2"])) >= 0       # ReLU activations
    with pytest.raises(ValueError, match="unknown VGG16 layers"):
        train_style.loss_network(("conv9_9",))


def test_load_solutions_errors(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n")
    with pytest.raises(ValueError, match="TransformNet"):
        train_style.load_solutions(bad)
    with pytest.raises(FileNotFoundError):
        train_style.load_solutions(tmp_path / "missing.ipynb")


def test_cli_trains_resumes_and_saves(tmp_path):
    tiny = tmp_path / "tiny.py"
    tiny.write_text(TINY)
    out = tmp_path / "mystyle"
    args = ["--style", "brick", "--out", str(out), "--size", "16", "--batch", "1", "--solutions", str(tiny),
            "--save-every", "1"]
    assert train_style.main(args + ["--steps", "2"]) == 0
    assert len(json.loads((out / "history.json").read_text())["total"]) == 2
    assert train_style.main(args + ["--steps", "3", "--resume"]) == 0
    assert len(json.loads((out / "history.json").read_text())["total"]) == 3
    assert (out / "mystyle.weights.h5").is_file() and (out / "config.json").is_file()
    run = train_style.load_savedmodel(out)
    photo = images.to_float(images.load_image("coffee", size=(12, 8)))[None]
    styled = run(photo, [1.0])
    assert styled.shape == (1, 8, 12, 3) and 0 < styled.min() and styled.max() < 1
    with pytest.raises(FileNotFoundError, match="train_style"):
        train_style.load_savedmodel(tmp_path)
