"""Course-wide settings: quick mode, folders, seeds. (Defined in chapter 0, Foundations.)"""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("COURSE_DATA", REPO / "data"))
WEIGHTS_DIR = DATA_DIR / "weights"
TRUE_WORDS = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """True when the environment variable `name` is set to 1/true/yes/on (any case)."""
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS


def quick() -> bool:
    """Quick mode: small images and few iterations (tests, CI). Set COURSE_QUICK=1."""
    return env_flag("COURSE_QUICK")


def grading() -> bool:
    """True while nbgrader executes the notebook (it sets NBGRADER_EXECUTION)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def small() -> bool:
    """Heavy experiment cells shrink when this is true: quick mode or grading."""
    return quick() or grading()


def pick(full, small_value):
    """`full` normally, `small_value` in quick mode or while grading."""
    return small_value if small() else full


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy and (if imported) TensorFlow; return a NumPy Generator."""
    random.seed(seed)
    np.random.seed(seed)
    import sys
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    return np.random.default_rng(seed)


def banner() -> str:
    """One line that says which mode the notebook runs in."""
    mode = "QUICK (small sizes)" if quick() else "FULL size"
    if grading():
        mode += ", grading"
    return f"AI Computing Systems — mode: {mode}. Data: {DATA_DIR}"
