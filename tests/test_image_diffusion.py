"""The diffusion model: its schedules and DDIM step worked out by hand, training on toy images, sampling by seed."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genforge.image.diffusion import Diffusion, alpha_bars, ddim_step


def test_linear_schedule_by_hand():
    a = alpha_bars("linear", 1000)
    beta2 = 1e-4 + (0.02 - 1e-4) / 999  # the second of 1000 evenly spaced betas from 1e-4 to 0.02
    assert a[0] == pytest.approx(1 - 1e-4) and a[1] == pytest.approx((1 - 1e-4) * (1 - beta2))
    assert a[-1] == pytest.approx(np.prod(1 - np.linspace(1e-4, 0.02, 1000)))


def test_cosine_schedule_falls_from_one_to_zero():
    a = alpha_bars("cosine", 1000)
    assert (np.diff(a) < 0).all() and 0.9999 < a[0] < 1 and a[-1] < 1e-6
    # half way the signal and the noise are about even: f(1/2) / f(0) = cos(0.504/1.008 * pi/2)^2 / cos(...)^2
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert a[499] == pytest.approx(f(0.5) / f(0), rel=1e-9)
    with pytest.raises(ValueError, match="linear or cosine"):
        alpha_bars("sigmoid", 10)


def test_ddim_step_with_the_true_noise_lands_on_the_earlier_step():
    rng = np.random.default_rng(0)
    x0, eps = rng.uniform(-1, 1, (3, 4)), rng.normal(size=(3, 4))
    a_t, a_prev = 0.3, 0.8
    x_t = math.sqrt(a_t) * x0 + math.sqrt(1 - a_t) * eps
    assert ddim_step(x_t, eps, a_t, a_prev) == pytest.approx(math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps)
    assert ddim_step(x_t, eps, a_t, 1.0) == pytest.approx(x0)  # the last step gives the clean image


def test_diffusion_trains_and_samples_by_seed():
    keras.utils.set_random_seed(0)
    model = Diffusion((8, 8, 1), widths=(8, 16), timesteps=100, embedding_dim=16)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    rng = np.random.default_rng(0)
    images = -np.ones((256, 8, 8, 1), np.float32)
    for i, (r, c) in enumerate(rng.integers(0, 5, (256, 2))):
        images[i, r:r + 3, c:c + 3] = 1.0
    # the output layer starts at zero, so the first predictions are 0 and the loss E[eps^2] = 1
    assert float(model._loss(tf.constant(images[:64]))) == pytest.approx(1.0, abs=0.1)
    history = model.fit(images, epochs=4, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.8
    out = model.generate(3, seed=5, steps=10)
    assert out.shape == (3, 8, 8, 1) and out.dtype == np.uint8 and np.array_equal(out, model.generate(3, 5, 10))


def test_sizes_the_unet_cannot_halve_are_refused():
    with pytest.raises(ValueError, match=r"image size 9x9 is not divisible by 2\^1"):
        Diffusion((9, 9, 1), widths=(8, 16))
