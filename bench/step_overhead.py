"""Where a training step's time goes: the bare Keras step against the per-step work of each callback, for GenForge's
train-stage engine (``genforge.text.training.fit_generator``) and a bare ``keras.Model.fit`` of the same model.

    python bench/step_overhead.py [--profiles cpu-quick cpu-gpt] [--steps 300] [--checkpoint-steps 100]

Keras's ``CallbackList`` turns each step's logs into Python floats (``pythonify_logs``: one wait for the step's
result) and then calls every callback's ``on_train_batch_end`` in turn; here that dispatch is timed call by call
(``time.perf_counter`` around each), and so are the epoch-end hooks and each checkpoint save. The rest of the wall
time between the first and last timed step is the step itself (the compiled train function and the input
pipeline). Figures are milliseconds per step (or per save), after 20 steps of warm-up; one process per profile with
the profile's thread pools.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

from common import profile_train, shakespeare

WARMUP = 20


def instrument(times: dict[str, list[float]]) -> None:
    """Time ``CallbackList``'s per-step dispatch by part (pythonify_logs, each callback by class name) and every
    ``TrainingState.save``, appending seconds to ``times[part]``."""
    from keras.src.callbacks import callback_list
    from keras.src.utils import python_utils

    from genforge.core.checkpoint import TrainingState

    def on_train_batch_end(self, batch, logs=None):
        start = time.perf_counter()
        logs = python_utils.pythonify_logs(logs)
        times["pythonify_logs (waits for the step)"].append(time.perf_counter() - start)
        for callback in self.callbacks:
            start = time.perf_counter()
            callback.on_train_batch_end(batch, logs=logs)
            times[f"{type(callback).__name__}.on_train_batch_end"].append(time.perf_counter() - start)

    callback_list.CallbackList._on_train_batch_end = on_train_batch_end
    save = TrainingState.save

    def timed_save(self):
        start = time.perf_counter()
        save(self)
        times["TrainingState.save (checkpoint)"].append(time.perf_counter() - start)

    TrainingState.save = timed_save


def breakdown(label: str, marks: list[float], times: dict[str, list[float]], spe: int,
              checkpoint_steps: int) -> list[str]:
    """The printed rows of one fit: wall time per step after the warm-up, and each timed part per step."""
    first = WARMUP // spe  # reports after the warm-up
    timed = len(marks) - 1 - first
    wall = (marks[-1] - marks[first]) / (timed * spe)
    per_step = {part: sum(v[first + 1:]) / (timed * spe) for part, v in times.items() if "save" not in part}
    saves = times.pop("TrainingState.save (checkpoint)", [])
    if saves:  # TrainingState.on_train_batch_end includes the step saves (every checkpoint_steps): shown apart
        in_steps = saves[:-1]  # the last save is the epoch end's, after the timed steps
        per_step["TrainingState.on_train_batch_end"] -= sum(in_steps) / (timed * spe)
        per_step["TrainingState.save (checkpoint), per step"] = sum(in_steps) / (timed * spe)
    hooks = sum(v for part, v in per_step.items() if "pythonify" not in part)
    rows = [f"{label}: {1000 * wall:.3f} ms/step wall, of which callbacks (saves included) "
            f"{1000 * hooks:.3f} ms ({100 * hooks / wall:.2f} %)"]
    rows += [f"    {part:52} {1000 * seconds:8.3f} ms/step" for part, seconds in sorted(per_step.items())]
    if saves:
        rows.append(f"    {'one save':52} {1000 * sum(saves) / len(saves):8.3f} ms ({len(saves)} saves, "
                    f"every {checkpoint_steps} steps and at the epoch's end)")
    return rows


def measure(name: str, steps: int, checkpoint_steps: int) -> str:
    """Both sides of profile ``name``, one fit each of ``steps`` steps; the printed breakdown."""
    import keras

    from genforge.core.trainer import learning_rate, set_threads
    from genforge.text.data import training_dataset
    from genforge.text.models import compile_generator
    from genforge.text.training import build_generator, fit_generator

    train, val, _ = shakespeare()
    cfg = profile_train(name, checkpoint_steps=checkpoint_steps, sample_tokens=0)
    set_threads(cfg)
    spe = cfg.steps_per_execution
    steps = -(-(steps + WARMUP) // spe) * spe
    cfg = cfg.model_copy(update={"epochs": 1, "steps_per_epoch": steps, "val_batches": 1})
    rows = []
    for side in ("bare keras", "genforge"):
        times: dict[str, list[float]] = defaultdict(list)
        marks: list[float] = []

        class Mark(keras.callbacks.Callback):
            def __init__(self, marks: list[float]):
                super().__init__()
                self.marks = marks

            def on_train_batch_end(self, batch, logs=None):
                self.marks.append(time.perf_counter())

        instrument(times)
        if side == "bare keras":
            keras.utils.set_random_seed(0)
            model = build_generator(cfg, 65)
            compile_generator(model, learning_rate=learning_rate(cfg, steps), clipnorm=cfg.clipnorm,
                              weight_decay=cfg.weight_decay, beta_2=cfg.beta_2, jit_compile=cfg.xla,
                              steps_per_execution=spe)
            ds = training_dataset(train, seq_len=cfg.seq_len, batch_size=cfg.batch_size, steps=steps, epochs=1,
                                  seed=0, random_offsets=True)
            model.fit(ds, epochs=1, steps_per_epoch=steps, callbacks=[Mark(marks)], verbose=0)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                fit_generator(cfg, 65, train, val, seed=0, callbacks=[Mark(marks)], checkpoint=f"{tmp}/ckpt")
        rows += breakdown(f"{name} | {side}", marks, times, spe, checkpoint_steps)
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["cpu-quick", "cpu-gpt"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--checkpoint-steps", type=int, default=100)
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    for name in args.profiles:
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            print(pool.submit(measure, name, args.steps, args.checkpoint_steps).result(), flush=True)


if __name__ == "__main__":
    main()
