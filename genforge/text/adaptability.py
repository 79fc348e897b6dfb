"""Adaptability: how fast a trained generator learns a domain it never saw, against a fresh model given the same
data and steps."""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError
from genforge.text.data import training_dataset
from genforge.text.evaluation import score
from genforge.text.models import compile_generator


def adaptability(model, domain: np.ndarray, *, steps: int, seq_len: int, batch_size: int, learning_rate: float,
                 fresh_learning_rate: float, context: int, unit: str, seed: int,
                 holdout_fraction: float) -> dict[str, float]:
    """Cross-entropy on a held-out domain before and after ``steps`` fine-tuning steps, and that of a freshly
    initialised model of the same architecture trained the same ``steps`` on the same windows.

    The domain's token stream is cut once: the first ``1 - holdout_fraction`` is fine-tuning data, the rest is
    scored (with :func:`genforge.text.evaluation.score`), so no scored token is trained on. The trained model is
    fine-tuned with Adam at ``learning_rate`` (a fine-tuning rate, typically the end of the training schedule: at the
    training's peak rate the fine-tune undoes what was learnt), the fresh model trained with Adam at
    ``fresh_learning_rate`` (a from-scratch rate), both on the same windows at random offsets drawn with ``seed``.
    A transfer benefit shows as
    ``loss_after < loss_fresh``; the measure follows the fine-tuning protocol of Yosinski et al. (2014), *How
    transferable are features in deep neural networks?*, sec. 4, with language-model loss in place of accuracy.

    Args:
        model: the trained generator (``int32 (B, T)`` -> logits ``(B, T, V)``); it is not modified.
        domain: 1-D int token ids of the domain, encoded with the model's tokenizer.
        steps: fine-tuning steps (batches), ``>= 1``.
        learning_rate: Adam's learning rate for fine-tuning the trained model.
        fresh_learning_rate: Adam's learning rate for training the fresh model.

    Returns:
        ``tokens`` (domain size), ``steps``, ``loss_before``, ``loss_after``, ``loss_fresh`` (nats/token on the scored
        part) and ``gain_over_fresh`` (``loss_fresh - loss_after``; positive when pre-training helps).

    Raises:
        GenForgeError: the domain is too short to give one fine-tuning window and one scored window.
    """
    import keras

    domain = np.asarray(domain, dtype=np.int32)
    cut = int(len(domain) * (1 - holdout_fraction))
    tune, held = domain[:cut], domain[cut:]
    if len(tune) < seq_len + 1 or len(held) < 2:
        raise GenForgeError(f"the adaptability domain has {len(domain)} tokens; it needs at least "
                            f"{int((seq_len + 2) / (1 - holdout_fraction)) + 1} for one fine-tuning window of "
                            f"train.seq_len + 1 tokens and a held-out part: add text or set preprocess.domain: ''")

    def fit(m, rate: float) -> float:
        compile_generator(m, learning_rate=rate)
        ds = training_dataset(tune, seq_len=seq_len, batch_size=batch_size, steps=steps, epochs=1, seed=seed,
                              random_offsets=True)
        m.fit(ds, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)
        return score(m, held, context=context, unit=unit)["cross_entropy"]

    before = score(model, held, context=context, unit=unit)["cross_entropy"]
    tuned = keras.models.clone_model(model)
    tuned.set_weights(model.get_weights())
    after = fit(tuned, learning_rate)
    keras.utils.set_random_seed(seed)
    fresh = fit(keras.models.clone_model(model), fresh_learning_rate)  # clone_model re-initialises every weight
    return {"tokens": len(domain), "steps": steps, "loss_before": before, "loss_after": after,
            "loss_fresh": fresh, "gain_over_fresh": fresh - after}
