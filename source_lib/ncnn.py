"""Read ncnn models (.param graph + .bin weights) and rebuild them in tf.keras. (Defined in chapter 9,
Deploying a real super-resolution network.)

Chapter 9's notebook asks you to write your own reader; this module is the course's reference
version, used by the command-line tool ``python -m source_lib.upscale`` and by later code. It
supports the layer types of the Real-ESRGAN models (Input, Split, Convolution with optional
leaky-ReLU, PReLU, ReLU, Concat, Eltwise, BinaryOp add, Interp nearest, PixelShuffle) and raises a
clear error for anything else.

File format (ncnn's documentation, checked against the Real-ESRGAN files):

* ``.param``: text. Line 1 the magic number 7767517, line 2 ``layer_count blob_count``, then one
  line per layer ``Type name n_in n_out in_1 .. in_n out_1 .. out_m key=value ..``. A key ``k``
  holds an int, a float (written with a ``.`` or an exponent) or, for ``k <= -23300``, an array
  for key ``-23300 - k``: ``-23310=1,2.0e-01`` means key 10 is the array ``[0.2]`` (its first
  number is the length).
* ``.bin``: no header and no names: the blobs follow in layer order. Convolution weights start
  with a 4-byte tag (``0x01306B47``: float16 follows; ``0``: float32 follows), the data is padded to
  a multiple of 4 bytes; biases and PReLU slopes are raw float32 with no tag. Weights are OIHW.
* ``PixelShuffle`` (``0=r``) uses PyTorch's channel order: output channel ``c`` at sub-pixel
  ``(i, j)`` is input channel ``c·r² + i·r + j`` (``tf.nn.depth_to_space`` uses ``(i·r + j)·C + c``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0
MODELS = {   # short name -> file stem in data/weights/realesrgan (see source_lib.fetch_models)
    "animevideov3": "REALESRGAN_ANIMAVIDEOV3_UP4X",
    "x4plus-anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "x4plus": "REALESRGAN_X4PLUS_UP4X",
}
SUPPORTED = {"Input", "Split", "Convolution", "PReLU", "ReLU", "Concat", "Eltwise", "BinaryOp",
             "Interp", "PixelShuffle"}


class NcnnFormatError(ValueError):
    """The .param or .bin file does not follow the format described in this module."""


@dataclass
class NcnnLayer:
    type: str
    name: str
    inputs: list
    outputs: list
    params: dict = field(default_factory=dict)


def _value(text: str):
    if any(ch in text for ch in ".eE") and not text.lstrip("-").isdigit():
        return float(text)
    return int(text)


def parse_param(text: str) -> list[NcnnLayer]:
    """The layers of an ncnn .param text, in file order."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 2 or lines[0] != str(MAGIC):
        raise NcnnFormatError(f"not an ncnn .param file: the first line must be {MAGIC}")
    n_layers, _ = (int(v) for v in lines[1].split())
    layers = []
    for number, line in enumerate(lines[2:], start=3):
        tok = line.split()
        try:
            kind, name, n_in, n_out = tok[0], tok[1], int(tok[2]), int(tok[3])
        except (IndexError, ValueError) as exc:
            raise NcnnFormatError(f"line {number}: cannot read '{line}'") from exc
        inputs, outputs = tok[4:4 + n_in], tok[4 + n_in:4 + n_in + n_out]
        params = {}
        for item in tok[4 + n_in + n_out:]:
            key, _, val = item.partition("=")
            key = int(key)
            if key <= -23300:
                values = val.split(",")
                params[-23300 - key] = [_value(v) for v in values[1:1 + int(values[0])]]
            else:
                params[key] = _value(val)
        layers.append(NcnnLayer(kind, name, inputs, outputs, params))
    if len(layers) != n_layers:
        raise NcnnFormatError(f"header says {n_layers} layers, found {len(layers)}")
    return layers


class BlobReader:
    """Reads the blobs of a .bin file one after the other."""

    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.offset = 0

    def _take(self, nbytes: int) -> memoryview:
        if self.offset + nbytes > len(self.data):
            raise NcnnFormatError(f"the .bin file ends at byte {len(self.data)}, "
                                  f"needed {nbytes} bytes at offset {self.offset}")
        chunk = self.data[self.offset:self.offset + nbytes]
        self.offset += nbytes
        return chunk

    def raw(self, count: int) -> np.ndarray:
        """`count` float32 values with no tag."""
        return np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)

    def tagged(self, count: int) -> np.ndarray:
        """`count` values preceded by a type tag, padded to 4 bytes; returned as float32."""
        tag = int(np.frombuffer(self._take(4), dtype="<u4")[0])
        if tag == TAG_FP16:
            values = np.frombuffer(self._take(2 * count), dtype="<f2").astype(np.float32)
            self._take((-2 * count) % 4)
            return values
        if tag == TAG_FP32:
            return self.raw(count)
        raise NcnnFormatError(f"unsupported weight tag 0x{tag:08X} at offset {self.offset - 4} "
                              f"(only float16 0x{TAG_FP16:08X} and float32 0 are supported)")


def load_weights(layers: list[NcnnLayer], data: bytes) -> dict[str, list[np.ndarray]]:
    """{layer name: [arrays]} read from the .bin bytes: Convolution [W (O, I, K, K), b?], PReLU [slope]."""
    reader, out = BlobReader(data), {}
    for layer in layers:
        if layer.type == "Convolution":
            n_out, k = layer.params[0], layer.params.get(1, 1)
            size = layer.params[6]
            w = reader.tagged(size)
            if size % (n_out * k * k):
                raise NcnnFormatError(f"{layer.name}: weight_data_size {size} is not {n_out}·C·{k}·{k}")
            arrays = [w.reshape(n_out, size // (n_out * k * k), k, k)]
            if layer.params.get(5, 0):
                arrays.append(reader.raw(n_out))
            out[layer.name] = arrays
        elif layer.type == "PReLU":
            out[layer.name] = [reader.raw(layer.params.get(0, 1))]
    if reader.offset != len(reader.data):
        raise NcnnFormatError(f"{len(reader.data) - reader.offset} bytes left over after the last layer")
    return out


def pixel_shuffle_nchw(x: np.ndarray, r: int) -> np.ndarray:
    """PyTorch's PixelShuffle in NumPy: (N, C·r², H, W) -> (N, C, H·r, W·r)."""
    n, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"channels {c} are not a multiple of r² = {r * r}")
    return x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


def torch_to_depth_to_space_order(channels: int, r: int) -> np.ndarray:
    """perm with depth_to_space(x[..., perm]) == PyTorch pixel shuffle of x (NHWC)."""
    c = channels // (r * r)
    return np.array([ci * r * r + s for s in range(r * r) for ci in range(c)])


def prelu_as_relu(x, slope):
    """PReLU written with two ReLUs: relu(x) - slope·relu(-x) (int8-friendly, same values)."""
    import tensorflow as tf
    return tf.nn.relu(x) - slope * tf.nn.relu(-x)


def build_keras(layers: list[NcnnLayer], weights: dict, *, prelu: str = "prelu", name: str = "ncnn"):
    """A tf.keras Model (NHWC float32, any H and W) computing the ncnn graph.

    prelu: "prelu" (keras PReLU layers), "relu" (the same function written relu(x) - a·relu(-x)) or
    "leaky" (a leaky ReLU with the layer's mean slope: an approximation with a fast int8 kernel).
    """
    import tensorflow as tf
    keras = tf.keras
    if prelu not in ("prelu", "relu", "leaky"):
        raise ValueError(f"prelu must be 'prelu', 'relu' or 'leaky', got {prelu!r}")
    unknown = sorted({layer.type for layer in layers} - SUPPORTED)
    if unknown:
        raise NcnnFormatError(f"layer types not supported: {', '.join(unknown)}")
    consumers = {}
    for layer in layers:
        for blob in layer.inputs:
            consumers.setdefault(blob, []).append(layer)
    shuffle_after = {}     # conv name -> r, when its only consumer is a PixelShuffle: fold the order into W
    for layer in layers:
        if layer.type == "PixelShuffle":
            src = next(lay for lay in layers if layer.inputs[0] in lay.outputs)
            if src.type == "Convolution" and len(consumers[layer.inputs[0]]) == 1:
                shuffle_after[src.name] = layer.params.get(0, 1)
    blobs, model_input = {}, None
    for layer in layers:
        p, ins = layer.params, [blobs[b] for b in layer.inputs]
        if layer.type == "Input":
            model_input = keras.Input((None, None, 3), name="image")
            out = [model_input]
        elif layer.type == "Split":
            out = ins * len(layer.outputs)
        elif layer.type == "Convolution":
            w = weights[layer.name][0]
            b = weights[layer.name][1] if p.get(5, 0) else np.zeros(w.shape[0], np.float32)
            if p.get(3, 1) != 1 or p.get(2, 1) != 1 or p.get(4, 0) != w.shape[2] // 2:
                raise NcnnFormatError(f"{layer.name}: only stride 1, dilation 1, 'same' padding supported")
            if layer.name in shuffle_after:
                perm = torch_to_depth_to_space_order(w.shape[0], shuffle_after[layer.name])
                w, b = w[perm], b[perm]
            conv = keras.layers.Conv2D(w.shape[0], w.shape[2], padding="same", name=layer.name)
            x = conv(ins[0])
            conv.set_weights([w.transpose(2, 3, 1, 0), b])
            act = p.get(9, 0)
            if act == 1:
                x = keras.layers.ReLU(name=layer.name + "_relu")(x)
            elif act == 2:
                x = keras.layers.LeakyReLU(negative_slope=p[10][0], name=layer.name + "_lrelu")(x)
            elif act:
                raise NcnnFormatError(f"{layer.name}: activation type {act} not supported")
            out = [x]
        elif layer.type == "PReLU":
            slope = weights[layer.name][0]
            if prelu == "prelu":
                act = keras.layers.PReLU(shared_axes=[1, 2], name=layer.name)
                x = act(ins[0])
                act.set_weights([np.broadcast_to(slope, (1, 1, act.weights[0].shape[-1])).copy()])
            elif prelu == "leaky":
                x = keras.layers.Lambda(lambda t, a=float(np.mean(slope)): tf.nn.leaky_relu(t, a),
                                        name=layer.name)(ins[0])
            else:
                x = keras.layers.Lambda(lambda t, a=slope.astype(np.float32): prelu_as_relu(t, a),
                                        name=layer.name)(ins[0])
            out = [x]
        elif layer.type == "ReLU":
            out = [keras.layers.ReLU(name=layer.name)(ins[0])]
        elif layer.type == "Concat":
            out = [keras.layers.Concatenate(axis=-1, name=layer.name)(ins)]
        elif layer.type in ("Eltwise", "BinaryOp"):
            if (layer.type == "Eltwise" and p.get(0, 1) != 1) or (layer.type == "BinaryOp" and p.get(0, 0) != 0):
                raise NcnnFormatError(f"{layer.name}: only sums are supported")
            coeffs = p.get(1, [1.0] * len(ins)) if layer.type == "Eltwise" else [1.0] * len(ins)
            terms = [t if c == 1.0 else keras.layers.Rescaling(c, name=f"{layer.name}_x{k}")(t)
                     for k, (t, c) in enumerate(zip(ins, coeffs))]
            out = [keras.layers.Add(name=layer.name)(terms)]
        elif layer.type == "Interp":
            sh, sw = p.get(1, 1.0), p.get(2, 1.0)
            if p.get(0, 0) != 1 or sh != int(sh) or sw != int(sw):
                raise NcnnFormatError(f"{layer.name}: only nearest upsampling by an integer is supported")
            out = [keras.layers.UpSampling2D((int(sh), int(sw)), interpolation="nearest", name=layer.name)(ins[0])]
        else:   # PixelShuffle
            r = p.get(0, 1)
            src = next(lay for lay in layers if layer.inputs[0] in lay.outputs)
            if src.name in shuffle_after:
                fn = lambda t, r=r: tf.nn.depth_to_space(t, r)
            else:
                def fn(t, r=r):
                    c = t.shape[-1]
                    perm = torch_to_depth_to_space_order(c, r)
                    return tf.nn.depth_to_space(tf.gather(t, perm, axis=-1), r)
            out = [keras.layers.Lambda(fn, name=layer.name)(ins[0])]
        for blob, tensor in zip(layer.outputs, out):
            blobs[blob] = tensor
    if model_input is None:
        raise NcnnFormatError("the graph has no Input layer")
    return keras.Model(model_input, blobs[layers[-1].outputs[0]], name=name)


def model_files(name: str) -> tuple[Path, Path]:
    """(.param, .bin) paths of a Real-ESRGAN model by short name or file stem; clear error if missing."""
    from . import fetch_models
    stem = MODELS.get(name, name)
    if stem not in MODELS.values():
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return (fetch_models.model_path(fetch_models.REALESRGAN, stem + ".param"),
            fetch_models.model_path(fetch_models.REALESRGAN, stem + ".bin"))


def load_model(name: str = "animevideov3", *, prelu: str = "prelu"):
    """The Real-ESRGAN model `name` as a tf.keras Model: RGB in [0, 1], NHWC, 4× larger output."""
    param, binary = model_files(name)
    layers = parse_param(param.read_text(encoding="utf-8"))
    return build_keras(layers, load_weights(layers, binary.read_bytes()), prelu=prelu,
                       name=name.replace("-", "_"))
