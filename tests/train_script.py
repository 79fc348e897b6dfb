"""A training run in its own process, for the resume and multi-worker tests: ``python tests/train_script.py
CONFIG.json``. CONFIG holds ``train`` (a train section), ``seed``, ``checkpoint`` (a folder or null) and ``kill_at``
(a global step at which the process SIGKILLs itself, or null). Prints the run's history and final val loss as JSON."""

import json
import os
import signal
import sys

import keras
import numpy as np

from genforge.text.config import Train
from genforge.text.data import chop
from genforge.text.training import fit_generator


def corpus() -> tuple[np.ndarray, np.ndarray]:
    """A learnable token stream over 12 ids: a repeating phrase with 10 % of its tokens replaced at random."""
    rng = np.random.default_rng(0)
    tokens = np.tile(np.array([1, 2, 3, 4, 5, 3, 6, 7, 2, 8, 9, 10, 11, 4, 0], np.int32), 400)
    noise = rng.random(tokens.size) < 0.1
    tokens[noise] = rng.integers(0, 12, noise.sum())
    return tokens[:5000], tokens[5000:]


class KillAt(keras.callbacks.Callback):
    def __init__(self, step: int):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    train, val = corpus()
    callbacks = [KillAt(config["kill_at"])] if config.get("kill_at") else []
    model, state, _ = fit_generator(Train(**config["train"]), 12, train, val, seed=config["seed"],
                                    callbacks=callbacks, checkpoint=config.get("checkpoint"))
    x, y = chop(val, 10)
    val_loss = float(model.evaluate(x, y, batch_size=len(x), verbose=0)[0])
    print(json.dumps({"history": state.history, "val_loss": val_loss, "steps": state.step,
                      "resumed_from": state.resumed_from}))


if __name__ == "__main__":
    main()
