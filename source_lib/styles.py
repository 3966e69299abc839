"""Style images for style transfer. (Defined in chapter 5, non-real-time style transfer.)

Nothing is downloaded. The built-in styles ship with scikit-image:

* ``brick``, ``grass``, ``gravel``: photographs of textures released under CC0 (public domain).
  scikit-image stores them in grey; `load_style` maps the grey levels onto a line between two
  colours (a dark and a light one, `TEXTURES`) so that the style has a colour too
  (``tint=False`` keeps them grey);
* ``hubble``: the Hubble eXtreme Deep Field (NASA, public domain), a colour image.

**Paintings.** An instructor can add public-domain paintings (for example from Wikimedia
Commons: Van Gogh's *The Starry Night*, Hokusai's *The Great Wave*) by copying the image files
into ``data/styles/`` (the folder ``$COURSE_DATA/styles`` when ``COURSE_DATA`` is set). Each file
is a style named after its file name without the suffix, and the first of them (in
alphabetical order) becomes `default_style`. Put the painting's credit in a text file of the
same name with the suffix ``.txt`` (``starry_night.txt`` next to ``starry_night.jpg``);
`credit` returns it.

Images are ``(H, W, 3)`` uint8 RGB arrays, as in `source_lib.images`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from . import config, images

# Built-in grey textures -> (dark colour, light colour) that the grey levels are mapped onto.
TEXTURES = {
    "brick": ((60, 22, 16), (236, 132, 84)),
    "grass": ((14, 44, 18), (190, 222, 80)),
    "gravel": ((34, 36, 66), (238, 214, 160)),
}
# Built-in colour images: name -> (package, file, credit).
COLOUR = {
    "hubble": ("skimage.data", "hubble_deep_field.jpg",
               "Hubble eXtreme Deep Field, NASA (public domain), via scikit-image"),
}
BUILTIN = (*TEXTURES, *COLOUR)
DEFAULT = "brick"

__all__ = ["TEXTURES", "COLOUR", "BUILTIN", "DEFAULT", "styles_dir", "paintings", "available",
           "default_style", "load_style", "credit", "crop_to_aspect", "tint_grey"]


def styles_dir() -> Path:
    """The folder an instructor puts paintings into: ``<data>/styles``."""
    return config.DATA_DIR / "styles"


def paintings() -> dict[str, Path]:
    """name -> path of every image file in `styles_dir`, sorted by name (empty if none)."""
    folder = styles_dir()
    if not folder.is_dir():
        return {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in images.IMAGE_SUFFIXES)
    return {p.stem: p for p in files}


def available() -> list[str]:
    """Every style name: the paintings in `styles_dir` first, then the built-in ones."""
    return [*paintings(), *(n for n in BUILTIN if n not in paintings())]


def default_style() -> str:
    """The first painting in `styles_dir` if there is one, otherwise the brick texture."""
    found = paintings()
    return next(iter(found)) if found else DEFAULT


def crop_to_aspect(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The largest centred crop of `image` (H, W, 3) with the aspect ratio width : height."""
    image = images.check_image(image)
    h, w = image.shape[:2]
    if w * height > h * width:          # too wide: cut the sides
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        return image[:, left:left + new_w]
    new_h = max(1, round(w * height / width))
    top = (h - new_h) // 2
    return image[top:top + new_h]


def tint_grey(grey: np.ndarray, dark, light) -> np.ndarray:
    """Map grey levels (H, W) uint8 onto the line from colour `dark` (at 0) to `light` (at 255)."""
    grey = np.asarray(grey)
    if grey.ndim != 2:
        raise ValueError(f"tint_grey expects a grey (H, W) image, got shape {grey.shape}")
    t = grey.astype(np.float32)[..., None] / 255.0
    dark, light = np.asarray(dark, np.float32), np.asarray(light, np.float32)
    return np.clip(np.rint(dark + t * (light - dark)), 0, 255).astype(np.uint8)


def _read(name: str, tinted: bool) -> np.ndarray:
    found = paintings()
    if name in found:
        with Image.open(found[name]) as im:
            return np.asarray(im.convert("RGB"), np.uint8).copy()
    if name in TEXTURES:
        with Image.open(images.sample_path(name)) as im:
            grey = np.asarray(im.convert("L"), np.uint8)
        return tint_grey(grey, *TEXTURES[name]) if tinted else np.repeat(grey[..., None], 3, axis=2)
    if name in COLOUR:
        from importlib import resources

        package, filename, _ = COLOUR[name]
        with Image.open(Path(str(resources.files(package).joinpath(filename)))) as im:
            return np.asarray(im.convert("RGB"), np.uint8).copy()
    raise KeyError(f"unknown style {name!r}; available: {', '.join(available())}. "
                   f"Add a painting by copying its image file into {styles_dir()}")


def load_style(name: str | None = None, size: tuple[int, int] | None = None, tint: bool = True) -> np.ndarray:
    """A style image as (H, W, 3) uint8 RGB.

    `name`: a painting in `styles_dir` or a built-in style (None: `default_style()`).
    `size=(W, H)`: crop the centre to that aspect ratio, then resize (bilinear), so that the
    style image matches the size of the content image. `tint=False` keeps textures grey.
    """
    name = default_style() if name is None else str(name)
    image = _read(name, tint)
    if size is None:
        return image
    if len(size) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in size):
        raise ValueError(f"size must be (width, height) with positive integers, got {size!r}")
    width, height = int(size[0]), int(size[1])
    image = crop_to_aspect(image, width, height)
    resized = Image.fromarray(image).resize((width, height), Image.BILINEAR)
    return np.asarray(resized, np.uint8).copy()


def credit(name: str | None = None) -> str:
    """Where a style image comes from and its licence."""
    name = default_style() if name is None else str(name)
    found = paintings()
    if name in found:
        note = found[name].with_suffix(".txt")
        if note.is_file():
            return note.read_text(encoding="utf-8").strip()
        return f"{found[name].name} in {styles_dir()} (added by the instructor)"
    if name in TEXTURES:
        return f"{images.credit(name)}, tinted by source_lib.styles"
    if name in COLOUR:
        return COLOUR[name][2]
    raise KeyError(f"unknown style {name!r}; available: {', '.join(available())}")
