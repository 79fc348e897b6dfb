"""The image train section's model, its batches and its fit: the batch order by hand, an exact resume, and training
under a mixed dtype policy for each architecture."""

import numpy as np
import pytest
import yaml
from conftest import IMAGE, REPO

from genforge.image.config import Train
from genforge.image.sampling import generate
from genforge.image.training import batch_indices, fit_generator, spec


def test_batches_walk_one_permutation_per_epoch_and_a_resume_sees_the_same_batches():
    first = batch_indices(6, batch_size=2, steps=3, epochs=2, seed=4)
    assert first.shape == (6, 2)
    for epoch in range(2):  # each epoch is a permutation of range(6) drawn by (seed, epoch)
        rows = first[3 * epoch:3 * epoch + 3]
        assert sorted(rows.ravel().tolist()) == list(range(6))
        assert np.array_equal(rows.ravel(), np.random.default_rng([4, epoch]).permutation(6))
    assert np.array_equal(batch_indices(6, batch_size=2, steps=3, epochs=2, seed=4, start_step=4), first[4:])
    # an epoch needing more images than there are walks the permutation again
    assert sorted(batch_indices(3, batch_size=2, steps=3, epochs=1, seed=0).ravel().tolist()) == [0, 0, 1, 1, 2, 2]


def tiny_train(**changes) -> Train:
    section = yaml.safe_load((REPO / "params.yaml").read_text())["generators"][IMAGE]["train"]
    section.update({"widths": [8], "latent_dim": 4, "batch_size": 16, "epochs": 1, "steps_per_epoch": 3,
                    "val_batches": 1, "checkpoint_steps": 0, "grid_images": 0, **changes})
    return Train(**section)


@pytest.mark.parametrize("arch", ["vae", "gan", "diffusion"])
def test_each_architecture_trains_under_mixed_bfloat16_and_samples_float_pixels(arch):
    images = (np.random.default_rng(0).random((48, 8, 8, 1)) * 255).astype(np.uint8)
    labels = np.arange(48) % 3
    cfg = tiny_train(arch=arch, precision="mixed_bfloat16", conditional=arch != "diffusion",
                     widths=[8, 16] if arch == "diffusion" else [8])
    model, state = fit_generator(cfg, {"train": (images, labels), "val": (images[:16], labels[:16])}, 3, seed=0)
    assert all(np.isfinite(v) for v in state.history[-1].values())
    drawn = generate(model.network, spec(model, cfg), 3, 1)
    assert drawn.shape == (3, 8, 8, 1) and drawn.dtype == np.uint8
