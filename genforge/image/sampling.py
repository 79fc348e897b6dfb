"""Drawing images from a generator network: the one sampling path of training's sample grids, the evaluate stage,
the optimize stage's variants, the CLI and the served model.

A generator is its network (the VAE's decoder, the GAN's generator, the diffusion model's denoising U-Net) and a
*spec*, a JSON object that says how to drive it:

- ``arch``: ``vae``, ``gan`` or ``diffusion``; ``image_shape``: ``[H, W, C]``;
- vae and gan: ``latent_dim``, ``num_classes`` (0: unconditional), ``temperature`` (the scale of the latent draw;
  1 is the prior), ``output``: ``logits`` (a Bernoulli decoder: sigmoid), ``mean`` (a Gaussian decoder: clipped to
  [0, 1]) or ``tanh`` (the GAN: [-1, 1]);
- diffusion: ``timesteps``, ``schedule``, ``sampling_steps``, ``embedding_dim``.

Every draw is a pure function of the network's weights, the spec and the seed: the same seed gives the same images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_BATCH = 256  # images per forward pass


def to_uint8(images, value_range: tuple[float, float]) -> np.ndarray:
    """``float (N, H, W, C)`` images in ``value_range`` as ``uint8`` pixels (clipped, rounded)."""
    low, high = value_range
    unit = (np.asarray(images, dtype=np.float64) - low) / (high - low)
    return np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)


def draw_inputs(n: int, seed: int, latent_dim: int, num_classes: int, labels=None,
                temperature: float = 1.0) -> np.ndarray:
    """A generator's inputs ``float32 (n, latent_dim [+ num_classes])``: standard normal noise of ``seed`` times
    ``temperature``, then, for a conditional model, the one-hot ``labels`` (default: the classes in turn,
    ``i % num_classes``).

    Raises:
        ValueError: labels given to an unconditional model, or not ``n`` labels in ``0..num_classes-1``.
    """
    z = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32) * np.float32(temperature)
    if not num_classes:
        if labels is not None:
            raise ValueError("this generator is not class-conditional (num_classes 0): it takes no labels")
        return z
    labels = np.arange(n) % num_classes if labels is None else np.asarray(labels)
    if labels.shape != (n,) or labels.min(initial=0) < 0 or labels.max(initial=0) >= num_classes:
        raise ValueError(f"give one label in 0..{num_classes - 1} per image ({n}), got {labels!r}")
    return np.concatenate([z, np.eye(num_classes, dtype=np.float32)[labels]], -1)


def _pixels(out: np.ndarray, output: str) -> np.ndarray:
    if output == "logits":
        return to_uint8(1.0 / (1.0 + np.exp(-out.astype(np.float64))), (0.0, 1.0))
    return to_uint8(out, (-1.0, 1.0) if output == "tanh" else (0.0, 1.0))


def ddim_sample(predict_noise: Callable, n: int, seed: int, image_shape, alpha_bar: np.ndarray,
                steps: int) -> np.ndarray:
    """``n`` images ``float32 (n, H, W, C)`` in [-1, 1] by ``steps`` deterministic DDIM steps (Song et al. 2021,
    eq. 12 with sigma 0) from Gaussian noise of ``seed``, over evenly spaced steps of the training schedule
    ``alpha_bar`` (``(T,)``). ``predict_noise(x_t, t)`` takes ``float32 (n, H, W, C)`` and ``int32 (n,)``."""
    from genforge.image.diffusion import ddim_step

    x = np.random.default_rng(seed).standard_normal((n, *image_shape)).astype(np.float32)
    ts = np.linspace(len(alpha_bar) - 1, 0, steps).round().astype(int)
    for i, t in enumerate(ts):
        eps = np.asarray(predict_noise(x, np.full((n,), int(t), np.int32)))
        prev = alpha_bar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x = ddim_step(x, eps, alpha_bar[t], prev).astype(np.float32)
    return x


def generate(network: Callable, spec: dict, n: int, seed: int, *, labels=None,
             temperature: float | None = None) -> np.ndarray:
    """``n`` images ``uint8 (n, H, W, C)`` drawn with ``seed`` from ``network`` driven by ``spec`` (module doc).

    Args:
        network: a callable on ``float32`` arrays returning arrays (a ``keras.Model`` or a LiteRT runner): latents
            ``(B, latent_dim [+ classes])`` for vae and gan; ``[x_t, step embedding]`` for diffusion.
        labels: the class of each image of a conditional model (default: the classes in turn).
        temperature: overrides ``spec["temperature"]``.

    Raises:
        ValueError: ``n < 1``, or labels that the model cannot take (:func:`draw_inputs`).
    """
    if n < 1:
        raise ValueError(f"the number of images must be at least 1, got {n}")
    if spec["arch"] == "diffusion":
        from genforge.image.diffusion import alpha_bars, step_embedding

        if labels is not None:
            raise ValueError("the diffusion generator is not class-conditional: it takes no labels")
        def predict(x, t):
            return _batched(lambda a, b: network([a, b]), x, step_embedding(t, spec["embedding_dim"]))

        x = ddim_sample(predict, n, seed, spec["image_shape"], alpha_bars(spec["schedule"], spec["timesteps"]),
                        spec["sampling_steps"])
        return to_uint8(x, (-1.0, 1.0))
    temp = spec["temperature"] if temperature is None else temperature
    z = draw_inputs(n, seed, spec["latent_dim"], spec["num_classes"], labels, temp)
    return _pixels(_batched(network, z), spec["output"])


def _batched(network: Callable, *inputs: np.ndarray) -> np.ndarray:
    outs = []
    for start in range(0, len(inputs[0]), MAX_BATCH):
        chunk = [np.asarray(a[start:start + MAX_BATCH], dtype=np.float32) for a in inputs]
        out = network(chunk[0]) if len(chunk) == 1 else network(*chunk)
        outs.append(np.asarray(out, dtype=np.float32))
    return np.concatenate(outs)
