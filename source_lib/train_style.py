"""Train a real-time style transfer network (Johnson et al., 2016). (Chapter 6.)

The parts of training that are *not* exercises live here: the fixed VGG16 loss network, random
content crops of the offline photos, the style image, the training loop with a progress bar and
resumable checkpoints, and saving the trained network. The graded parts — the transform network
(`TransformNet`), the Gram matrix (`gram_matrix`) and one optimisation step (`train_step`) — are
*not* in this package: `load_solutions` takes them from the chapter's notebook (by default the
copy in ``notebooks/fast_style_transfer/``, i.e. the instructor's solution in the instructor
repository and the student's own code in a student's copy) or from any module that defines the
same three names. So an instructor trains further styles with exactly the network the notebook
defines, and this file holds no solution::

    python -m source_lib.train_style --style data/images/wave.jpg --out data/models/wave \\
        --steps 300 --size 128 [--resume]

The loop checkpoints every ``--save-every`` steps (`tf.train.CheckpointManager`: network,
optimiser and step); ``--resume`` continues from the last checkpoint up to ``--steps``. At the
end the folder holds ``<name>.weights.h5`` (Keras weights), ``<name>_savedmodel/`` (a
SavedModel whose ``serve(image, style_weights)`` needs no Python classes: later chapters load
it), ``history.json`` (losses per step) and ``config.json`` (architecture and settings).
`find_trained` finds such a network for chapters 7 and 8, and `export_single_input` re-saves it
with one static input for the LiteRT converter.

Conventions: images NHWC float32 RGB in [0, 1]; `loss_network` returns ReLU activations of the
ImageNet VGG16 (`source_lib.vgg`, offline weights from ``python -m source_lib.fetch_weights``).
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import config, images, styles, vgg
from .progress import progress

# Johnson et al. (2016), section 4.1: feature loss at relu2_2, style loss at four ReLUs of VGG16.
STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
CONTENT_LAYER = "relu2_2"
# keras.applications.VGG16 folds each ReLU into its convolution layer.
KERAS_LAYERS = {"relu1_1": "block1_conv1", "relu1_2": "block1_conv2", "relu2_1": "block2_conv1",
                "relu2_2": "block2_conv2", "relu3_1": "block3_conv1", "relu3_2": "block3_conv2",
                "relu3_3": "block3_conv3", "relu4_1": "block4_conv1", "relu4_2": "block4_conv2",
                "relu4_3": "block4_conv3", "relu5_1": "block5_conv1", "relu5_2": "block5_conv2",
                "relu5_3": "block5_conv3"}
CONTENT_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "grace_hopper")
# Weights of (6.10) for the unnormalised losses of the chapter (VGG input in [0, 255]): the style
# loss of an untrained network is ~1e11, the feature loss ~1e6.
LOSS_WEIGHTS = {"content": 1.0, "style": 5e-5, "tv": 100.0}
REQUIRED = ("TransformNet", "gram_matrix", "train_step")
DEFAULT_SOLUTIONS = config.REPO / "notebooks" / "fast_style_transfer" / "fast_style_transfer.ipynb"


class LossNetwork:
    """The fixed VGG16 loss network: ``net(image)`` maps an NHWC RGB batch in [0, 1] (any size)
    to a dict ``{relu name: NHWC activation}`` for `layers`. Its weights are never trained."""

    def __init__(self, layers=STYLE_LAYERS, weights=None):
        import tensorflow as tf

        unknown = [name for name in layers if name not in KERAS_LAYERS]
        if unknown:
            raise ValueError(f"unknown VGG16 layers {unknown}; choose from {list(KERAS_LAYERS)}")
        if weights is None:
            weights = vgg.load_pretrained(16, include_top=False, other_depths=False, fallback_random=False)
        self.weights_source = getattr(weights, "source", "given weights")
        base = tf.keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
        vgg.to_keras(weights, base)
        self.layers = tuple(layers)
        self.model = tf.keras.Model(base.input, {n: base.get_layer(KERAS_LAYERS[n]).output for n in layers})
        self.model.trainable = False
        self.mean = tf.constant(vgg.MEAN_RGB)

    def __call__(self, image):
        return self.model(image * 255.0 - self.mean, training=False)


def loss_network(layers=STYLE_LAYERS, weights=None) -> LossNetwork:
    """The VGG16 loss network (offline ImageNet weights; WeightsNotFound names the fetch command)."""
    return LossNetwork(layers, weights)


def content_images(names=CONTENT_PHOTOS) -> list[np.ndarray]:
    """The offline training photos as float32 (H, W, 3) arrays in [0, 1]."""
    return [images.to_float(images.load_image(name)) for name in names]


def random_crops(photos, size: int, batch: int, rng: np.random.Generator) -> np.ndarray:
    """A batch (batch, size, size, 3) of random square crops (side 50–100 % of the shorter
    side), resized to `size` and flipped left-right at random: the training data."""
    from PIL import Image

    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (two stride-2 convolutions), got {size}")
    out = np.empty((batch, size, size, 3), np.float32)
    for i in range(batch):
        photo = photos[rng.integers(len(photos))]
        h, w = photo.shape[:2]
        side = int(min(h, w) * rng.uniform(0.5, 1.0))
        top, left = rng.integers(h - side + 1), rng.integers(w - side + 1)
        crop = Image.fromarray(images.to_uint8(photo[top:top + side, left:left + side]))
        crop = np.asarray(crop.resize((size, size), Image.BILINEAR), np.float32) / 255.0
        out[i] = crop[:, ::-1] if rng.random() < 0.5 else crop
    return out


def pretrained_style(style: int, photo: str = "coffee", side: int = 256) -> np.ndarray:
    """A painting style without a painting file: the pretrained multistyle26 network's
    rendering of `photo` in style `style` (onnxruntime), (side, side, 3) float32 in [0, 1]."""
    from . import multistyle

    image = images.to_float(images.load_image(photo, size=(side, side)))
    out = multistyle.reference(image.transpose(2, 0, 1)[None].copy(), multistyle.one_hot(style))
    return out[0].transpose(1, 2, 0)


def style_image(spec, size: int) -> np.ndarray:
    """The style image as a (1, size, size, 3) float32 batch (central square, bilinear).

    `spec`: an (H, W, 3) array in [0, 1]; ``"multistyle26:K"`` (`pretrained_style` K); a style
    of chapter 5 (`source_lib.styles`: a painting in data/styles/, or a built-in texture); or a
    sample name, a file in data/images/, or a path."""
    from PIL import Image

    if isinstance(spec, str) and spec.startswith("multistyle26:"):
        spec = pretrained_style(int(spec.split(":", 1)[1]))
    if isinstance(spec, np.ndarray):
        array = images.to_uint8(images.check_image(spec, "style image"))
    elif isinstance(spec, str) and spec in styles.available():
        array = styles.load_style(spec)
    else:
        array = images.load_image(spec)
    h, w = array.shape[:2]
    m = min(h, w)
    square = array[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    resized = Image.fromarray(square).resize((size, size), Image.BILINEAR)
    return (np.asarray(resized, np.float32) / 255.0)[None]


def load_solutions(spec=None) -> dict:
    """`TransformNet`, `gram_matrix` and `train_step` (and whatever else it defines) from a
    notebook (.ipynb: its locked and solution cells are run), a .py file, or a dotted module."""
    spec = str(spec or DEFAULT_SOLUTIONS)
    namespace: dict
    if spec.endswith(".ipynb"):
        import nbformat

        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no notebook {path}; run 'python -m autograder notebooks' or pass --solutions")
        nb = nbformat.read(path, as_version=4)
        namespace = {"__name__": f"solutions_{path.stem}"}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("solution") or meta.get("locked")) and not meta.get("grade"):
                exec(compile(cell.source, f"<{path.name}:{meta.get('grade_id')}>", "exec"), namespace)
    elif spec.endswith(".py"):
        namespace = {"__name__": "solutions_module", "__file__": spec}
        exec(compile(Path(spec).read_text(encoding="utf-8"), spec, "exec"), namespace)
    else:
        namespace = vars(importlib.import_module(spec))
    missing = [name for name in REQUIRED if name not in namespace]
    if missing:
        raise ValueError(f"{spec} does not define {', '.join(missing)} (needs {', '.join(REQUIRED)})")
    return namespace


def train(net, train_step, gram_matrix, loss_net, style, *, steps: int, size: int, batch: int = 2,
          learning_rate: float = 1e-3, loss_weights=None, photos=None, checkpoint_dir=None,
          resume: bool = False, save_every: int = 50, seed: int = 0, desc: str = "training",
          graph: bool = True) -> dict:
    """Train `net` (one style: style_weights = [1]) with the given `train_step`.

    `train_step(net, loss_net, optimizer, content, style_weights, style_grams, loss_weights)`
    must run one optimisation step and return a dict of scalar losses (at least "total").
    With `checkpoint_dir`, checkpoints are written every `save_every` steps and at the end;
    `resume` restores the latest one and trains on up to `steps` in total. Returns the history
    {loss name: [value per step]} (including the steps of earlier runs when resuming).
    `graph=False` runs the steps eagerly (faster than tracing for a handful of tiny steps).
    """
    import tensorflow as tf

    loss_weights = dict(loss_weights or LOSS_WEIGHTS)
    photos = content_images() if photos is None else photos
    style_feats = loss_net(tf.constant(style if isinstance(style, np.ndarray) else style_image(style, size)))
    style_grams = {name: gram_matrix(style_feats[name]) for name in STYLE_LAYERS}
    style_weights = tf.ones([1], tf.float32)
    optimizer = tf.keras.optimizers.Adam(learning_rate)
    net((tf.zeros([1, size, size, 3]), style_weights))        # build the variables
    step_var = tf.Variable(0, dtype=tf.int64, trainable=False)
    history: dict = {}
    manager = None
    if checkpoint_dir is not None:
        checkpoint_dir = Path(checkpoint_dir)
        ckpt = tf.train.Checkpoint(net=net, optimizer=optimizer, step=step_var)
        manager = tf.train.CheckpointManager(ckpt, str(checkpoint_dir / "checkpoints"), max_to_keep=2)
        if resume and manager.latest_checkpoint:
            ckpt.restore(manager.latest_checkpoint)
            hist_path = checkpoint_dir / "history.json"
            if hist_path.is_file():
                history = {k: v[:int(step_var.numpy())] for k, v in json.loads(hist_path.read_text()).items()}
            print(f"resumed from {manager.latest_checkpoint} at step {int(step_var.numpy())}")
    def step_fn(content):
        return train_step(net, loss_net, optimizer, content, style_weights, style_grams, loss_weights)

    if graph:   # the step may come from exec'd notebook cells whose source autograph cannot read
        step_fn = tf.function(tf.autograph.experimental.do_not_convert(step_fn))
    start = int(step_var.numpy())
    rng = np.random.default_rng(seed + start)
    bar = progress(range(start, steps), desc=desc, total=steps, initial=start)
    for step in bar:
        losses = step_fn(tf.constant(random_crops(photos, size, batch, rng)))
        for name, value in losses.items():
            history.setdefault(name, []).append(float(value))
        step_var.assign(step + 1)
        bar.set_postfix(loss=f"{history['total'][-1]:.3g}", refresh=False)
        if manager is not None and ((step + 1) % save_every == 0 or step + 1 == steps):
            manager.save(checkpoint_number=step + 1)
            (checkpoint_dir / "history.json").write_text(json.dumps(history))
    return history


def save(net, out_dir, name: str, num_styles: int = 1, info: dict | None = None) -> dict:
    """Save the trained network: Keras weights, a SavedModel with ``serve(image, style_weights)``
    (NHWC [0, 1] -> NHWC [0, 1]; loads with ``tf.saved_model.load`` and no Python classes), and
    config.json. Returns the paths."""
    import tensorflow as tf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / f"{name}.weights.h5"
    net.save_weights(str(weights_path))
    module = tf.Module()
    module.net = net
    module.serve = tf.function(lambda image, style_weights: net((image, style_weights)),
                               input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="image"),
                                                tf.TensorSpec([num_styles], tf.float32, name="style_weights")])
    saved_path = out_dir / f"{name}_savedmodel"
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")               # no "Assets written to ..." on stderr
    try:
        tf.saved_model.save(module, str(saved_path))
    finally:
        logger.setLevel(level)
    (out_dir / "config.json").write_text(json.dumps({"name": name, "num_styles": num_styles, **(info or {})},
                                                    indent=1, default=str))
    return {"weights": weights_path, "savedmodel": saved_path, "config": out_dir / "config.json"}


def load_savedmodel(path):
    """A function image (N, H, W, 3) in [0, 1] -> stylised image, from a folder written by `save`
    (the ``<name>_savedmodel`` folder or the folder holding it)."""
    import tensorflow as tf

    path = Path(path)
    if not (path / "saved_model.pb").is_file():
        found = sorted(path.glob("*_savedmodel/saved_model.pb")) if path.is_dir() else []
        if not found:
            raise FileNotFoundError(f"no SavedModel in {path}; train one with 'python -m source_lib.train_style'")
        path = found[0].parent
    module = tf.saved_model.load(str(path))
    num_styles = int(module.serve.input_signature[1].shape[0])
    return lambda image, style_weights=None: module.serve(
        tf.constant(image, tf.float32), tf.ones([num_styles]) / num_styles if style_weights is None
        else tf.constant(style_weights, tf.float32)).numpy()


TRAINED_ENV = "COURSE_TRAINED_STYLE"


def _trained_dir(path) -> Path | None:
    """`path` if it is a ``<name>_savedmodel`` folder written by `save` (saved_model.pb inside,
    config.json beside it), else the one such folder inside `path`, else None."""
    path = Path(path).expanduser()
    found = [path] + (sorted(path.glob("*_savedmodel")) if path.is_dir() else [])
    return next((p for p in found if (p / "saved_model.pb").is_file() and (p.parent / "config.json").is_file()), None)


def trained_candidates(notebook_dir=None) -> list[Path]:
    """Where `find_trained` looks after ``$COURSE_TRAINED_STYLE``, in order: the chapter 6
    notebook's output beside `notebook_dir` (default: the working directory, i.e. the folder of
    the running notebook), then ``data/models/*/*_savedmodel`` (the CLI's ``--out``)."""
    here = Path(notebook_dir or Path.cwd()).resolve()
    sibling = here.parent / "fast_style_transfer" / "output" / "fast_style" / "fast_style_savedmodel"
    return [sibling, *sorted((config.DATA_DIR / "models").glob("*/*_savedmodel"))]


def find_trained(notebook_dir=None) -> Path | None:
    """The SavedModel folder of a style network you trained, or None. (Defined in chapter 6,
    used in chapters 7 and 8.)

    Looks at ``$COURSE_TRAINED_STYLE`` first (a ``<name>_savedmodel`` folder written by `save`, or
    the folder holding it; FileNotFoundError if it is set to anything else), then
    `trained_candidates` (the chapter 6 notebook's ``output/fast_style/`` beside this notebook's
    folder, as after ``nbgrader fetch``, then ``data/models/*/``)."""
    env = os.environ.get(TRAINED_ENV, "").strip()
    if env:
        found = _trained_dir(env)
        if found is None:
            raise FileNotFoundError(f"${TRAINED_ENV}={env} is not a SavedModel folder written by "
                                    "source_lib.train_style.save (a <name>_savedmodel folder with saved_model.pb, "
                                    "config.json beside it); unset it or point it at one")
        return found
    return next((p for p in trained_candidates(notebook_dir) if _trained_dir(p) == p), None)


def trained_hint(notebook_dir=None) -> str:
    """One line for a notebook when `find_trained` finds nothing: where it looked, how to get one."""
    first = trained_candidates(notebook_dir)[0]
    return (f"no network trained in chapter 6 found (looked at ${TRAINED_ENV} (unset), {first} and "
            f"{config.DATA_DIR / 'models'}/*/*_savedmodel): run the chapter 6 notebook to its save cell, or "
            f"'python -m source_lib.train_style --style multistyle26:3 --out data/models/style3', then rerun this cell")


def export_single_input(path, out, input_shape, style_weights=None) -> Path:
    """Re-save a network written by `save` as a SavedModel with **one** input, ``image`` of the
    static `input_shape` (e.g. ``(1, 256, 256, 3)``), its style weights fixed (equal weights by
    default): what the LiteRT converter needs for a one-input file (chapters 7 and 8). With
    unknown H and W the chapter's upsampling (`tf.repeat`) loses the channel count and the
    converter cannot lower the convolutions that follow it. Returns `Path(out)`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(_trained_dir(path) or path))
    num_styles = int(loaded.serve.input_signature[1].shape[0])
    weights = tf.constant(np.full(num_styles, 1 / num_styles) if style_weights is None else style_weights,
                          tf.float32)
    module = tf.Module()
    module.loaded = loaded
    module.serve = tf.function(lambda image: loaded.serve(image, weights),
                               input_signature=[tf.TensorSpec(input_shape, tf.float32, name="image")])
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("ERROR")
    try:
        tf.saved_model.save(module, str(out), signatures=module.serve)
    finally:
        logger.setLevel(level)
    return Path(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Train a real-time style transfer network for one style.")
    parser.add_argument("--style", required=True, help="style image: a path, a file in data/images/, a sample "
                                                         "name, or multistyle26:K (the pretrained network's style K)")
    parser.add_argument("--out", required=True, help="output folder (checkpoints, weights, SavedModel)")
    parser.add_argument("--steps", type=int, default=300, help="total optimisation steps")
    parser.add_argument("--size", type=int, default=128, help="side of the training crops (multiple of 4)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--contract", type=int, nargs=3, default=[16, 32, 32], help="widths of the three contracting convolutions")
    parser.add_argument("--expand", type=int, nargs=2, default=[16, 8], help="widths of the two upsampling convolutions")
    parser.add_argument("--residual", type=int, default=5, help="number of residual blocks")
    parser.add_argument("--content-weight", type=float, default=LOSS_WEIGHTS["content"])
    parser.add_argument("--style-weight", type=float, default=LOSS_WEIGHTS["style"])
    parser.add_argument("--tv-weight", type=float, default=LOSS_WEIGHTS["tv"])
    parser.add_argument("--save-every", type=int, default=50)
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    parser.add_argument("--solutions", default=None,
                        help=f"where TransformNet/gram_matrix/train_step come from: .ipynb, .py or module "
                             f"(default {DEFAULT_SOLUTIONS.relative_to(config.REPO)})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    out = Path(args.out)
    name = out.name or "style"
    ns = load_solutions(args.solutions)
    tf.random.set_seed(args.seed)
    net = ns["TransformNet"](num_styles=1, contract=tuple(args.contract), expand=tuple(args.expand),
                             num_res=args.residual)
    style = style_image(args.style, args.size)
    loss_net = loss_network()
    history = train(net, ns["train_step"], ns["gram_matrix"], loss_net, style, steps=args.steps, size=args.size,
                    batch=args.batch, learning_rate=args.lr, checkpoint_dir=out, resume=args.resume,
                    save_every=args.save_every, seed=args.seed,
                    loss_weights={"content": args.content_weight, "style": args.style_weight, "tv": args.tv_weight})
    paths = save(net, out, name, 1, info={"contract": args.contract, "expand": args.expand,
                                          "num_res": args.residual, "style": args.style, "steps": args.steps,
                                          "size": args.size, "batch": args.batch, "lr": args.lr,
                                          "final_loss": history["total"][-1] if history.get("total") else None})
    images.save_image(style[0], out / "style.png")
    print("saved:", ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
