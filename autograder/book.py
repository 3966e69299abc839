"""Building the course site from a copy of its sources (used by the tests and bench/book.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .pipeline import REPO

BOOK_FILES = ["_config.yml", "_toc.yml", "index.md", "book"]
STRICT = ["--all", "-W", "-n", "--keep-going"]  # every warning is an error, all reported


def copy_book(target: Path) -> Path:
    """Copy the site's sources into `target`, so a build never touches the repository."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, target / name)
        else:
            shutil.copy2(src, target / name)
    return target


def jupyter_book(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `jupyter-book build ARGS FOLDER` with this environment's jupyter-book."""
    jb = Path(sys.executable).parent / "jupyter-book"
    env = dict(os.environ, PATH=os.pathsep.join([str(jb.parent), os.environ.get("PATH", "")]))
    return subprocess.run([str(jb), "build", *args, str(folder)], capture_output=True, text=True, env=env)
