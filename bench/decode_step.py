"""Where the cached GPT's decoding step spends its time: milliseconds per step of the whole step, of the step without
its MLPs, and of the MLPs alone, for the profile's model at one batch size.

    python bench/decode_step.py [--profile cpu-gpt] [--batch 32] [--steps 100] [--rounds 5]

Each variant is one XLA-compiled ``while`` loop of ``--steps`` steps over every block (``TransformerBlock.step``; the
step "without MLPs" is the same call with each block's MLP sub-layer replaced by the identity), on random key/value
caches with every row at position ``3/4`` of the block (so three quarters of the cache is attended to, as in a
decoding run between two refills). The variants are timed in turn, ``--rounds`` times, in one process; each figure
is the best round. Prints figures; no pass or fail.

On one machine (2 vCPUs at a nominal 2,445 MHz, 2026-11-30; training ran 2.6-2.9x slower there than on the next)
the whole step mostly took 0.8-1.7 ms more than its two parts together, at batch 16, 32 and 64. In a profile
(``XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true`` under ``tf.profiler``) the whole step's ops ran on a TensorFlow
Eigen pool thread and each matmul was 3.2-3.7x slower than in a part, which ran on the calling thread. On the next
machine (2 vCPUs of an AMD EPYC at a nominal 2,596 MHz, a later session the same day) the same code at batch 32 took
0.83 ms against 0.37 + 0.38 (+0.08 ms), three runs alike: the extra cost came with that machine, not with the step.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from common import profile_train

from genforge.text.training import build_generator


def loop(blocks, steps: int, part: str):
    """An XLA-compiled function ``(x, keys, values, positions) -> x`` running ``steps`` decoding steps of ``part``."""

    def one(block, x, k, v, positions):
        if part == "mlp":
            return block._mlp(x), k, v
        if part == "no-mlp":
            mlp, block._mlp = block._mlp, lambda y, training=False: y  # traced once: the graph keeps no reference
            try:
                return block.step(x, k, v, positions)
            finally:
                block._mlp = mlp
        return block.step(x, k, v, positions)

    @tf.function(jit_compile=True)
    def run(x, keys, values, positions):
        def body(i, acc, keys, values):
            y, new_keys, new_values = x + 1e-30 * acc, [], []  # each step depends on the last: nothing is hoisted
            for block, k, v in zip(blocks, keys, values, strict=True):
                y, k, v = one(block, y, k, v, positions)
                new_keys.append(k)
                new_values.append(v)
            return i + 1, y, new_keys, new_values

        return tf.while_loop(lambda i, *_: i < steps, body, (tf.constant(0), tf.zeros_like(x), keys, values))[1]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu-gpt")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cfg = profile_train(args.profile)
    keras.utils.set_random_seed(0)
    model = build_generator(cfg, 65)
    blocks = [layer for layer in model.layers if layer.name.startswith("block_")]
    if not blocks:
        raise SystemExit(f"profile {args.profile} is not a GPT (train.arch: {cfg.arch})")
    b, s, h, d = args.batch, cfg.seq_len, blocks[0].n_head, blocks[0].head_dim
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(b, h * d)).astype("float32"))
    keys, values = ([tf.constant(rng.normal(size=(b, h, s, d)).astype("float32")) for _ in blocks] for _ in range(2))
    positions = tf.constant(np.full(b, 3 * s // 4, np.int32))
    parts = {part: loop(blocks, args.steps, part) for part in ("whole", "no-mlp", "mlp")}
    for run in parts.values():
        run(x, keys, values, positions).numpy()  # trace and compile
    best = dict.fromkeys(parts, float("inf"))
    for _ in range(args.rounds):
        for part, run in parts.items():
            start = time.perf_counter()
            run(x, keys, values, positions).numpy()
            best[part] = min(best[part], (time.perf_counter() - start) / args.steps * 1e3)
    print(f"{args.profile}, batch {b}, {len(blocks)} blocks, cache {s} slots: ms per step, best of {args.rounds}")
    for part, ms in best.items():
        print(f"{part:7} {ms:7.3f}")
    print(f"whole - (no-mlp + mlp) = {best['whole'] - best['no-mlp'] - best['mlp']:+.3f} ms")


if __name__ == "__main__":
    main()
