"""Quality per time: the val loss each architecture's CPU profile reaches in a wall-time budget, and when it first
reaches nanoGPT's 1.898.

    python bench/quality.py [--profiles cpu cpu-quick cpu-gpt cpu-mlp] [--budgets 30 70 300] [--check-every 5]

For each profile and budget, a fresh model (seed 1337) is trained by GenForge's engine
(``genforge.text.training.fit_generator``, the train stage's) on the first 90 % of tiny Shakespeare, with its cosine
schedule stretched over the steps the budget allows at the rate measured in a short calibration run (in the timed
run's process, with the profile's thread pools). The clock
starts when ``fit()`` starts (graph tracing and XLA compilation included) and stops at the budget. Every
``--check-every`` seconds of training time, until it is reached, the whole val split is scored (the clock is paused
meanwhile) to time the first val loss <= 1.898. Each timed run has a process of its own. Prints one row per run; no
pass or fail.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import keras
from common import profile_train, shakespeare, val_loss

from genforge.text.training import fit_generator

TARGET = 1.898


class Clock(keras.callbacks.Callback):
    """Stops training at ``budget`` seconds of training time; scores val every ``every`` seconds until TARGET."""

    def __init__(self, budget: float, every: float, val, seq_len: int):
        super().__init__()
        self.budget, self.every, self.val, self.seq_len = budget, every, val, seq_len
        self.paused, self.reached, self.checks = 0.0, None, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.next_check = self.every

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def on_train_batch_end(self, batch, logs=None):
        t = self.elapsed()
        if self.reached is None and t >= self.next_check:
            pause = time.perf_counter()
            loss = val_loss(self.model, self.val, self.seq_len)
            self.paused += time.perf_counter() - pause
            self.checks.append((round(t, 1), round(loss, 4)))
            if loss <= TARGET:
                self.reached = t
            self.next_check = t + self.every
        if t >= self.budget:
            self.model.stop_training = True


def steps_per_second(cfg, train, val) -> float:
    """Training steps per second of ``cfg`` (a ``Train``) after tracing and compilation, from a 60-step
    calibration run."""
    cfg = cfg.model_copy(update=dict(epochs=1, steps_per_epoch=60, val_batches=1, checkpoint_steps=0,
                                     sample_tokens=0))
    marks = []  # (steps done, time) per Keras report: every step, or every steps_per_execution steps

    class Mark(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            marks.append((batch + 1, time.perf_counter()))

    fit_generator(cfg, 65, train, val, seed=0, callbacks=[Mark()])
    start = next(m for m in marks if m[0] >= 20)  # after tracing and compilation
    return (marks[-1][0] - start[0]) / (marks[-1][1] - start[1])


def run_budget(name: str, budget: float, check_every: float) -> str:
    """One timed run of profile ``name``, stopped at ``budget`` seconds, its schedule stretched over the steps the
    calibration (:func:`steps_per_second`, in the same process and so with the same thread pools) expects: its
    printed row."""
    train, val, chars = shakespeare()
    rate = steps_per_second(profile_train(name), train, val)
    spe = profile_train(name).steps_per_execution
    steps = max(int(budget * rate) // spe, 1) * spe
    cfg = profile_train(name, epochs=1, steps_per_epoch=steps, val_batches=1, checkpoint_steps=0, sample_tokens=0)
    clock = Clock(budget, check_every, val, cfg.seq_len)
    _, state, _ = fit_generator(cfg, len(chars), train, val, seed=1337, callbacks=[clock])
    seconds = clock.elapsed()
    loss = val_loss(state.model, val, cfg.seq_len)
    if clock.reached is None and loss <= TARGET:
        clock.reached = seconds
    tokens = state.step * cfg.batch_size * cfg.seq_len
    reached = "-" if clock.reached is None else f"{clock.reached:.1f}"
    return (f"{name:8} | {budget:8.0f} | {state.step:5} | {tokens / seconds:8.0f} | {loss:15.4f} | "
            f"{reached:>19} | {clock.checks}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["cpu", "cpu-quick", "cpu-gpt", "cpu-mlp"])
    parser.add_argument("--budgets", nargs="+", type=float, default=[30, 70, 300])
    parser.add_argument("--check-every", type=float, default=5.0)
    args = parser.parse_args()
    train, val, chars = shakespeare()
    print(f"tiny Shakespeare: {len(train):,} train and {len(val):,} val characters, vocabulary {len(chars)}")
    print("profile  | budget s | steps | tokens/s | val loss (nats) | first <= 1.898 at s | checks (s, loss)")
    spawn = multiprocessing.get_context("spawn")
    for name in args.profiles:
        for budget in args.budgets:
            # each timed run in a fresh process: a profile's thread pools (train.intra_op_threads, ...) can only be
            # sized there, and a third fit in one process once waited a minute before its first step (the main
            # thread idle in tracing), which a fresh process never showed
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                print(pool.submit(run_budget, name, budget, args.check_every).result(), flush=True)


if __name__ == "__main__":
    main()
