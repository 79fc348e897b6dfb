"""The VAE and the DCGAN: losses worked out by hand for zeroed weights, training on toy images, sampling by seed, and
the shapes they refuse."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from genforge.image.models import DCGAN, VAE, to_uint8


def zero_weights(model) -> None:
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])


def toy_images(n: int = 64, seed: int = 0) -> np.ndarray:
    """``n`` 8x8 one-channel images in [0, 1]: a bright square at a random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 8, 8, 1), np.float32)
    for i, (r, c) in enumerate(rng.integers(0, 5, (n, 2))):
        images[i, r:r + 3, c:c + 3] = 1.0
    return images


def test_pixels_from_either_range():
    assert to_uint8(np.array([-1.0, 0.0, 1.0, 2.0]), (-1, 1)).tolist() == [0, 128, 255, 255]  # 127.5 rounds to 128
    assert to_uint8(np.array([0.0, 0.5, 1.0]), (0, 1)).tolist() == [0, 128, 255]


@pytest.mark.parametrize("decoder", ["conv", "mlp"])
def test_vae_negative_elbo_by_hand_with_zeroed_weights(decoder):
    # zero weights: posterior N(0, I), so KL = 0; Bernoulli logits 0, so every pixel costs ln 2 whatever its value
    vae = VAE((8, 8, 1), latent_dim=3, widths=(4, 4), decoder=decoder, mlp_hidden=(5,))
    images = toy_images(4)
    vae(images)
    zero_weights(vae)
    reconstruction, kl = (v.numpy() for v in vae.negative_elbo(tf.constant(images)))
    assert reconstruction == pytest.approx(np.full(4, 64 * math.log(2)), rel=1e-6)
    assert kl == pytest.approx(np.zeros(4), abs=1e-6)
    # Gaussian of sigma 0.1 with mean 0 on black images: per pixel log(0.1) + log(2 pi) / 2
    gauss = VAE((8, 8, 1), latent_dim=3, widths=(4, 4), decoder=decoder, likelihood="gaussian", sigma=0.1,
                mlp_hidden=(5,))
    black = np.zeros((2, 8, 8, 1), np.float32)
    gauss(black)
    zero_weights(gauss)
    reconstruction, _ = gauss.negative_elbo(tf.constant(black))
    assert reconstruction.numpy() == pytest.approx(np.full(2, 64 * (math.log(0.1) + 0.5 * math.log(2 * math.pi))),
                                                   rel=1e-6)


def test_vae_trains_and_samples_by_seed():
    keras.utils.set_random_seed(0)
    vae = VAE((8, 8, 1), latent_dim=4, widths=(8, 16))
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = vae.fit(toy_images(256), epochs=4, batch_size=32, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 5  # nats per image; it starts near 64 ln 2 = 44
    assert set(history) == {"loss", "reconstruction", "kl"}
    first, again = vae.generate(6, seed=3), vae.generate(6, seed=3)
    assert first.shape == (6, 8, 8, 1) and first.dtype == np.uint8 and np.array_equal(first, again)
    assert not np.array_equal(first, vae.generate(6, seed=4))


def test_dcgan_trains_and_samples_by_seed_and_class():
    keras.utils.set_random_seed(0)
    gan = DCGAN((8, 8, 1), latent_dim=8, widths=(8, 16), num_classes=3)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    images = toy_images(64) * 2 - 1
    labels = np.arange(64) % 3
    batches = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    history = gan.fit(batches, epochs=2, shuffle=False, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"} and all(np.isfinite(history["d_loss"]))
    out = gan.generate(6, seed=1)
    assert out.shape == (6, 8, 8, 1) and out.dtype == np.uint8 and np.array_equal(out, gan.generate(6, seed=1))
    same_noise = gan.generate(2, seed=1, labels=[0, 1])
    assert not np.array_equal(same_noise[0], same_noise[1])  # one noise, two classes, two images
    with pytest.raises(ValueError, match=r"give one label in 0\.\.2 per image"):
        gan.generate(2, seed=1, labels=[0])
    plain = DCGAN((8, 8, 1), latent_dim=8, widths=(8, 16))
    with pytest.raises(ValueError, match="not class-conditional"):
        plain.generate(2, seed=1, labels=[0, 1])


def test_sizes_the_blocks_cannot_halve_are_refused():
    with pytest.raises(ValueError, match=r"image size 10x10 is not divisible by 2\^2"):
        VAE((10, 10, 1), widths=(8, 16))
    with pytest.raises(ValueError, match=r"not divisible by 2\^3"):
        DCGAN((28, 28, 1), widths=(8, 16, 32))
    with pytest.raises(ValueError, match="decoder must be conv or mlp"):
        VAE((8, 8, 1), decoder="rnn")
