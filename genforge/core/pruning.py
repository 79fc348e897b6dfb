"""Magnitude pruning of Keras 3 weights: a polynomial sparsity schedule and a callback that keeps the masks.

tensorflow-model-optimization does not accept Keras 3 models, so the masks live in a callback: after every training
step the pruned entries are set back to zero, and every ``frequency`` steps the mask is recomputed from the weights'
magnitudes at the schedule's current sparsity (Zhu & Gupta (2018), *To prune, or not to prune: exploring the efficacy
of pruning for model compression*, sec. 3).
"""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError


def polynomial_sparsity(step: int, *, target: float, schedule_steps: int, power: float = 3.0,
                        initial: float = 0.0) -> float:
    """The sparsity at ``step``: ``s_t = s_f + (s_i - s_f) * (1 - t / n) ** power`` for ``0 <= t <= n``, then
    ``s_f`` (Zhu & Gupta, 2018, eq. 1, with ``t0 = 0`` and ``n * dt = schedule_steps``; tfmot's ``PolynomialDecay``).

    Args:
        step: 0-based training step, >= 0.
        target: final sparsity ``s_f`` in ``[0, 1)``.
        schedule_steps: ``n``, steps until ``target`` is reached, >= 1.
        power: the exponent (3 in the paper).
        initial: ``s_i``, the sparsity at step 0.

    Returns:
        The share of weights to zero, a float in ``[initial, target]``.
    """
    t = min(max(step, 0), schedule_steps) / schedule_steps
    return target + (initial - target) * (1.0 - t) ** power


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """The mask that zeroes the ``round(sparsity * size)`` entries of smallest magnitude.

    Ties are broken by position (a stable sort), so exactly that many entries are masked whatever the values.

    Args:
        weights: float array of any shape.
        sparsity: share of entries to mask, in ``[0, 1)``.

    Returns:
        float32 array shaped like ``weights`` holding 0 (pruned) and 1 (kept).

    Raises:
        GenForgeError: ``sparsity`` is outside ``[0, 1)``.
    """
    if not 0 <= sparsity < 1:
        raise GenForgeError(f"sparsity must be in [0, 1) (got {sparsity})")
    flat = np.abs(np.asarray(weights, dtype=np.float32)).reshape(-1)
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, np.float32)
    mask[np.argsort(flat, kind="stable")[:k]] = 0.0
    return mask.reshape(np.shape(weights))


def prunable_weights(model) -> list:
    """The weights magnitude pruning applies to: every kernel and recurrent kernel (not biases, not embeddings).

    Returns:
        ``keras.Variable`` objects, in layer order, each with ``.path`` naming it (``"lstm_0/lstm_cell/kernel"``).
    """
    return [w for layer in model.layers for w in layer.trainable_weights
            if w.path.rsplit("/", 1)[-1] in ("kernel", "recurrent_kernel")]


def sparsity_report(model) -> dict[str, float]:
    """The share of exact zeros of each prunable weight, keyed by its path, plus ``"total"`` over all of them."""
    report, zeros, size = {}, 0, 0
    for w in prunable_weights(model):
        value = np.asarray(w.numpy())
        report[w.path] = float((value == 0).mean())
        zeros, size = zeros + int((value == 0).sum()), size + value.size
    report["total"] = zeros / size if size else 0.0
    return report


def pruning_callback(*, target: float, schedule_steps: int, frequency: int, power: float = 3.0):
    """A Keras callback that prunes every :func:`prunable_weights` of the model it trains to ``target`` sparsity.

    At steps ``0, frequency, 2 * frequency, ...`` (and at ``schedule_steps``) each mask is recomputed with
    :func:`magnitude_mask` at :func:`polynomial_sparsity` of that step; after every step the masked entries are set
    to zero again, so the optimizer cannot revive them. At the end of training the weights hold exactly the final
    mask's zeros. Masks of weights below the current sparsity level only grow: a magnitude mask is recomputed from
    weights whose pruned entries are already 0.

    Returns:
        A ``keras.callbacks.Callback``; its ``sparsity`` attribute is the level of the masks in use.
    """
    import keras

    class MagnitudePruning(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = 0
            self.sparsity = 0.0
            self._masks: list[np.ndarray] = []

        def _update_masks(self) -> None:
            self.sparsity = polynomial_sparsity(self.step, target=target, schedule_steps=schedule_steps, power=power)
            self._masks = [magnitude_mask(w.numpy(), self.sparsity) for w in prunable_weights(self.model)]

        def _apply(self) -> None:
            for w, mask in zip(prunable_weights(self.model), self._masks, strict=True):
                w.assign(w.numpy() * mask)

        def on_train_begin(self, logs=None):
            self._update_masks()
            self._apply()

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step <= schedule_steps and (self.step % frequency == 0 or self.step == schedule_steps):
                self._update_masks()
            self._apply()

    return MagnitudePruning()
