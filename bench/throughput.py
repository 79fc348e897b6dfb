"""Training throughput: GenForge's train-stage engine against a bare ``keras.Model.fit`` of the same model on the same
batches, in the same process (a fresh one per profile, with the profile's thread pools), as a ratio; and the GPT's
model FLOP utilization.

    python bench/throughput.py [--profiles cpu cpu-gpt] [--steps 150] [--rounds 5]

Both sides build the profile's model with the same seed and compile it alike (AdamW, the same learning-rate
schedule, clipping, XLA setting and steps per execution); both read ``genforge.text.data.training_dataset``. GenForge's
side is ``genforge.text.training.fit_generator`` as the train stage calls it, with its step checkpoints (every
``checkpoint_steps``, to a temporary folder), early-stopping state and per-step loss bookkeeping. Each side runs
``--steps`` steps after a 20-step warm-up (tracing and compilation not counted), alternating, ``--rounds`` times
(in ABBA order: bare first in even rounds, GenForge first in odd ones);
the ratio is of each side's best round, as ``timeit`` reports the best of its repeats: this machine's speed drifts
from round to round (one side's rounds varied by up to 1.4x within one run on 2026-11-30), and a slow round can fall
on either side. Beside it, the paired ratio: the median over rounds of GenForge's rate over the bare rate of the same
round, which cancels a drift slower than one round pair; and the window ratio: each side's fastest run of 50
consecutive steps in any round, GenForge's over bare Keras's (the best-of reasoning at a finer grain).

MFU (Chowdhery et al. (2022), *PaLM*, appendix B): training FLOPs per token ``6 N + 12 L T d`` (``N`` the non-embedding
parameters, ``L`` layers, ``T`` block size, ``d`` width) times tokens/s, over this CPU's fp32 peak as
:func:`peak.fp32_peak` measures it (FMA chains on every core; the nominal clock of ``/proc/cpuinfo`` understates it
on a virtual machine); the rate of a large float32 matmul is printed beside it as the attainable peak.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import keras
import numpy as np
import tensorflow as tf
from common import profile_train, shakespeare
from peak import fp32_peak, nominal_peak

from genforge.core.trainer import learning_rate, set_threads
from genforge.text.data import steps_per_epoch, training_dataset
from genforge.text.models import compile_generator
from genforge.text.training import build_generator, fit_generator

WINDOW = 50  # steps in the window of Timer.best_window


class Timer(keras.callbacks.Callback):
    """Times the steps after the first ``warmup`` (Keras reports every ``steps_per_execution`` steps)."""

    def __init__(self, warmup: int):
        super().__init__()
        self.warmup, self.marks = warmup, []

    def on_train_batch_end(self, batch, logs=None):
        self.marks.append((batch + 1, time.perf_counter()))

    def rate(self, tokens_per_step: int) -> float:
        start = next(m for m in self.marks if m[0] >= self.warmup)
        return (self.marks[-1][0] - start[0]) * tokens_per_step / (self.marks[-1][1] - start[1])

    def best_window(self, tokens_per_step: int, window: int = WINDOW) -> float:
        """The rate of the fastest run of ``window`` consecutive steps after the warm-up (``timeit``'s reasoning at a
        finer grain: the machine's noise only ever adds time)."""
        marks = [m for m in self.marks if m[0] >= self.warmup]
        best = 0.0
        for i, (step, t) in enumerate(marks):
            end = next((m for m in marks[i + 1:] if m[0] - step >= window), None)
            if end is None:
                break
            best = max(best, (end[0] - step) * tokens_per_step / (end[1] - t))
        return best


def bare_fit(cfg, train, steps: int) -> tuple[float, float]:
    keras.utils.set_random_seed(0)
    model = build_generator(cfg, 65)
    compile_generator(model, learning_rate=learning_rate(cfg, steps), clipnorm=cfg.clipnorm,
                      weight_decay=cfg.weight_decay, beta_2=cfg.beta_2, jit_compile=cfg.xla,
                      steps_per_execution=cfg.steps_per_execution)
    ds = training_dataset(train, seq_len=cfg.seq_len, batch_size=cfg.batch_size, steps=steps, epochs=1, seed=0,
                          random_offsets=True)
    timer = Timer(20)
    model.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return timer.rate(cfg.batch_size * cfg.seq_len), timer.best_window(cfg.batch_size * cfg.seq_len)


def genforge_fit(cfg, train, val, steps: int) -> tuple[float, float]:
    cfg = cfg.model_copy(update={"epochs": 1, "steps_per_epoch": steps, "val_batches": 1})
    timer = Timer(20)
    with tempfile.TemporaryDirectory() as tmp:
        fit_generator(cfg, 65, train, val, seed=0, callbacks=[timer], checkpoint=os.path.join(tmp, "ckpt"))
    return timer.rate(cfg.batch_size * cfg.seq_len), timer.best_window(cfg.batch_size * cfg.seq_len)


def flops_per_token(cfg) -> float:
    keras.utils.set_random_seed(0)
    model = build_generator(cfg, 65)
    embeddings = sum(int(np.prod(w.shape)) for layer in model.layers if layer.name in ("wte", "wpe", "embedding")
                     for w in layer.weights)
    n = model.count_params() - embeddings
    layers, width = (cfg.gpt.n_layer, cfg.gpt.n_embd) if cfg.arch == "gpt" else (0, 0)
    return 6 * n + 12 * layers * cfg.seq_len * width


def cpu_peak() -> tuple[float, float]:
    """This CPU's fp32 peak (:func:`peak.fp32_peak`) and the rate of TensorFlow's 2048^2 float32 matmul, in FLOP/s."""
    theoretical = fp32_peak()
    a = tf.random.normal([2048, 2048])
    tf.matmul(a, a).numpy()
    start = time.perf_counter()
    for _ in range(10):
        c = tf.matmul(a, a)
    c.numpy()
    measured = 10 * 2 * 2048 ** 3 / (time.perf_counter() - start)
    return theoretical, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["cpu", "cpu-gpt"])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--control", action="store_true",
                        help="A/A control: bare keras on both sides, to show the ratio's spread on this machine")
    args = parser.parse_args()
    theoretical, measured = cpu_peak()
    print(f"fp32 peak: {theoretical / 1e9:.0f} GFLOP/s (measured, bench/fma_peak.c; "
          f"{nominal_peak() / 1e9:.0f} at the nominal clock); 2048^2 matmul: {measured / 1e9:.0f} GFLOP/s")
    print("profile | bare keras tokens/s | genforge tokens/s | ratio | paired ratio | window ratio | FLOPs/token "
          "| genforge MFU (peak / matmul)")
    spawn = multiprocessing.get_context("spawn")
    for name in args.profiles:  # each in a fresh process, so that the profile's thread pools apply to both sides
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            print(pool.submit(run_profile, name, args.steps, args.rounds, theoretical, measured,
                                    args.control).result(), flush=True)


def run_profile(name: str, steps: int, rounds: int, theoretical: float, measured: float, control: bool = False) -> str:
    """Both sides of profile ``name``, alternating ``rounds`` times: its printed row (with ``control``, the
    "genforge" side is a second bare fit)."""
    train, val, _ = shakespeare()
    cfg = profile_train(name, checkpoint_steps=100, sample_tokens=0)
    set_threads(cfg)  # before either side starts TensorFlow
    spe = cfg.steps_per_execution
    steps = steps_per_epoch(len(train), cfg.seq_len, cfg.batch_size, -(-(steps + 20) // spe) * spe)
    bare, ours = [], []
    for i in range(rounds):  # ABBA order: neither side always runs first in its pair
        for side in ("bare", "ours") if i % 2 == 0 else ("ours", "bare"):
            if side == "bare":
                bare.append(bare_fit(cfg, train, steps))
            else:
                ours.append(bare_fit(cfg, train, steps) if control else genforge_fit(cfg, train, val, steps))
    (bare, bare_windows), (ours, our_windows) = zip(*bare, strict=True), zip(*ours, strict=True)
    b, g = max(bare), max(ours)
    paired = float(np.median(np.divide(ours, bare)))
    window = max(our_windows) / max(bare_windows)
    f = flops_per_token(cfg)
    return (f"{name:7} | {b:19.0f} | {g:17.0f} | {g / b:5.3f} | {paired:12.3f} | {window:13.3f} | "
            f"{f / 1e6:9.2f} M | {100 * g * f / theoretical:.1f} % / {100 * g * f / measured:.1f} %  "
            f"(rounds: bare {[round(r) for r in bare]}, genforge {[round(r) for r in ours]}; best {WINDOW}-step "
            f"windows: bare {[round(r) for r in bare_windows]}, genforge {[round(r) for r in our_windows]})")


if __name__ == "__main__":
    main()
