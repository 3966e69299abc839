"""VGG networks: configurations, layer names, preprocessing constants and weight loaders.

(Defined in chapter 3, VGG.)

VGG-11/13/16/19 (Simonyan & Zisserman, 2015) are five blocks of 3×3 convolutions (padding 1,
stride 1, each followed by a ReLU) separated by 2×2 max-pooling with stride 2, then three dense
layers fc6, fc7 (4096 units, ReLU) and fc8 (1000 ImageNet classes, softmax). The networks differ
only in the number of convolutions per block, `CONFIGS`. Layers are named as in the original
Caffe/MatConvNet releases: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, …, pool5, fc6,
relu6, fc7, relu7, fc8 (then prob, the softmax).

**The course format.** Every loader returns a `VGGWeights`: a plain ``dict`` mapping a layer
name to ``(W, b)``, float32, C-contiguous, plus a few attributes (`depth`, `include_top`,
`classes`, `mean_rgb`, `source`, `random`):

* convolution ``convB_I``: ``W`` of shape ``(C_out, C_in, 3, 3)`` (OIHW), ``b`` of shape
  ``(C_out,)``; activations are NCHW, as in chapter 2 and `source_lib.layers_tf`;
* dense ``fc6``, ``fc7``, ``fc8``: ``W`` of shape ``(out, in)``, ``b`` of shape ``(out,)``, so
  ``y = x @ W.T + b``; fc6's input is the NCHW ``pool5`` activation flattened in ``(C, H, W)``
  order (for a 224×224 image, 512·7·7 = 25088 values);
* the input channels of conv1_1 are in **RGB** order. The network expects an RGB image in
  [0, 255] minus `MEAN_RGB` (no division by 255 or by a standard deviation).

Where the files come from, and how they are converted:

* MatConvNet ``imagenet-vgg-verydeep-19.mat`` / ``-16.mat`` (`load_matconvnet`): a MATLAB v5
  file read with ``scipy.io.loadmat``. ``layers`` is a cell array of structs with fields
  ``name``, ``type`` ('conv', 'relu', 'pool', 'softmax'), and ``weights`` = {W, b} (newer files)
  or ``filters``/``biases`` (older files). W is stored ``[H, W, C_in, C_out]``; fc6/fc7/fc8 are
  stored as convolutions (fc6 as 7×7×512×4096). MatConvNet models take RGB input. The mean image
  is ``meta.normalization.averageImage`` (newer) or ``normalization.averageImage`` (older, a
  224×224×3 image whose per-channel mean is used); class names are
  ``meta.classes.description`` or ``classes.description``. (Some popular TensorFlow ports
  swap H and W of these kernels; MatConvNet's own convolution pairs the first kernel index with
  the image rows, so no swap is needed.)
* Keras ``vgg19_weights_tf_dim_ordering_tf_kernels.h5`` and ``…_notop.h5`` (`load_keras_h5`):
  HDF5 groups block1_conv1 … block5_conv4, fc1, fc2, predictions; each lists its datasets in
  the attribute ``weight_names`` (kernel first). Kernels are HWIO ``(3, 3, C_in, C_out)``,
  dense kernels ``(in, out)`` with fc1's rows in NHWC-flatten ``(H, W, C)`` order. These
  weights were converted from Caffe and take **BGR** input, so conv1_1's input channels are
  reversed. Keras 3 ``*.weights.h5`` files saved from ``keras.applications.VGG16/19``
  (groups ``layers/conv2d_N/vars/0``) are read too.
* A plain ``.npz`` (`load_npz`, written by `save_npz`): arrays ``<name>/W`` and ``<name>/b`` in
  the course format; optional ``meta/layout`` ('OIHW' or 'HWIO' with Keras-style dense kernels),
  ``meta/input_order`` ('RGB' or 'BGR'), ``meta/mean_rgb``, ``meta/classes``.
* The offline default ``vgg16_imagenet_conv.npz`` is such an npz holding the 13 ImageNet VGG16
  convolutions (no fc layers); ``python -m source_lib.fetch_weights`` makes it.

Files are looked for with `source_lib.weights.find_weights` (``$COURSE_WEIGHTS``, then
``data/weights/``). The weights are by K. Simonyan and A. Zisserman, released under the
Creative Commons Attribution 4.0 licence (CC BY 4.0); see `CREDIT`.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from . import weights as weights_io

# Convolutions per block for each depth (the paper's configurations A, B, D, E).
CONFIGS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
CHANNELS = (64, 128, 256, 512, 512)       # output channels of the convolutions of each block
FC_UNITS = (4096, 4096)                   # fc6, fc7
NUM_CLASSES = 1000
INPUT_SIZE = 224
KERNEL = 3

# Per-channel means of the ImageNet training images, in [0, 255]. Caffe and Keras use BGR
# order; MatConvNet and this course use RGB. No scaling by a standard deviation.
MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32)
MEAN_BGR = MEAN_RGB[::-1].copy()

CREDIT = ("VGG weights: K. Simonyan and A. Zisserman, \"Very Deep Convolutional Networks for "
          "Large-Scale Image Recognition\", ICLR 2015, https://www.robots.ox.ac.uk/~vgg/research/"
          "very_deep/ — released under the Creative Commons Attribution 4.0 licence (CC BY 4.0).")

DEFAULT_NPZ = "vgg16_imagenet_conv.npz"
# Files looked for, best first, for each depth.
FILES = {
    19: ("imagenet-vgg-verydeep-19.mat", "vgg19_weights_tf_dim_ordering_tf_kernels.h5",
         "vgg19.npz", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    16: ("imagenet-vgg-verydeep-16.mat", "vgg16_weights_tf_dim_ordering_tf_kernels.h5",
         "vgg16.npz", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", DEFAULT_NPZ),
}
CLASS_FILES = ("imagenet_classes.txt", "imagenet_class_index.json")

__all__ = ["CONFIGS", "CHANNELS", "FC_UNITS", "NUM_CLASSES", "MEAN_RGB", "MEAN_BGR", "CREDIT",
           "VGGWeights", "WeightsFormatError", "conv_names", "layer_names", "param_names", "expected_shapes",
           "check_weights", "random_weights", "load_weights", "load_matconvnet", "load_keras_h5",
           "load_npz", "save_npz", "load_pretrained", "load_classes", "hwio_to_oihw", "keras_model",
           "to_keras", "from_keras", "keras_activations", "keras_layer_name", "course_layer_name",
           "contents_sha256"]


class WeightsFormatError(ValueError):
    """A weight file that cannot be read as a VGG network; the message says what is wrong."""


class VGGWeights(dict):
    """``dict`` layer name -> (W, b) in the course format (see the module docstring).

    Attributes: depth (11/13/16/19), include_top (fc6–fc8 present), classes (list of class
    names or None), mean_rgb (float32 (3,)), source (where it came from), random (True for
    seeded random weights).
    """

    def __init__(self, layers=(), *, depth=None, include_top=None, classes=None, mean_rgb=None,
                 source="", random=False):
        super().__init__(layers)
        self.depth = depth
        self.include_top = include_top
        self.classes = list(classes) if classes is not None else None
        self.mean_rgb = np.asarray(MEAN_RGB if mean_rgb is None else mean_rgb, np.float32).reshape(3)
        self.source = str(source)
        self.random = bool(random)

    def describe(self) -> str:
        top = "with fc6–fc8" if self.include_top else "convolutions only (no classifier)"
        kind = "RANDOM (seeded) weights" if self.random else "pretrained ImageNet weights"
        n = sum(w.size + b.size for w, b in self.values())
        return f"VGG{self.depth}, {top}, {kind}, {n / 1e6:.1f} M parameters — {self.source}"

    def __repr__(self) -> str:
        return f"<VGGWeights {self.describe()}>"


# --------------------------------------------------------------------------------------------
# Names and shapes


def _check_depth(depth) -> int:
    if depth not in CONFIGS:
        raise ValueError(f"unknown VGG depth {depth!r}; choose one of {sorted(CONFIGS)}")
    return int(depth)


def conv_names(depth: int) -> list[str]:
    """conv1_1, conv1_2, conv2_1, … for the given depth."""
    return [f"conv{b + 1}_{i + 1}" for b, n in enumerate(CONFIGS[_check_depth(depth)]) for i in range(n)]


def layer_names(depth: int, include_top: bool = True, prob: bool = False) -> list[str]:
    """Every layer in order: conv1_1, relu1_1, …, pool5[, fc6, relu6, fc7, relu7, fc8[, prob]]."""
    names = []
    for b, n in enumerate(CONFIGS[_check_depth(depth)]):
        for i in range(n):
            names += [f"conv{b + 1}_{i + 1}", f"relu{b + 1}_{i + 1}"]
        names.append(f"pool{b + 1}")
    if include_top:
        names += ["fc6", "relu6", "fc7", "relu7", "fc8"] + (["prob"] if prob else [])
    return names


def param_names(depth: int, include_top: bool = True) -> list[str]:
    """The layers that have weights, in order."""
    return conv_names(depth) + (["fc6", "fc7", "fc8"] if include_top else [])


def expected_shapes(depth: int, include_top: bool = True, input_hw: int = INPUT_SIZE,
                    num_classes: int = NUM_CLASSES, channels=CHANNELS, fc_units=FC_UNITS) -> dict:
    """name -> (W shape, b shape) of the standard network in the course format."""
    shapes, c_in = {}, 3
    for b, n in enumerate(CONFIGS[_check_depth(depth)]):
        for i in range(n):
            shapes[f"conv{b + 1}_{i + 1}"] = ((channels[b], c_in, KERNEL, KERNEL), (channels[b],))
            c_in = channels[b]
    if include_top:
        if input_hw % 32:
            raise ValueError(f"with fc layers the input size must be a multiple of 32, got {input_hw}")
        units = [c_in * (input_hw // 32) ** 2, *fc_units, num_classes]
        for k, name in enumerate(["fc6", "fc7", "fc8"]):
            shapes[name] = ((units[k + 1], units[k]), (units[k + 1],))
    return shapes


def check_weights(weights: dict, depth: int | None = None, include_top: bool | None = None,
                  standard: bool = False, where: str = "weights") -> tuple[int, bool]:
    """Check names and shapes; return (depth, include_top).

    The network must be consistent (3 input channels, 3×3 kernels, each layer's input channels
    equal to the previous layer's output channels, fc6's input a multiple C·s·s of the last
    block's channels). `standard=True` also requires the paper's widths (64…512, 4096, 1000).
    """
    convs = sorted((k for k in weights if re.fullmatch(r"conv\d_\d", k)),
                   key=lambda k: tuple(int(v) for v in k[4:].split("_")))
    found = {d for d in CONFIGS if conv_names(d) == convs}
    if not found:
        raise WeightsFormatError(
            f"{where}: the convolution layers {convs or '(none)'} match no VGG configuration; "
            f"VGG-{depth or 19} has {conv_names(depth or 19)}")
    got_depth = found.pop()
    if depth is not None and got_depth != depth:
        raise WeightsFormatError(f"{where}: holds VGG{got_depth}, expected VGG{depth}")
    fcs = [k for k in ("fc6", "fc7", "fc8") if k in weights]
    if fcs not in ([], ["fc6", "fc7", "fc8"]):
        raise WeightsFormatError(f"{where}: has {fcs} of the dense layers; need all of fc6, fc7, fc8 or none")
    got_top = bool(fcs)
    if include_top and not got_top:
        raise WeightsFormatError(f"{where}: has no classifier (fc6–fc8); it is a 'notop' file")
    extra = set(weights) - set(param_names(got_depth, got_top))
    if extra:
        raise WeightsFormatError(f"{where}: unexpected layers {sorted(extra)}")
    c_in = 3
    for name in param_names(got_depth, got_top):
        entry = weights[name]
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise WeightsFormatError(f"{where}: {name} must be a pair (W, b)")
        w, b = (np.asarray(a) for a in entry)
        if name.startswith("conv"):
            if w.ndim != 4 or w.shape[2:] != (KERNEL, KERNEL):
                raise WeightsFormatError(f"{where}: {name} W has shape {w.shape}; expected "
                                         f"(C_out, C_in, 3, 3) (OIHW)")
            if w.shape[1] != c_in:
                raise WeightsFormatError(f"{where}: {name} W has shape {w.shape}: {w.shape[1]} input "
                                         f"channels, but the layer before gives {c_in}")
            c_in = w.shape[0]
        else:
            if w.ndim != 2:
                raise WeightsFormatError(f"{where}: {name} W has shape {w.shape}; expected (out, in)")
            if name == "fc6":
                s = math.isqrt(w.shape[1] // c_in) if w.shape[1] % c_in == 0 else 0
                if s == 0 or c_in * s * s != w.shape[1]:
                    raise WeightsFormatError(f"{where}: fc6 W has shape {w.shape}; its input must be "
                                             f"{c_in}·s·s (pool5 flattened), got {w.shape[1]}")
            elif w.shape[1] != c_in:
                raise WeightsFormatError(f"{where}: {name} W has shape {w.shape}, but the layer "
                                         f"before gives {c_in} values")
            c_in = w.shape[0]
        if b.shape != (w.shape[0],):
            raise WeightsFormatError(f"{where}: {name} b has shape {b.shape}, expected ({w.shape[0]},)")
        if w.dtype != np.float32 or b.dtype != np.float32:
            raise WeightsFormatError(f"{where}: {name} must be float32, got {w.dtype}/{b.dtype}")
    if standard:
        ref = expected_shapes(got_depth, got_top)
        for name, (ws, bs) in ref.items():
            if weights[name][0].shape != ws:
                raise WeightsFormatError(f"{where}: {name} W has shape {weights[name][0].shape}, the "
                                         f"standard VGG{got_depth} has {ws}")
    return got_depth, got_top


def _finish(layers: dict, where: str, **attrs) -> VGGWeights:
    """Make every array float32 C-contiguous, check the structure, wrap in VGGWeights."""
    layers = {k: (np.ascontiguousarray(w, np.float32), np.ascontiguousarray(np.ravel(b), np.float32))
              for k, (w, b) in layers.items()}
    depth, top = check_weights(layers, where=where)
    return VGGWeights(layers, depth=depth, include_top=top, source=where, **attrs)


def random_weights(depth: int = 19, include_top: bool = True, num_classes: int = NUM_CLASSES,
                   input_hw: int = INPUT_SIZE, seed: int = 0, channels=CHANNELS,
                   fc_units=FC_UNITS) -> VGGWeights:
    """Seeded He-normal weights and small random biases (course format). `.random` is True."""
    rng = np.random.default_rng(seed)
    layers = {}
    for name, (ws, bs) in expected_shapes(depth, include_top, input_hw, num_classes,
                                          channels, fc_units).items():
        fan_in = int(np.prod(ws[1:]))
        w = rng.standard_normal(ws, dtype=np.float32) * np.float32(math.sqrt(2.0 / fan_in))
        layers[name] = (w, rng.standard_normal(bs, dtype=np.float32) * np.float32(0.01))
    return _finish(layers, f"random_weights(depth={depth}, seed={seed})", random=True)


# --------------------------------------------------------------------------------------------
# Layout conversions used by the loaders


def hwio_to_oihw(w: np.ndarray) -> np.ndarray:
    """(H, W, C_in, C_out) — TensorFlow/Keras and MatConvNet — to (C_out, C_in, H, W)."""
    return np.ascontiguousarray(np.asarray(w).transpose(3, 2, 0, 1))


def _dense_from_conv_kernel(w_hwio: np.ndarray) -> np.ndarray:
    """A dense layer stored as an H×W convolution (MatConvNet fc6/fc7/fc8) -> (out, C·H·W)."""
    w = hwio_to_oihw(w_hwio)
    return w.reshape(w.shape[0], -1)


def _dense_from_keras(kernel: np.ndarray, channels: int) -> np.ndarray:
    """Keras dense kernel (in, out), rows in (H, W, C) flatten order -> (out, in), (C, H, W) order."""
    kernel = np.asarray(kernel)
    n_in, n_out = kernel.shape
    if n_in % channels:
        raise WeightsFormatError(f"dense kernel {kernel.shape}: {n_in} inputs is not a multiple of "
                                 f"{channels} channels")
    s = math.isqrt(n_in // channels)
    if s * s * channels != n_in:
        raise WeightsFormatError(f"dense kernel {kernel.shape}: {n_in} inputs is not {channels}·s·s")
    return _dense_from_conv_kernel(kernel.reshape(s, s, channels, n_out))


def _dense_to_keras(w: np.ndarray, channels: int) -> np.ndarray:
    """Inverse of `_dense_from_keras`: (out, C·s·s) -> (s·s·C, out)."""
    n_out, n_in = w.shape
    s = math.isqrt(n_in // channels)
    return np.ascontiguousarray(w.reshape(n_out, channels, s, s).transpose(2, 3, 1, 0).reshape(n_in, n_out))


def _flip_input_channels(layers: dict) -> dict:
    """Reverse conv1_1's input channels: BGR <-> RGB."""
    w, b = layers["conv1_1"]
    layers["conv1_1"] = (np.ascontiguousarray(w[:, ::-1]), b)
    return layers


# --------------------------------------------------------------------------------------------
# MatConvNet .mat


def _item(x):
    """Unwrap the 1×1 object arrays scipy.io.loadmat puts around structs and cells."""
    while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
        x = x.reshape(-1)[0]
    return x


def _text(x) -> str:
    x = _item(x)
    if isinstance(x, np.ndarray):
        if x.size == 0:
            return ""
        x = x.reshape(-1)[0]
    return x.decode() if isinstance(x, bytes) else str(x)


def _field(struct, name, default=None):
    struct = _item(struct)
    if hasattr(struct, "_fieldnames"):
        return getattr(struct, name) if name in struct._fieldnames else default
    if isinstance(struct, np.ndarray) and struct.dtype.names and name in struct.dtype.names:
        return _item(struct[name])
    return default


def _mean_from_average_image(avg) -> np.ndarray:
    avg = np.asarray(_item(avg), np.float64)
    if avg.size == 3:
        return avg.reshape(3).astype(np.float32)
    if avg.ndim >= 2 and avg.shape[-1] == 3:
        return avg.reshape(-1, 3).mean(axis=0).astype(np.float32)
    raise WeightsFormatError(f"averageImage has shape {avg.shape}; expected 3 values or an H×W×3 image")


def load_matconvnet(path: str | Path) -> VGGWeights:
    """A MatConvNet ``imagenet-vgg-verydeep-{16,19}.mat`` file -> course format (see module doc)."""
    import scipy.io

    path = Path(path)
    try:
        data = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=False)
    except NotImplementedError as exc:   # MATLAB v7.3 files are HDF5
        raise WeightsFormatError(f"{path}: MATLAB v7.3 (HDF5) .mat files are not supported; save it "
                                 f"with -v7 or use the MatConvNet download as is ({exc})") from exc
    except Exception as exc:
        raise WeightsFormatError(f"{path}: not a readable MATLAB .mat file ({exc})") from exc
    if "layers" not in data:
        keys = sorted(k for k in data if not k.startswith("__"))
        raise WeightsFormatError(f"{path}: no 'layers' variable; this is not a MatConvNet simplenn "
                                 f"model (variables: {keys})")
    meta = data.get("meta")
    norm = _field(meta, "normalization") if meta is not None else data.get("normalization")
    classes = _field(meta, "classes") if meta is not None else data.get("classes")
    layers = {}
    cells = np.asarray(data["layers"], dtype=object).reshape(-1)
    for cell in cells:
        layer = _item(cell)
        kind = _text(_field(layer, "type", ""))
        name = _text(_field(layer, "name", ""))
        if kind != "conv":
            continue
        weights = _field(layer, "weights")
        if weights is not None:
            parts = [np.asarray(_item(v)) for v in np.asarray(weights, dtype=object).reshape(-1)]
            if len(parts) != 2:
                raise WeightsFormatError(f"{path}: layer {name} has {len(parts)} arrays in 'weights', "
                                         f"expected {{W, b}}")
            w, b = parts
        else:
            w, b = _field(layer, "filters"), _field(layer, "biases")
            if w is None or b is None:
                raise WeightsFormatError(f"{path}: conv layer {name} has neither 'weights' nor "
                                         f"'filters'/'biases'")
            w, b = np.asarray(w), np.asarray(b)
        if w.ndim == 2:          # MATLAB drops trailing singleton dimensions: [H, W] = one in, one out
            w = w[:, :, None, None]
        elif w.ndim == 3:
            w = w[..., None]
        if w.ndim != 4:
            raise WeightsFormatError(f"{path}: layer {name} W has shape {w.shape}; expected "
                                     f"[H, W, C_in, C_out]")
        if name.startswith("fc"):
            layers[name] = (_dense_from_conv_kernel(w), b)
        else:
            layers[name] = (hwio_to_oihw(w), b)
    mean = _mean_from_average_image(_field(norm, "averageImage")) if norm is not None and \
        _field(norm, "averageImage") is not None else MEAN_RGB
    names = None
    if classes is not None and _field(classes, "description") is not None:
        desc = np.asarray(_field(classes, "description"), dtype=object).reshape(-1)
        names = [_text(d) for d in desc]
    return _finish(layers, f"{path} (MatConvNet)", classes=names, mean_rgb=mean)


# --------------------------------------------------------------------------------------------
# Keras .h5

KERAS_TO_COURSE = {"fc1": "fc6", "fc2": "fc7", "predictions": "fc8"}


def keras_layer_name(name: str) -> str:
    """Course name -> Keras applications name: conv1_1 -> block1_conv1, fc6 -> fc1, fc8 -> predictions."""
    m = re.fullmatch(r"conv(\d)_(\d)", name)
    if m:
        return f"block{m.group(1)}_conv{m.group(2)}"
    inverse = {v: k for k, v in KERAS_TO_COURSE.items()}
    if name in inverse:
        return inverse[name]
    raise KeyError(f"no Keras layer for {name!r}")


def course_layer_name(name: str) -> str | None:
    """Keras applications name -> course name (None for layers without weights)."""
    m = re.fullmatch(r"block(\d)_conv(\d)", name)
    if m:
        return f"conv{m.group(1)}_{m.group(2)}"
    if name in KERAS_TO_COURSE:
        return KERAS_TO_COURSE[name]
    if re.fullmatch(r"conv\d_\d|fc[678]", name):
        return name
    return None


def _as_str(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _kernel_bias(arrays: list[np.ndarray], where: str):
    kernels = [a for a in arrays if a.ndim in (2, 4)]
    biases = [a for a in arrays if a.ndim == 1]
    if len(kernels) != 1 or len(biases) != 1 or len(arrays) != 2:
        raise WeightsFormatError(f"{where}: expected one kernel and one bias, got shapes "
                                 f"{[a.shape for a in arrays]}")
    return kernels[0], biases[0]


def _keras_layers_legacy(root, path) -> list[tuple[str, list[np.ndarray]]]:
    import h5py

    names = root.attrs.get("layer_names")
    names = [_as_str(n) for n in names] if names is not None else list(root.keys())
    out = []
    for lname in names:
        if lname not in root:
            raise WeightsFormatError(f"{path}: layer {lname} is listed in layer_names but missing")
        group = root[lname]
        wnames = group.attrs.get("weight_names")
        if wnames is not None:
            arrays = [np.asarray(group[_as_str(w)]) for w in wnames]
        else:
            found = []
            group.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
            arrays = [np.asarray(group[n]) for n in sorted(found)]
        if arrays:
            out.append((lname, arrays))
    return out


def _keras_layers_v3(root, path) -> list[tuple[str, list[np.ndarray]]]:
    """Keras 3 `.weights.h5`: layers/<name>/vars/0, 1. Generic names are put in numeric order."""
    layers = root["layers"]

    def order(name):
        m = re.fullmatch(r"(.*?)(?:_(\d+))?", name)
        kind = {"conv2d": 0, "dense": 1}.get(m.group(1), 2)
        return (kind, int(m.group(2) or 0), name)

    out = []
    for lname in sorted(layers.keys(), key=order):
        group = layers[lname]
        if "vars" not in group or not len(group["vars"]):
            continue
        arrays = [np.asarray(group["vars"][k]) for k in sorted(group["vars"].keys(), key=int)]
        out.append((lname, arrays))
    return out


def load_keras_h5(path: str | Path, bgr: bool = True) -> VGGWeights:
    """A Keras VGG16/19 weight file (``*_tf_kernels[_notop].h5`` or Keras 3 ``*.weights.h5``).

    `bgr=True` (the Keras applications files, converted from Caffe) reverses conv1_1's input
    channels so that the result takes RGB input like every course-format network.
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise WeightsFormatError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layers" in root and "layer_names" not in root.attrs:
            raw = _keras_layers_v3(root, path)
            generic = True
        else:
            raw = _keras_layers_legacy(root, path)
            generic = False
    if generic and not all(course_layer_name(n) for n, _ in raw):
        # Keras 3 names layers by class: conv2d, conv2d_1, …, dense, dense_1, dense_2 (in order).
        convs = [a for _, a in raw if len(a) == 2 and a[0].ndim == 4]
        denses = [a for _, a in raw if len(a) == 2 and a[0].ndim == 2]
        depth = next((d for d, c in CONFIGS.items() if sum(c) == len(convs)), None)
        if depth is None or len(denses) not in (0, 3) or len(convs) + len(denses) != len(raw):
            raise WeightsFormatError(f"{path}: {len(convs)} convolutions and {len(denses)} dense "
                                     f"layers match no VGG configuration")
        named = list(zip(param_names(depth, bool(denses)), convs + denses))
    else:
        named = []
        for n, a in raw:
            cname = course_layer_name(n)
            if cname is None:
                raise WeightsFormatError(f"{path}: unexpected layer {n!r} with weights; expected "
                                         f"block1_conv1 … block5_conv4, fc1, fc2, predictions")
            named.append((cname, a))
    layers, channels = {}, 3
    for name, arrays in named:
        kernel, bias = _kernel_bias(arrays, f"{path}: layer {name}")
        if name.startswith("conv"):
            if kernel.ndim != 4:
                raise WeightsFormatError(f"{path}: {name} kernel has shape {kernel.shape}; expected HWIO")
            layers[name] = (hwio_to_oihw(kernel), bias)
            channels = kernel.shape[3]
        elif name == "fc6":
            layers[name] = (_dense_from_keras(kernel, channels), bias)
        else:
            layers[name] = (np.ascontiguousarray(np.asarray(kernel).T), bias)
    if "conv1_1" in layers and bgr:
        _flip_input_channels(layers)
    return _finish(layers, f"{path} (Keras HDF5{', BGR input reversed to RGB' if bgr else ''})")


# --------------------------------------------------------------------------------------------
# .npz


def save_npz(weights: dict, path: str | Path, **meta) -> Path:
    """Write course-format weights as ``<name>/W``, ``<name>/b`` plus ``meta/<key>`` entries."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, (w, b) in weights.items():
        arrays[f"{name}/W"] = np.ascontiguousarray(w, np.float32)
        arrays[f"{name}/b"] = np.ascontiguousarray(b, np.float32)
    meta = {"layout": "OIHW", "input_order": "RGB", **meta}
    if isinstance(weights, VGGWeights):
        meta.setdefault("mean_rgb", weights.mean_rgb)
        if weights.classes:
            meta.setdefault("classes", np.array(weights.classes))
    for key, value in meta.items():
        arrays[f"meta/{key}"] = np.asarray(value)
    tmp = path.with_name(path.name + ".part.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def load_npz(path: str | Path) -> VGGWeights:
    """A plain .npz of ``<name>/W`` and ``<name>/b`` arrays (see `save_npz`)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise WeightsFormatError(f"{path}: not a readable .npz file ({exc})") from exc
    with data:
        keys = list(data.keys())
        meta = {k[5:]: data[k] for k in keys if k.startswith("meta/")}
        names = sorted({k.rsplit("/", 1)[0] for k in keys if not k.startswith("meta/")})
        layers = {}
        for name in names:
            if f"{name}/W" not in keys or f"{name}/b" not in keys:
                raise WeightsFormatError(f"{path}: layer {name} needs both '{name}/W' and '{name}/b'; "
                                         f"keys are {keys[:8]}…")
            layers[name] = (data[f"{name}/W"], data[f"{name}/b"])
    if not layers:
        raise WeightsFormatError(f"{path}: no '<layer>/W' arrays; keys are {keys[:8]}")
    layout = str(meta.get("layout", "OIHW"))
    order = str(meta.get("input_order", "RGB"))
    if layout not in ("OIHW", "HWIO") or order not in ("RGB", "BGR"):
        raise WeightsFormatError(f"{path}: meta/layout={layout!r}, meta/input_order={order!r}; "
                                 f"expected OIHW or HWIO, RGB or BGR")
    if layout == "HWIO":
        channels = 3
        for name in param_names(19, include_top=True):
            if name not in layers:
                continue
            w, b = layers[name]
            if name.startswith("conv"):
                layers[name] = (hwio_to_oihw(w), b)
                channels = w.shape[3]
            elif name == "fc6":
                layers[name] = (_dense_from_keras(w, channels), b)
            else:
                layers[name] = (np.asarray(w).T, b)
    if order == "BGR" and "conv1_1" in layers:
        _flip_input_channels(layers)
    classes = [str(c) for c in meta["classes"]] if "classes" in meta else None
    return _finish(layers, f"{path} (npz)", classes=classes, mean_rgb=meta.get("mean_rgb"))


def contents_sha256(path: str | Path) -> str:
    """A sha256 over the arrays of an .npz (names, dtypes, shapes, bytes), independent of the
    zip container's timestamps — what `fetch_weights` pins."""
    import hashlib

    h = hashlib.sha256()
    with np.load(path, allow_pickle=False) as data:
        for key in sorted(data.keys()):
            a = np.ascontiguousarray(data[key])
            h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Dispatch and search


def load_weights(path: str | Path) -> VGGWeights:
    """Load any supported file (.mat, .h5, .npz) into the course format."""
    path = Path(path)
    if not path.is_file():
        raise weights_io.WeightsNotFound(f"weight file {path} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(128)
    if head.startswith(b"\x89HDF") or path.suffix in (".h5", ".hdf5"):
        return load_keras_h5(path)
    if head.startswith(b"PK") or path.suffix == ".npz":
        return load_npz(path)
    if head.startswith(b"MATLAB") or path.suffix == ".mat":
        return load_matconvnet(path)
    raise WeightsFormatError(f"{path}: unknown weight format (suffix {path.suffix!r}, first bytes "
                             f"{head[:8]!r}); expected a MatConvNet .mat, a Keras .h5 or an .npz")


def load_classes(n: int = NUM_CLASSES) -> list[str] | None:
    """ImageNet class names from ``imagenet_classes.txt`` (one per line) or Keras's
    ``imagenet_class_index.json`` in the weights folders; None if neither is there."""
    import json

    try:
        path = weights_io.find_weights(*CLASS_FILES)
    except weights_io.WeightsNotFound:
        return None
    if path.suffix == ".json":
        index = json.loads(path.read_text(encoding="utf-8"))
        names = [index[str(i)][1] for i in range(len(index))]
    else:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return names if len(names) == n else None


def load_pretrained(depth: int = 19, include_top: bool | None = None, other_depths: bool = True,
                    fallback_random: bool = True, seed: int = 0) -> VGGWeights:
    """The best weights available for `depth`.

    Looks (with `find_weights`) for the files of `FILES[depth]`, then, if `other_depths`, for
    those of the other depths (e.g. the offline default VGG16 convolutions); `include_top=True`
    only accepts files with fc6–fc8, `False` drops them. If nothing is found, returns seeded
    random weights (``.random`` is True) or, with ``fallback_random=False``, raises
    `WeightsNotFound` naming the folders searched.
    """
    order = [depth] + ([d for d in sorted(FILES, reverse=True) if d != depth] if other_depths else [])
    tried = []
    for d in order:
        for filename in FILES.get(d, ()):
            tried.append(filename)
            try:
                path = weights_io.find_weights(filename)
            except weights_io.WeightsNotFound:
                continue
            loaded = load_weights(path)
            if include_top and not loaded.include_top:
                continue
            if include_top is False and loaded.include_top:
                for name in ("fc6", "fc7", "fc8"):
                    loaded.pop(name)
                loaded.include_top = False
            if loaded.include_top and not loaded.classes:
                loaded.classes = load_classes(loaded["fc8"][0].shape[0])
            return loaded
    if not fallback_random:
        looked = ", ".join(str(p) for p in weights_io.search_dirs())
        raise weights_io.WeightsNotFound(
            f"no VGG weights found (tried {', '.join(tried)}) in: {looked}. Run "
            f"'python -m source_lib.fetch_weights' or set COURSE_WEIGHTS.")
    return random_weights(depth, include_top=bool(include_top), seed=seed)


# --------------------------------------------------------------------------------------------
# TensorFlow/Keras models with course-format weights (references for tests and benchmarks)


def keras_model(depth: int = 19, include_top: bool = False, input_hw: int = INPUT_SIZE,
                num_classes: int = NUM_CLASSES):
    """An untrained ``tf.keras.applications.VGG16/VGG19`` (NHWC input) of the given size.

    VGG11/13 are not in keras.applications. With `include_top` the final softmax is kept:
    compare logits with the output of the 'predictions' layer's matmul, or use
    `keras_activations`, which returns the pre-softmax fc8.
    """
    import tensorflow as tf

    apps = {16: tf.keras.applications.VGG16, 19: tf.keras.applications.VGG19}
    if depth not in apps:
        raise ValueError(f"keras.applications has VGG16 and VGG19, not VGG{depth}")
    return apps[depth](weights=None, include_top=include_top, input_shape=(input_hw, input_hw, 3),
                       classes=num_classes, classifier_activation=None)


def to_keras(weights: dict, model, bgr: bool = False):
    """Copy course-format weights into a Keras VGG model; return the model.

    With `bgr=False` the Keras model takes the same input as the course network (RGB minus
    MEAN_RGB, NHWC); `bgr=True` reverses conv1_1's input channels, as keras.applications'
    ``preprocess_input`` (BGR minus MEAN_BGR) expects.
    """
    channels = 3
    for name, (w, b) in weights.items():
        layer = model.get_layer(keras_layer_name(name))
        if name.startswith("conv"):
            if name == "conv1_1" and bgr:
                w = w[:, ::-1]
            kernel = np.ascontiguousarray(np.asarray(w).transpose(2, 3, 1, 0))
            channels = w.shape[0]
        elif name == "fc6":
            kernel = _dense_to_keras(np.asarray(w), channels)
        else:
            kernel = np.ascontiguousarray(np.asarray(w).T)
        layer.set_weights([kernel, np.asarray(b)])
    return model


def from_keras(model, bgr: bool = False) -> VGGWeights:
    """Course-format weights of a Keras VGG model (`bgr=True`: it takes BGR input)."""
    layers, channels = {}, 3
    for layer in model.layers:
        name = course_layer_name(layer.name)
        if name is None or not layer.get_weights():
            continue
        kernel, bias = layer.get_weights()
        if name.startswith("conv"):
            layers[name] = (hwio_to_oihw(kernel), bias)
            channels = kernel.shape[3]
        elif name == "fc6":
            layers[name] = (_dense_from_keras(kernel, channels), bias)
        else:
            layers[name] = (kernel.T, bias)
    if bgr:
        _flip_input_channels(layers)
    return _finish(layers, f"Keras model {model.name}")


def keras_activations(model, x_nchw: np.ndarray) -> dict:
    """Every layer's output of a Keras VGG model for an NCHW input, as NCHW/(N, units) arrays,
    under course names (conv1_1 is the convolution *before* its ReLU, as in the course network;
    relu1_1 after it; fc8 the logits)."""
    import tensorflow as tf

    x = tf.constant(np.ascontiguousarray(np.asarray(x_nchw, np.float32).transpose(0, 2, 3, 1)))
    out = {}
    for layer in model.layers[1:]:
        name = layer.name
        if name == "flatten":
            x = layer(x)
            continue
        m = re.fullmatch(r"block(\d)_pool", name)
        if m:
            x = layer(x)
            out[f"pool{m.group(1)}"] = x
            continue
        cname = course_layer_name(name)
        kernel, bias = layer.kernel, layer.bias
        if cname.startswith("conv"):
            pre = tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias)
            relu = "relu" + cname[4:]
        else:
            pre = tf.nn.bias_add(tf.matmul(x, kernel), bias)
            relu = {"fc6": "relu6", "fc7": "relu7"}.get(cname)
        out[cname] = pre
        x = tf.nn.relu(pre) if relu else pre
        if relu:
            out[relu] = x
    return {k: (v.numpy().transpose(0, 3, 1, 2) if len(v.shape) == 4 else v.numpy()) for k, v in out.items()}
