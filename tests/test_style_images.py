"""source_lib.styles: the style images of chapter 5 (built-in textures and instructors' paintings)."""
from __future__ import annotations

import numpy as np
import pytest

from source_lib import config, images, styles


@pytest.mark.parametrize("name", styles.BUILTIN)
def test_every_builtin_style_loads_as_rgb_uint8(name):
    img = styles.load_style(name, size=(40, 24))
    assert img.dtype == np.uint8 and img.shape == (24, 40, 3)
    assert styles.credit(name)
    full = styles.load_style(name)
    assert full.ndim == 3 and full.shape[2] == 3 and min(full.shape[:2]) >= 256


def test_textures_are_tinted_unless_asked_not_to():
    grey = styles.load_style("brick", size=(32, 32), tint=False)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    tinted = styles.load_style("brick", size=(32, 32))
    assert (tinted[..., 0].astype(int) - tinted[..., 2]).mean() > 20, "brick is tinted red"
    dark, light = styles.TEXTURES["brick"]
    ramp = styles.tint_grey(np.array([[0, 255]], np.uint8), dark, light)
    assert ramp.tolist() == [[list(dark), list(light)]]


def test_crop_to_aspect_keeps_the_centre():
    image = np.zeros((10, 20, 3), np.uint8)
    image[:, 5:15] = 255
    square = styles.crop_to_aspect(image, 1, 1)
    assert square.shape == (10, 10, 3) and (square == 255).all()
    tall = styles.crop_to_aspect(np.zeros((20, 10, 3), np.uint8), 2, 1)
    assert tall.shape == (5, 10, 3)


def test_paintings_in_data_styles_come_first(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    assert styles.paintings() == {} and styles.default_style() == styles.DEFAULT
    painting = np.zeros((30, 60, 3), np.uint8)
    painting[..., 2] = 200
    images.save_image(painting, tmp_path / "styles" / "blue_period.png")
    (tmp_path / "styles" / "blue_period.txt").write_text("A blue painting, public domain.\n")
    (tmp_path / "styles" / "notes.md").write_text("not an image")
    assert styles.available()[0] == "blue_period" and "brick" in styles.available()
    assert styles.default_style() == "blue_period"
    got = styles.load_style(size=(16, 16))
    assert got.shape == (16, 16, 3) and (got[..., 2] == 200).all()
    assert styles.credit() == "A blue painting, public domain."


def test_bad_input_raises_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    with pytest.raises(KeyError, match="data/styles|styles"):
        styles.load_style("starry_night")
    with pytest.raises(KeyError, match="unknown style"):
        styles.credit("starry_night")
    for bad in [(0, 10), (10,), (10.5, 10), (True, 10)]:
        with pytest.raises(ValueError, match="size"):
            styles.load_style("grass", size=bad)
    with pytest.raises(ValueError, match="grey"):
        styles.tint_grey(np.zeros((4, 4, 3), np.uint8), (0, 0, 0), (255, 255, 255))
