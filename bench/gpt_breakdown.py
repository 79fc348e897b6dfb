"""Where the GPT's train step spends the CPU: tokens/s and model FLOP utilization of the cpu-gpt profile's model
for the step's matrix products alone (the same shapes, nothing else), the forward pass alone, forward and backward
with plain SGD, and the full AdamW step, each XLA-compiled.

    python bench/gpt_breakdown.py [--profile cpu-gpt] [--steps 200]

A forward pass costs ``2 N + 4 L T d`` FLOPs per token and a train step ``6 N + 12 L T d`` (Chowdhery et al. (2022),
*PaLM*, appendix B; :mod:`throughput`), so a step that ran at the forward pass's efficiency would take 3x its time.
Random tokens (the speed does not depend on them); the same seed for every model; timed after a warm-up of one
compiled call. Prints figures; no pass or fail.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from common import profile_train
from throughput import cpu_peak, flops_per_token

from genforge.text.training import build_generator


def train_rate(cfg, optimizer, steps: int) -> float:
    """Tokens/s of ``model.fit`` with ``optimizer`` (XLA, ``cfg.steps_per_execution`` steps per call)."""
    keras.utils.set_random_seed(0)
    model = build_generator(cfg, 65)
    model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True,
                  steps_per_execution=cfg.steps_per_execution)
    x = np.random.default_rng(0).integers(0, 65, (64 * cfg.batch_size, cfg.seq_len)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, x)).batch(cfg.batch_size, drop_remainder=True).repeat()
    model.fit(ds, steps_per_epoch=cfg.steps_per_execution, epochs=1, verbose=0)  # trace and compile
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - start)


def forward_rate(cfg, steps: int) -> float:
    """Tokens/s of the XLA-compiled forward pass on one batch."""
    keras.utils.set_random_seed(0)
    model = build_generator(cfg, 65)
    x = tf.constant(np.random.default_rng(0).integers(0, 65, (cfg.batch_size, cfg.seq_len)).astype("int32"))
    forward = tf.function(lambda x: model(x, training=False), jit_compile=True)
    forward(x).numpy()
    start = time.perf_counter()
    for _ in range(steps):
        forward(x).numpy()
    return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - start)


def gemm_shapes(cfg, vocab_size: int = 65) -> list[tuple[int, int, int, int]]:
    """The matrix products of one forward pass as ``(batch, m, k, n)``: per block the fused q/k/v projection,
    the scores ``q k^T`` and ``weights v`` of every head, the attention output projection and the MLP's two layers;
    then the logits head. A train step runs each three times (forward, and the gradients of both operands)."""
    b, t, e, h = cfg.batch_size, cfg.seq_len, cfg.gpt.n_embd, cfg.gpt.n_head
    d = e // h
    block = [(1, b * t, e, 3 * e), (b * h, t, d, t), (b * h, t, t, d), (1, b * t, e, e), (1, b * t, e, 4 * e),
             (1, b * t, 4 * e, e)]
    return block * cfg.gpt.n_layer + [(1, b * t, e, vocab_size)]


def gemm_rate(cfg, steps: int) -> float:
    """Tokens/s of the train step's matrix products alone (:func:`gemm_shapes`, each as ``x @ w``, ``dy @ w^T``
    and ``x^T @ dy``), XLA-compiled as one function: the rate the step would reach if nothing else cost time."""
    rng = np.random.default_rng(0)
    operands = [(tf.constant(rng.standard_normal((g, m, k)), tf.float32),
                 tf.constant(rng.standard_normal((g, k, n)), tf.float32),
                 tf.constant(rng.standard_normal((g, m, n)), tf.float32)) for g, m, k, n in gemm_shapes(cfg)]

    @tf.function(jit_compile=True)
    def products(operands):
        total = 0.0
        for x, w, dy in operands:
            total += tf.reduce_sum(x @ w) + tf.reduce_sum(dy @ tf.transpose(w, (0, 2, 1)))
            total += tf.reduce_sum(tf.transpose(x, (0, 2, 1)) @ dy)
        return total

    products(operands).numpy()
    start = time.perf_counter()
    for _ in range(steps):
        products(operands).numpy()
    return steps * cfg.batch_size * cfg.seq_len / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu-gpt")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    cfg = profile_train(args.profile)
    train_flops = flops_per_token(cfg)
    peak, matmul = cpu_peak()
    print(f"{args.profile}: batch {cfg.batch_size} x {cfg.seq_len}; train step {train_flops / 1e6:.2f} MFLOP/token; "
          f"fp32 peak {peak / 1e9:.0f} GFLOP/s, 2048^2 matmul {matmul / 1e9:.0f} GFLOP/s")
    gemm_flops = sum(6 * g * m * k * n for g, m, k, n in gemm_shapes(cfg)) / (cfg.batch_size * cfg.seq_len)
    print(f"matrix products: {gemm_flops / 1e6:.2f} MFLOP/token ({gemm_flops / train_flops:.1%} of the step's)")
    print("pass | tokens/s | GFLOP/s | MFU of peak | of matmul")
    rows = [("the step's matrix products alone", gemm_rate(cfg, args.steps), gemm_flops),
            ("forward", forward_rate(cfg, args.steps), train_flops / 3),
            ("forward + backward, SGD", train_rate(cfg, keras.optimizers.SGD(1e-3), args.steps), train_flops),
            ("forward + backward, AdamW", train_rate(cfg, keras.optimizers.AdamW(1e-3), args.steps), train_flops)]
    for name, rate, flops in rows:
        achieved = rate * flops
        print(f"{name} | {rate:,.0f} | {achieved / 1e9:.1f} | {achieved / peak:.1%} | {achieved / matmul:.1%}",
              flush=True)


if __name__ == "__main__":
    main()
