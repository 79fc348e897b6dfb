"""An exponential moving average (EMA) of the weights, kept by Keras optimizers built with ``use_ema=True``
(``keras.optimizers.Optimizer``: after each step ``average = m * average + (1 - m) * weight`` with
``m = ema_momentum``, and ``m = 0`` at the optimizer's first step). Averaged weights generalize better than the last
iterate (Polyak & Juditsky (1992), *Acceleration of Stochastic Approximation by Averaging*); GANs (Yazici et al.
(2019), *The Unusual Effectiveness of Averaging in GAN Training*) and diffusion models (Ho et al. (2020)) sample
from them.

The averages are optimizer variables, so the checkpoints of :mod:`genforge.core.checkpoint` hold them. The trainer
(:func:`genforge.core.trainer.fit`) validates with the averaged weights (:func:`swap_callback`), keeps the best
epoch's averaged weights, and leaves the model with averaged weights. Any optimizer a model owns may average (a GAN
averages its generator's only).
"""

from __future__ import annotations

import numpy as np

from genforge.core.checkpoint import optimizers


def averaging_optimizers(model) -> list:
    """The optimizers of ``model`` (:func:`genforge.core.checkpoint.optimizers`) that keep an EMA of their
    variables (``use_ema=True``), built."""
    return [o for o in optimizers(model) if getattr(o, "use_ema", False) and o.built]


def _pairs(model) -> list[tuple]:
    """``(variable, its average)`` for every variable an averaging optimizer of ``model`` trains."""
    return [(v, a) for o in averaging_optimizers(model)
            for v, a in zip(o._trainable_variables, o._model_variables_moving_average, strict=True)
            if a is not None]


def averaged_weights(model) -> list[np.ndarray]:
    """``model.get_weights()`` with each averaged variable's value replaced by its average: the same arrays in the
    same order (``model.weights``), so ``model.set_weights`` takes them. Without averaging optimizers, exactly
    ``model.get_weights()``."""
    average = {id(v): a for v, a in _pairs(model)}
    return [np.array(average[id(w)] if id(w) in average else w) for w in model.weights]


def swap_averages(model) -> None:
    """Exchange each averaged variable's value with its average (twice restores both)."""
    for variable, average in _pairs(model):
        value = np.array(variable)
        variable.assign(average)
        average.assign(value)


def swap_callback():
    """A Keras callback that evaluates with the averaged weights: it swaps them in before each validation and back
    after it (as Keras's ``SwapEMAWeights`` does for ``model.optimizer`` alone; this covers every optimizer the model
    owns)."""
    import keras

    class SwapAverages(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            swap_averages(self.model)

        def on_test_end(self, logs=None):
            swap_averages(self.model)

    return SwapAverages()
