"""The cost of reading training batches from a split's shards (genforge.image.shards, ``os.pread`` per image) rather
than from an array in memory: the input pipeline alone, then the VAE's training steps per second, in one process.

    python bench/image_reader.py [--generator digits-vae] [--batches 1000] [--steps 300] [--rounds 3]

Reads the generator's preprocessed train split (run ``dvc repro preprocess@digits-vae`` first). Part 1 iterates
``--batches`` batches of ``genforge.image.training.training_dataset`` over each source, twice. Part 2 trains the
generator's model by ``fit_generator`` for ``--steps`` steps after a warm-up from each source, alternating ABBA over
``--rounds`` rounds, and prints each side's best round (this machine's speed drifts from round to round).
"""

from __future__ import annotations

import argparse
import time

from common import REPO
from image_throughput import WARMUP, Timer

from genforge.core.config import load_params
from genforge.image.shards import load_split, open_split
from genforge.image.training import fit_generator, training_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", default="digits-vae")
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gen = load_params(REPO / "params.yaml").generators[args.generator]
    processed = REPO / "data/processed" / args.generator
    sources = {"shards": open_split(processed / "train"), "array": load_split(processed / "train")}
    for name, (images, labels) in sources.items():
        for _ in range(2):
            start = time.perf_counter()
            for _ in training_dataset(images, labels, (0.0, 1.0), batch_size=gen.train.batch_size,
                                      steps=args.batches, epochs=1, seed=0):
                pass
            print(f"pipeline from {name}: {1000 * (time.perf_counter() - start) / args.batches:.2f} ms per batch "
                  f"of {gen.train.batch_size}", flush=True)
    cfg = gen.train.model_copy(update={"epochs": 1, "steps_per_epoch": WARMUP + args.steps, "checkpoint_steps": 0})
    val = load_split(processed / "val")
    rates: dict[str, list[float]] = {"shards": [], "array": []}
    for r in range(args.rounds):
        for side in ("array", "shards") if r % 2 == 0 else ("shards", "array"):
            timer = Timer()
            fit_generator(cfg, {"train": sources[side], "val": val}, 10, seed=0, callbacks=[timer])
            rates[side].append(timer.rate())
            print(f"round {r + 1} {side}: {rates[side][-1]:.2f} steps/s", flush=True)
    print(f"{args.generator} ({cfg.arch}): from shards {max(rates['shards']):.2f} steps/s, from an array "
          f"{max(rates['array']):.2f}; ratio of best rounds {max(rates['shards']) / max(rates['array']):.3f}")


if __name__ == "__main__":
    main()
