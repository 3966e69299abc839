"""A tiny runner for offline models: a LiteRT (.tflite) flatbuffer and nothing else. (Chapter 8.)

Offline inference means the network was compiled ahead of time into a self-contained file
that a small runtime executes. This module is that runtime's Python face: it imports NumPy,
Pillow and ``ai_edge_litert.interpreter.Interpreter`` — **never TensorFlow** — so a fresh
process that uses it starts in a fraction of a second. `source_lib.stylize` (the command-line
tool) and the "separate process" proof of chapter 8 run on it.

Images follow the course convention: ``(H, W, 3)`` uint8 RGB. A style network takes a batch
``[1, H, W, 3]`` float32 in [0, 1] with H and W multiples of 4 (two stride-2 convolutions and
two 2× upsamplings) and returns the same shape in [0, 1]. A model exported with unknown H and
W (shape signature ``[-1, -1, -1, 3]``) is resized for each new image size; a model with a
fixed size only accepts that size.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

FLATBUFFER_ID = b"TFL3"        # bytes 4..8 of every TFLite / LiteRT flatbuffer
EXPORT_HINT = ("export one with the chapter 8 notebook (notebooks/inference, "
               "'convert_to_tflite') or see book/inference.md")


class OfflineModel:
    """A LiteRT flatbuffer ready to run: ``OfflineModel(path)(batch) -> output``.

    ``batch`` is float32 ``[1, H, W, C]``; the result is a new float32 array. Only the
    interpreter runs the file: no TensorFlow is imported.
    """

    def __init__(self, path: str | Path, num_threads: int | None = None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} not found; {EXPORT_HINT}")
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[4:8] != FLATBUFFER_ID:
            raise ValueError(f"{path} is not a LiteRT/TFLite flatbuffer (no '{FLATBUFFER_ID.decode()}' "
                             f"identifier at bytes 4-8); {EXPORT_HINT}")
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.signature = tuple(int(d) for d in self._in.get("shape_signature", self._in["shape"]))
        self._shape = tuple(int(d) for d in self._in["shape"])

    @property
    def input_dtype(self):
        return np.dtype(self._in["dtype"])

    def _prepare(self, shape: tuple) -> None:
        if shape == self._shape:
            return
        if len(shape) != len(self.signature) or any(s not in (-1, d) for s, d in zip(self.signature, shape)):
            fixed = "×".join("?" if s < 0 else str(s) for s in self.signature)
            raise ValueError(f"{self.path.name} takes inputs of shape {fixed}, got {'×'.join(map(str, shape))}")
        self.interpreter.resize_tensor_input(self._in["index"], list(shape))
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self._shape = shape

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if batch.dtype != self.input_dtype:
            raise TypeError(f"{self.path.name} expects {self.input_dtype} input, got {batch.dtype}")
        self._prepare(tuple(batch.shape))
        self.interpreter.set_tensor(self._in["index"], np.ascontiguousarray(batch))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._out["index"]).copy()


def read_image(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8 RGB, or a clear error."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input image {path} not found")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {path} as an image ({err})") from None


def write_image(image: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, 3) uint8 image; the format follows the file suffix."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def to_batch(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> [1, H, W, 3] float32 in [0, 1]; H and W must be multiples of 4."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {image.shape} dtype {image.dtype}")
    h, w = image.shape[:2]
    if h % 4 or w % 4:
        raise ValueError(f"image size {w}×{h} (W×H) is not a multiple of 4: the network halves it twice "
                         f"and doubles it twice; crop or resize it to {w - w % 4}×{h - h % 4}")
    return (image.astype(np.float32) * np.float32(1 / 255))[None]


def to_image(batch: np.ndarray) -> np.ndarray:
    """[1, H, W, 3] float in [0, 1] -> (H, W, 3) uint8 (clipped, rounded)."""
    batch = np.asarray(batch)
    if batch.ndim != 4 or batch.shape[0] != 1:
        raise ValueError(f"expected a batch [1, H, W, C], got shape {batch.shape}")
    return np.rint(np.clip(batch[0], 0.0, 1.0) * 255.0).astype(np.uint8)


def stylize(model: OfflineModel, image: np.ndarray) -> np.ndarray:
    """Run a style network file on one (H, W, 3) uint8 image; returns the same shape and dtype."""
    return to_image(model(to_batch(image)))
