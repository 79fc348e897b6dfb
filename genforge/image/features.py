"""The domain feature network: a small CNN classifier trained on a dataset's training split, whose penultimate layer
gives the features of FID, KID, precision/recall and density/coverage, and whose class posteriors give the
classifier score and the class histogram (design.md, section 4: no InceptionV3 weights can be downloaded here, and
Inception features mean little on 28x28 digits).

Architecture: two blocks of two 3x3 ReLU convolutions and a 2x2 max-pool (widths ``widths``), then a ReLU dense
layer of ``feature_dim`` units named ``features``, dropout, and a softmax over the classes (the VGG pattern of
Simonyan & Zisserman 2015 at MNIST scale).
"""

from __future__ import annotations

import numpy as np

from genforge.image.data import scale

FEATURES = "features"  # the penultimate layer's name


def build_feature_net(input_shape: tuple[int, int, int], num_classes: int, *, widths: tuple[int, int] = (32, 64),
                      feature_dim: int = 128, dropout: float = 0.3, seed: int = 0):
    """The classifier: ``float32 (B, H, W, C)`` pixels in [0, 1] -> class probabilities ``(B, num_classes)``.

    Raises:
        ValueError: ``num_classes < 2``, or ``H`` or ``W`` below 4 (two 2x2 pools).
    """
    import keras
    from keras import layers

    if num_classes < 2 or min(input_shape[:2]) < 4:
        raise ValueError(f"the feature network needs 2 or more classes and images of at least 4x4, got "
                         f"{num_classes} classes and shape {input_shape}")
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input(input_shape)
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(feature_dim, activation="relu", name=FEATURES)(x)
    x = layers.Dropout(dropout, seed=seed)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="feature_net")


def train_feature_net(model, images, labels: np.ndarray, *, epochs: int, batch_size: int = 128,
                      learning_rate: float = 1e-3, seed: int = 0) -> list[float]:
    """Train ``model`` (Adam, sparse categorical cross-entropy) on ``images`` ``uint8 (N, H, W, C)`` (an array or
    a split's shards read on demand, gathered batch by batch as the generators' training does:
    :func:`genforge.image.training.training_dataset`) and ``labels`` ``int (N,)``, ``epochs`` passes of
    ``N // batch_size`` batches; returns each epoch's mean training loss (nats)."""
    import keras

    from genforge.image.training import training_dataset

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    steps = max(1, len(images) // batch_size)
    batches = training_dataset(images, labels, (0.0, 1.0), batch_size=min(batch_size, len(images)), steps=steps,
                               epochs=epochs, seed=seed)
    history = model.fit(batches, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=0)
    return [float(v) for v in history.history["loss"]]


def embed(model, images, batch_size: int = 512, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features ``float32 (N, feature_dim)`` and class probabilities ``float32 (N, classes)`` of
    ``uint8`` images ``(N, H, W, C)`` (an array or shards read on demand), scaled ``chunk`` images at a time."""
    import keras

    both = keras.Model(model.inputs, [model.get_layer(FEATURES).output, model.output])
    parts = [both.predict(scale(images[i:i + chunk], (0.0, 1.0)), batch_size=batch_size, verbose=0)
             for i in range(0, len(images), chunk)]
    return (np.concatenate([f for f, _ in parts]).astype(np.float32),
            np.concatenate([p for _, p in parts]).astype(np.float32))


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of ``images`` whose most probable class is their label."""
    _, probabilities = embed(model, images)
    return float((probabilities.argmax(1) == np.asarray(labels)).mean())
