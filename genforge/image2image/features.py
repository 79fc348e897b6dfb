"""The target domain's feature network for FID and KID of translated images: a small CNN that tells typefaces
apart, trained on the training characters drawn in every face of the source (for drawings: one that tells their
categories apart, trained on the training drawings; design.md, section 4: no Inception weights can be downloaded
here, and Inception features mean little on 64x64 glyphs). Its penultimate layer describes a glyph's style, which is
what a translation into a typeface has to get right.

Its input is ink, ``1 - pixel / 255`` (glyphs are black on white: the strokes, not the paper, carry the signal;
on held-out characters it tells the 33 faces apart at 0.53 accuracy after 3 epochs, against 0.19 on plain pixels).
Architecture: 2x2 average pooling, two blocks of a 3x3 ReLU convolution and a 2x2 max-pool (widths ``widths``), a
ReLU dense layer of ``feature_dim`` units named ``features``, and a softmax over the faces.
"""

from __future__ import annotations

import numpy as np

FEATURES = "features"


def build_feature_net(input_shape: tuple[int, int, int], num_classes: int, *, widths: tuple[int, int] = (32, 64),
                      feature_dim: int = 64, seed: int = 0):
    """The classifier: ``float32 (B, H, W, C)`` ink in [0, 1] (:func:`ink`) -> class probabilities
    ``(B, num_classes)``.

    Raises:
        ValueError: fewer than 2 classes.
    """
    import keras
    from keras import layers

    if num_classes < 2:  # noqa: PLR2004
        raise ValueError(f"the feature network tells 2 or more faces apart, got {num_classes}")
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input(input_shape)
    x = layers.AveragePooling2D(2)(x)
    for width in widths:
        x = layers.MaxPooling2D(2)(layers.Conv2D(width, 3, padding="same", activation="relu")(x))
    x = layers.Dense(feature_dim, activation="relu", name=FEATURES)(layers.Flatten()(x))
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="feature_net")


def ink(images: np.ndarray) -> np.ndarray:
    """``uint8`` black-on-white images -> ``float32`` ink in [0, 1] (0 for white paper)."""
    return 1 - images.astype(np.float32) / 255


def train_feature_net(images: np.ndarray, labels: np.ndarray, *, epochs: int, seed: int, batch_size: int = 64):
    """The feature network trained (Adam 3e-3, sparse categorical cross-entropy, shuffled with ``seed``) on
    ``images`` ``uint8 (N, H, W, C)`` labelled ``labels`` ``int (N,)``; returns ``(model, accuracy)``, the training
    accuracy of the last epoch."""
    import keras

    model = build_feature_net(images.shape[1:], int(labels.max()) + 1, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    order = np.random.default_rng(seed).permutation(len(images))
    history = model.fit(ink(images[order]), labels[order], epochs=epochs,
                        batch_size=batch_size, verbose=0)
    return model, float(history.history["accuracy"][-1])


def embed(model, images: np.ndarray) -> np.ndarray:
    """The features ``float32 (N, feature_dim)`` of ``uint8`` images ``(N, H, W, C)``."""
    import keras

    features = keras.Model(model.inputs, model.get_layer(FEATURES).output)
    return features.predict(ink(images), batch_size=256, verbose=0).astype(np.float32)
