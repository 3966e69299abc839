"""Progress bars for long loops. (Defined in chapter 1.)"""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def progress(iterable=None, desc: str = "", total: int | None = None, **kwargs):
    """tqdm over `iterable`; a plain text bar when not in a notebook, quieter while grading."""
    kwargs.setdefault("mininterval", 1.0 if os.environ.get("NBGRADER_EXECUTION") else 0.1)
    kwargs.setdefault("file", sys.stdout)
    return tqdm(iterable, desc=desc, total=total, **kwargs)
