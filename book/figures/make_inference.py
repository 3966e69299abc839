"""Draw the figures of book/inference.md (they are committed as PNGs; the book build runs no code).

    .venv/bin/python book/figures/make_inference.py            # all three figures
    .venv/bin/python book/figures/make_inference.py paths      # only some of: paths platforms stages

* inference_paths.png     — the online path (framework at run time: eager, graph, XLA) and the
  offline path (export, convert, a small runtime) drawn side by side.
* inference_platforms.png — the pretrained style network (multistyle26.onnx, style 19) on a
  photograph, run by onnxruntime, by the LiteRT float32 file and by the LiteRT int8 file, and the
  int8 error map. The network, the export and the conversion are the instructor solution of
  notebooks/inference (loaded as bench/solutions.py does).
* inference_stages.png    — pre / infer / post milliseconds (median of 10, batch 1, 256×256) for
  the five runtimes, measured on the machine that runs this script (the title says how many
  cores), the runtimes taking turns call by call.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
_STATE: dict = {}


def _box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                fc=color, ec="#333333", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9.5)


def _arrow(ax, x0, y0, x1, y1):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, color="#333333"))


def paths_figure() -> Path:
    fig, ax = plt.subplots(figsize=(10, 4.2))
    ax.set_xlim(0, 10); ax.set_ylim(0, 4.4); ax.axis("off")
    online, offline, shared = "#d6e6f5", "#f7e2c6", "#e6e6e6"
    ax.text(0.1, 4.15, "online: the framework runs the model", fontsize=11, weight="bold")
    _box(ax, 0.1, 2.75, 1.8, 0.9, "Python model\n(Keras, weights)", shared)
    _box(ax, 2.4, 3.3, 2.2, 0.55, "eager: op by op", online)
    _box(ax, 2.4, 2.65, 2.2, 0.55, "tf.function: graph", online)
    _box(ax, 5.0, 2.65, 2.3, 0.55, "XLA: fused kernels", online)
    _box(ax, 7.9, 2.75, 2.0, 0.9, "TensorFlow\n(1.3 GB, seconds to import)", online)
    for y in (3.57, 2.92):
        _arrow(ax, 1.9, 3.2, 2.4, y)
    _arrow(ax, 4.6, 2.92, 5.0, 2.92)
    _arrow(ax, 4.6, 3.57, 7.9, 3.3)
    _arrow(ax, 7.3, 2.92, 7.9, 3.05)
    ax.text(0.1, 1.85, "offline: compiled ahead of time, run by a small runtime", fontsize=11, weight="bold")
    _box(ax, 0.1, 0.45, 1.8, 0.9, "Python model\n(Keras, weights)", shared)
    _box(ax, 2.4, 0.45, 1.7, 0.9, "SavedModel\nmodel.export()", offline)
    _box(ax, 4.5, 0.45, 1.9, 0.9, "converter\n(+ int8 weights)", offline)
    _box(ax, 6.8, 0.45, 1.1, 0.9, ".tflite\nfile", offline)
    _box(ax, 8.2, 0.45, 1.75, 0.9, "LiteRT interpreter\n(59 MB, no TensorFlow)", offline)
    for x0, x1 in [(1.9, 2.4), (4.1, 4.5), (6.4, 6.8), (7.9, 8.2)]:
        _arrow(ax, x0, 0.9, x1, 0.9)
    ax.plot([6.6, 6.6], [0.2, 1.6], ls="--", color="#888888", lw=1)
    ax.text(6.55, 0.12, "build time  |  run time", ha="center", fontsize=8.5, color="#555555")
    fig.tight_layout()
    return _save(fig, "inference_paths.png")


def _solutions():
    if not _STATE:
        from solutions import load_solutions

        work = Path(tempfile.mkdtemp(prefix="fig_inference_"))
        here = Path.cwd()
        os.chdir(work)
        try:
            ns = load_solutions("inference")
            saved = work / ns["SAVED_MODEL"]
            ns["_files"] = {"float32": ns["convert_to_tflite"](saved, work / "f32.tflite"),
                            "int8": ns["convert_to_tflite"](saved, work / "i8.tflite", int8=True)}
            ns["_saved"] = saved
        finally:
            os.chdir(here)
        _STATE.update(ns)
    return _STATE


def platforms_figure() -> Path:
    from source_lib import images

    ns = _solutions()
    photo = images.load_image("chelsea")
    batch = ns["preprocess"](photo, (256, 384))
    ref = ns["onnx_reference"](batch)
    out = {"onnxruntime (ONNX file)": ref,
           "LiteRT float32": ns["run_tflite"](ns["_files"]["float32"], batch),
           "LiteRT int8 weights": ns["run_tflite"](ns["_files"]["int8"], batch)}
    fig, axes = plt.subplots(1, 5, figsize=(14, 2.6))
    axes[0].imshow(ns["postprocess"](batch, (256, 384))); axes[0].set_title("input (chelsea, CC0)", fontsize=9)
    for ax, (name, y) in zip(axes[1:4], out.items()):
        ax.imshow(ns["postprocess"](y, (256, 384)))
        extra = "" if y is ref else f"\nmax |err| {ns['max_abs_error'](y, ref):.1e}, PSNR {ns['psnr'](y, ref):.1f} dB"
        ax.set_title(name + extra, fontsize=9)
    diff = np.abs(out["LiteRT int8 weights"] - ref)[0].max(axis=-1)
    im = axes[4].imshow(diff, cmap="magma", vmin=0)
    axes[4].set_title("|int8 − ONNX|, max over RGB", fontsize=9)
    fig.colorbar(im, ax=axes[4], fraction=0.035)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, "inference_platforms.png")


def stages_figure() -> Path:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from source_lib import images

    ns = _solutions()
    net = ns["net"]

    def litert(path):
        it = Interpreter(model_path=str(path))
        idx = it.get_input_details()[0]["index"]
        it.resize_tensor_input(idx, [1, 256, 256, 3]); it.allocate_tensors()

        def run(b):
            it.set_tensor(idx, b); it.invoke()
            return it.get_tensor(it.get_output_details()[0]["index"]).copy()
        return run

    graph_fn = tf.function(lambda t: net(t))
    xla_fn = tf.function(lambda t: net(t), jit_compile=True)
    runners = {"online eager": lambda b: net(b).numpy(),
               "online graph": lambda b: graph_fn(tf.constant(b)).numpy(),
               "online XLA": lambda b: xla_fn(tf.constant(b)).numpy(),
               "offline LiteRT float32": litert(ns["_files"]["float32"]),
               "offline LiteRT int8": litert(ns["_files"]["int8"])}
    photo = images.load_image("chelsea")
    pre = lambda im: ns["preprocess"](im, (256, 256))
    post = lambda y: ns["postprocess"](y, photo.shape[:2])
    for run in runners.values():        # tracing, compiling, allocating
        run(pre(photo))
    runs = {name: [] for name in runners}
    for _ in range(10):                # runtimes alternate, so a change of load hits all alike
        for name, run in runners.items():
            runs[name].append(ns["time_pipeline"](pre, run, post, photo, repeat=1, warmup=0))
    times = {name: {k: float(np.median([r[k] for r in rs])) for k in rs[0]} for name, rs in runs.items()}
    fig, ax = plt.subplots(figsize=(8, 3.2))
    names, left = list(times), np.zeros(len(times))
    for stage, color in [("pre", "#59a14f"), ("infer", "#4e79a7"), ("post", "#f28e2b")]:
        vals = np.array([times[n][stage] for n in names])
        ax.barh(names, vals, left=left, color=color, label=stage)
        left += vals
    for i, n in enumerate(names):
        ax.text(left[i] + 2, i, f"{times[n]['total']:.0f} ms", va="center", fontsize=8.5)
    ax.invert_yaxis(); ax.set_xlabel("milliseconds per image (median of 10, batch 1)"); ax.legend(loc="upper right")
    ax.set_xlim(0, left.max() * 1.35)
    ax.set_title(f"style network at 256×256, {os.cpu_count()} shared CPU cores")
    fig.tight_layout()
    print({n: {k: round(v, 2) for k, v in t.items()} for n, t in times.items()})
    return _save(fig, "inference_stages.png")


def _save(fig, name: str) -> Path:
    path = HERE / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)
    return path


FIGURES = {"paths": paths_figure, "platforms": platforms_figure, "stages": stages_figure}

if __name__ == "__main__":
    for key in sys.argv[1:] or list(FIGURES):
        FIGURES[key]()
