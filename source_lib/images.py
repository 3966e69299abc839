"""Sample images and image I/O. (Defined in chapter 1, Image preprocessing.)

Images are NumPy arrays of shape (H, W, 3), dtype uint8, RGB, unless a function
says otherwise. Sample images ship inside installed packages, so nothing is
downloaded: scikit-image's test images (public domain / CC0) and matplotlib's
photograph of Grace Hopper. Instructors may drop their own pictures (for example
a painting to use as a style) into `data/images/`.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from . import config

# name -> (package holding the file, file name, credit)
SAMPLES = {
    "astronaut": ("skimage.data", "astronaut.png", "Eileen Collins, NASA (public domain), via scikit-image"),
    "coffee": ("skimage.data", "coffee.png", "Rachel Michetti (CC0), via scikit-image"),
    "chelsea": ("skimage.data", "chelsea.png", "Stéfan van der Walt (CC0), via scikit-image"),
    "rocket": ("skimage.data", "rocket.jpg", "SpaceX (CC0), via scikit-image"),
    "brick": ("skimage.data", "brick.png", "scikit-image texture (CC0)"),
    "grass": ("skimage.data", "grass.png", "scikit-image texture (CC0)"),
    "gravel": ("skimage.data", "gravel.png", "scikit-image texture (CC0)"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
                     "Grace Hopper, US Navy (public domain), via matplotlib"),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def sample_path(name: str) -> Path:
    """Path of a bundled sample image, e.g. sample_path('astronaut')."""
    if name not in SAMPLES:
        raise KeyError(f"unknown sample image {name!r}; choose one of {sorted(SAMPLES)}")
    package, filename, _ = SAMPLES[name]
    path = Path(str(resources.files(package).joinpath(filename)))
    if not path.is_file():
        raise FileNotFoundError(f"sample image {name!r} not found at {path} (is {package} installed?)")
    return path


def find_image(name_or_path: str | Path) -> Path:
    """Resolve a sample name, a file in data/images/ (with or without suffix), or a path."""
    name = str(name_or_path)
    if name in SAMPLES:
        return sample_path(name)
    path = Path(name)
    if path.is_file():
        return path
    folder = config.DATA_DIR / "images"
    for candidate in [folder / name, *(folder / (name + s) for s in IMAGE_SUFFIXES)]:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no image {name!r}: not a sample ({', '.join(sorted(SAMPLES))}), "
        f"not a file, not in {folder}")


def load_image(name_or_path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Load an image as (H, W, 3) uint8 RGB. `size=(W, H)` resizes with bilinear filtering."""
    with Image.open(find_image(name_or_path)) as im:
        im = im.convert("RGB")
        if size is not None:
            im = im.resize(tuple(int(v) for v in size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8).copy()


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, 3) or (H, W) image; floats are taken to be in [0, 1]."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = to_uint8(array)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Raise ValueError unless `image` is an (H, W, 3) array; return it as an ndarray."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {image.shape}")
    return image


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [0, 1]."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"to_float expects uint8, got {image.dtype}")
    return image.astype(np.float32) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded and clipped."""
    image = np.asarray(image, dtype=np.float64)
    if not np.all(np.isfinite(image)):
        raise ValueError("to_uint8: image has NaN or infinite values")
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def credit(name: str) -> str:
    """The credit line of a bundled sample image."""
    return SAMPLES[name][2]
