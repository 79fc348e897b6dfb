"""Choose a CPU profile for a wall-time budget without looking at the val split.

    python bench/tune_budget.py --budget 70 --set "units=128 batch_size=16" "units=256 learning_rate=0.005"

Trains on the first 90 % of tiny Shakespeare's train split and scores the last 10 % of it (the *tuning* slice, about
100,000 characters the run never trains on); nanoGPT's val split is not read. Each ``--set`` is one candidate: a
space-separated list of ``key=value`` overrides of the profile's train section (values parsed as YAML; nested keys as
``gpt.n_layer=2``). For each candidate it prints the tuning-slice loss (nats) at the budget and when it first fell to
1.898, with the clock of :mod:`quality` (tracing and compilation included). Prints figures; no pass or fail.

With ``--steps N`` each candidate trains exactly ``N`` steps instead (its schedule over those steps, no clock): for
candidates that run at the same speed (an optimizer setting), this compares them without the machine's drift in
steps per second, which moves a budget's loss more than most such settings do. ``--seeds`` repeats each candidate
with other seeds (weight init and window draw).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import yaml
from common import profile_train, shakespeare, val_loss
from quality import TARGET, Clock, steps_per_second

from genforge.text.training import fit_generator


def overrides(spec: str) -> dict:
    """``"a=1 gpt.n_layer=2"`` -> ``{"a": 1, "gpt": {"n_layer": 2}}``."""
    out: dict = {}
    for item in spec.split():
        key, _, value = item.partition("=")
        *parents, leaf = key.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return out


def tuning_split():
    """``(fit, tune, chars)``: the first 90 % of the train split, its last 10 % and the vocabulary. The val split is
    dropped here."""
    train, _, chars = shakespeare()
    cut = int(0.9 * len(train))
    return train[:cut], train[cut:], chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--budget", type=float, default=70)
    parser.add_argument("--check-every", type=float, default=5.0)
    parser.add_argument("--set", dest="candidates", nargs="+", default=[""])
    parser.add_argument("--steps", type=int, default=0, help="train this many steps instead of the budget")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337])
    args = parser.parse_args()
    fit_part, tune, _ = tuning_split()
    length = f"{args.steps} steps" if args.steps else f"budget {args.budget:.0f} s"
    print(f"train on {len(fit_part):,} characters, tune on {len(tune):,}; profile {args.profile}, {length}")
    print("candidate | seed | steps | tuning loss | first <= 1.898 at s | checks (s, loss)")
    spawn = multiprocessing.get_context("spawn")
    for spec in args.candidates:  # each in a fresh process, as bench/quality.py's runs (its thread pools, no delay)
        for seed in args.seeds:
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                row = pool.submit(run_candidate, args.profile, spec, args.budget, args.check_every, args.steps, seed)
                print(row.result(), flush=True)


def run_candidate(profile: str, spec: str, budget: float, check_every: float, steps: int = 0,
                  seed: int = 1337) -> str:
    """Calibrate, then train candidate ``spec`` of ``profile`` for ``budget`` seconds (or exactly ``steps`` steps,
    uncalibrated, when nonzero) from ``seed``: its printed row."""
    fit_part, tune, chars = tuning_split()
    candidate = profile_train(profile, overrides(spec))
    if steps:
        budget = math.inf
    else:
        rate = steps_per_second(candidate, fit_part, tune)
        spe = candidate.steps_per_execution
        steps = max(int(budget * rate) // spe, 1) * spe
    cfg = profile_train(profile, overrides(spec), epochs=1, steps_per_epoch=steps, val_batches=1,
                        checkpoint_steps=0, sample_tokens=0)
    clock = Clock(budget, check_every, tune, cfg.seq_len)
    _, state, _ = fit_generator(cfg, len(chars), fit_part, tune, seed=seed, callbacks=[clock])
    loss = val_loss(state.model, tune, cfg.seq_len)
    if clock.reached is None and loss <= TARGET:
        clock.reached = clock.elapsed()
    reached = "-" if clock.reached is None else f"{clock.reached:.1f}"
    return f"{spec or '(profile)'} | {seed} | {state.step} | {loss:.4f} | {reached} | {clock.checks}"


if __name__ == "__main__":
    main()
