"""Chapter 6 benchmark: Johnson et al.'s speed table — Gatys optimisation vs one forward pass.

Gatys et al.: the pixels of the image are optimised with Adam against the chapter's perceptual
losses (feature loss at relu2_2, style loss at relu1_2/2_2/3_3/4_3 of the offline ImageNet
VGG16; `gram_matrix`, `feature_loss` and `style_loss` are the instructor solutions of
notebooks/fast_style_transfer), one `tf.function` per Adam step (forward and backward through
VGG16). Transform network: the notebook's `TransformNet`, called through `tf.function`, in two
sizes — the pretrained multistyle26 network with its ONNX weights (widths 32/32/32, 6 residual
blocks, 8/4 on the way up), and a network of Johnson et al.'s widths (32/64/128, 5 residual
blocks, 64/32; seeded random weights: the time does not depend on them).

Johnson et al. (2016), table 1, measured on a GTX Titan X: 100/300/500 Gatys iterations against
one forward pass at 256, 512 and 1024 pixels. Here the time of one Gatys iteration is the median
of several iterations after a warm-up (tracing); the time of N iterations is N × that (stated
in the table as "N × step"; with ``--run-all`` the 256-pixel rows are also run in full). The
forward pass is the median of several calls. Both methods are measured in the same run: the
machines are shared, so compare ratios.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from solutions import load_solutions  # noqa: E402
from source_lib import config, images, multistyle, timing, train_style  # noqa: E402

ITERATIONS = (100, 300, 500)
# Johnson et al. 2016, table 1 (GPU): seconds of Gatys at 100/300/500 iterations, of one forward
# pass, and the speed-ups.
PAPER = {256: ((3.17, 9.52, 15.86), 0.015, (212, 636, 1060)),
         512: ((10.97, 32.91, 54.85), 0.05, (205, 615, 1026)),
         1024: ((42.89, 128.66, 214.44), 0.21, (208, 625, 1042))}
JOHNSON = dict(contract=(32, 64, 128), expand=(64, 32), num_res=5)


def gatys_step_fn(ns, loss_net, size: int, style_spec: str = "multistyle26:20"):
    """A tf.function doing one Adam step of Gatys's optimisation at size × size."""
    import tensorflow as tf

    content = tf.constant(images.to_float(images.load_image("chelsea", size=(size, size)))[None])
    style = tf.constant(train_style.style_image(style_spec, size))
    grams = {n: ns["gram_matrix"](f) for n, f in loss_net(style).items()}
    target = loss_net(content)[train_style.CONTENT_LAYER]
    pixels = tf.Variable(content)
    adam = tf.keras.optimizers.Adam(0.02)
    w = train_style.LOSS_WEIGHTS

    @tf.function(autograph=False)   # the solutions are exec'd notebook cells: no source to convert
    def step():
        with tf.GradientTape() as tape:
            feats = loss_net(pixels)
            loss = (w["content"] * ns["feature_loss"](feats[train_style.CONTENT_LAYER], target)
                    + w["style"] * ns["style_loss"]({n: ns["gram_matrix"](feats[n]) for n in grams}, grams))
        adam.apply_gradients([(tape.gradient(loss, pixels), pixels)])
        return loss

    return lambda: step().numpy()


def forward_fn(net, size: int, num_styles: int):
    import tensorflow as tf

    x = tf.constant(images.to_float(images.load_image("chelsea", size=(size, size)))[None])
    s = tf.one_hot(0, num_styles)
    call = tf.function(lambda t: net((t, s)), autograph=False)
    return lambda: call(x).numpy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=config.pick([256, 512, 1024], [64, 128]))
    parser.add_argument("--steps", type=int, default=config.pick(5, 2), help="timed Gatys iterations per size (median)")
    parser.add_argument("--repeat", type=int, default=config.pick(7, 2), help="timed forward passes (median)")
    parser.add_argument("--run-all", action="store_true", help="also run 100/300/500 iterations at the smallest size")
    args = parser.parse_args(argv)
    import tensorflow as tf

    ns = load_solutions("fast_style_transfer")
    loss_net = train_style.loss_network()
    pretrained = ns["load_onnx_weights"](ns["TransformNet"](), multistyle.load_weights())
    tf.random.set_seed(0)
    johnson = ns["TransformNet"](num_styles=1, **JOHNSON)
    johnson((tf.zeros((1, 16, 16, 3)), tf.ones([1])))
    print(f"loss network: VGG16 ({loss_net.weights_source}); {os.cpu_count()} CPU cores; "
          f"transform nets: multistyle26 {pretrained.count_params()} parameters, "
          f"Johnson-size {johnson.count_params()} parameters")

    rows = []
    for size in args.sizes:
        step = gatys_step_fn(ns, loss_net, size)
        fwd_ms = forward_fn(pretrained, size, 26)
        fwd_j = forward_fn(johnson, size, 1)
        t_step = timing.median_time(step, repeat=args.steps, warmup=1)
        t_ms = timing.median_time(fwd_ms, repeat=args.repeat, warmup=1)
        t_j = timing.median_time(fwd_j, repeat=args.repeat, warmup=1)
        full = {}
        if args.run_all and size == min(args.sizes):
            for n in ITERATIONS:
                full[n] = timing.median_time(lambda: [step() for _ in range(n)], repeat=1, warmup=0)
        rows.append((size, t_step, t_ms, t_j, full))
        print(f"  measured {size}×{size}: Gatys step {t_step:.3f} s, forward multistyle26 {t_ms * 1e3:.1f} ms, "
              f"Johnson-size {t_j * 1e3:.1f} ms", flush=True)

    print("\nSeconds (this CPU; Gatys N iterations = N × median step unless run in full) and speed-ups "
          "(Gatys time / one forward pass)")
    head = (f"{'size':>5} {'Gatys 100':>10} {'300':>8} {'500':>8} | {'fwd ms26':>9} {'speed-up ms26':>22} | "
            f"{'fwd J.':>8} {'speed-up Johnson-size':>22} | {'paper fwd':>9} {'paper speed-up':>17}")
    print(head)
    print("-" * len(head))
    for size, t_step, t_ms, t_j, full in rows:
        gatys = [full.get(n, n * t_step) for n in ITERATIONS]
        up_ms = "/".join(f"{g / t_ms:.0f}" for g in gatys) + "×"
        up_j = "/".join(f"{g / t_j:.0f}" for g in gatys) + "×"
        paper = PAPER.get(size)
        p_fwd = f"{paper[1]:.3f}" if paper else "-"
        p_up = "/".join(str(v) for v in paper[2]) + "×" if paper else "-"
        print(f"{size:>5} {gatys[0]:>10.1f} {gatys[1]:>8.1f} {gatys[2]:>8.1f} | {t_ms:>9.4f} {up_ms:>22} | "
              f"{t_j:>8.4f} {up_j:>22} | {p_fwd:>9} {p_up:>17}")
        if full:
            print(f"      (at {size} px the 100/300/500 iterations were run in full: "
                  + ", ".join(f"{n}: {full[n]:.1f} s vs {n * t_step:.1f} s estimated" for n in ITERATIONS) + ")")
    paper_gatys = {size: PAPER[size][0] for size in PAPER}
    print("\npaper (GTX Titan X), Gatys seconds: " + "; ".join(
        f"{s}: {'/'.join(f'{v:g}' for v in g)}" for s, g in paper_gatys.items()))
    worst = min(n * t_step / t_j for _, t_step, _, t_j, _ in rows for n in (100,))
    print(f"smallest speed-up at 100 iterations, Johnson-size network: {worst:.0f}× "
          f"(paper: 205–212×; goal: at least the paper's ratios: {'met' if worst >= 205 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
