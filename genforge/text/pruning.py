"""Pruning a text generator: magnitude pruning (:mod:`genforge.core.pruning`) during a short fine-tune on the
training split's windows."""

from __future__ import annotations

import numpy as np

from genforge.core.pruning import pruning_callback, sparsity_report
from genforge.text.config import Prune, Train


def prune_model(model, cfg: Prune, train_cfg: Train, train_tokens: np.ndarray, *, seed: int):
    """Prune ``model`` in place to ``cfg.sparsity`` while fine-tuning it ``cfg.steps`` steps on ``train_tokens``.

    Windows are drawn like the train stage's (:func:`genforge.text.data.training_dataset` with ``train_cfg.seq_len``,
    ``batch_size`` and ``random_offsets``); the optimizer is :func:`genforge.text.models.compile_generator`'s AdamW with
    ``cfg.learning_rate`` and the train section's clipping and weight decay; :func:`pruning_callback` keeps the masks.

    Args:
        model: a Keras generator (``int32 (B, T)`` to logits ``(B, T, V)``), already trained.
        cfg: the ``optimize.prune`` section.
        train_cfg: the ``train`` section.
        train_tokens: 1-D int token ids of the training split.
        seed: seeds the window draw.

    Returns:
        :func:`sparsity_report` of the pruned model: per prunable weight and ``"total"``.

    Raises:
        GenForgeError: the training split is shorter than one window.
    """
    import sys

    from genforge.text.data import check_length, training_dataset
    from genforge.text.models import compile_generator

    check_length(train_tokens, train_cfg.seq_len, "train")
    compile_generator(model, learning_rate=cfg.learning_rate, clipnorm=train_cfg.clipnorm,
                      weight_decay=train_cfg.weight_decay, beta_2=train_cfg.beta_2)
    ds = training_dataset(train_tokens, seq_len=train_cfg.seq_len, batch_size=train_cfg.batch_size, steps=cfg.steps,
                          epochs=1, seed=seed, random_offsets=train_cfg.random_offsets)
    callback = pruning_callback(target=cfg.sparsity, schedule_steps=cfg.schedule_steps, frequency=cfg.frequency,
                                power=cfg.power)
    model.fit(ds, epochs=1, steps_per_epoch=cfg.steps, callbacks=[callback], shuffle=False,
              verbose=1 if sys.stdout.isatty() else 2)
    return sparsity_report(model)
