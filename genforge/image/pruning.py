"""Pruning an image generator's network: magnitude pruning (:mod:`genforge.core.pruning`, Zhu & Gupta 2018) during a
short fine-tune of the whole model on the training split (the VAE with its encoder, the diffusion model), or at once
without fine-tuning for the GAN, whose discriminator the train stage does not keep."""

from __future__ import annotations

import numpy as np

from genforge.core.pruning import magnitude_mask, prunable_weights, pruning_callback, sparsity_report


def prune_network(job, network, encoder, splits: dict, num_classes: int, *, seed: int):
    """A copy of ``network`` pruned to ``optimize.prune.sparsity`` of every kernel.

    The VAE and the diffusion model are rebuilt with the ``train`` section, given the trained weights (the VAE's
    ``encoder`` too) and fine-tuned ``prune.steps`` steps at ``prune.learning_rate`` on the train stage's batches
    while :func:`genforge.core.pruning.pruning_callback` raises the sparsity over ``prune.schedule_steps`` steps.
    The GAN's generator is pruned once by magnitude.

    Args:
        network, encoder: the trained Keras networks (``encoder`` ``None`` but for the VAE).
        splits: ``{"train": (images, labels)}``, ``uint8`` and ``int64``.

    Returns:
        ``(pruned network, sparsity report)`` (:func:`genforge.core.pruning.sparsity_report`).
    """
    import sys

    import keras

    from genforge.image.training import RANGES, build_generator, training_dataset

    cfg, train_cfg = job.optimize.prune, job.train
    if train_cfg.arch == "gan":
        pruned = keras.models.clone_model(network)
        pruned.set_weights(network.get_weights())
        for w in prunable_weights(pruned):
            w.assign(np.asarray(w.numpy()) * magnitude_mask(w.numpy(), cfg.sparsity))
        return pruned, sparsity_report(pruned)
    images, labels = splits["train"]
    model = build_generator(train_cfg.model_copy(update={"learning_rate": cfg.learning_rate, "ema_momentum": 0.0}),
                            images.shape[1:], num_classes, seed)
    model.network.set_weights(network.get_weights())
    if encoder is not None:
        model.encoder.set_weights(encoder.get_weights())
    data = training_dataset(images, labels, RANGES[train_cfg.arch], batch_size=train_cfg.batch_size, steps=cfg.steps,
                            epochs=1, seed=seed)
    model.fit(data, epochs=1, steps_per_epoch=cfg.steps, shuffle=False, verbose=1 if sys.stdout.isatty() else 2,
              callbacks=[pruning_callback(target=cfg.sparsity, schedule_steps=cfg.schedule_steps,
                                          frequency=cfg.frequency, power=cfg.power)])
    return model.network, sparsity_report(model.network)
