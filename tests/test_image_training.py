"""The image train section's model, its batches and its fit: the batch order by hand, an exact resume, and training
under a mixed dtype policy for each architecture."""

import os
import subprocess
import sys

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


MIRRORED = """
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from genforge.image import training
from genforge.image.config import Train
from genforge.image.shards import load_split, open_split, write_split
import yaml
rng = np.random.default_rng(0)
write_split(sys.argv[1], zip((rng.random((40, 8, 8, 1)) * 255).astype(np.uint8), np.arange(40) % 2, strict=True),
            shard_images=16)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
training.distribution_strategy = lambda: strategy
section = yaml.safe_load(open(sys.argv[2]).read())
arch = sys.argv[3]
cfg = Train(**{**section, "arch": arch, "conditional": arch != "diffusion", "widths": [8, 16] if arch == "diffusion"
               else [8], "latent_dim": 4, "batch_size": 8, "epochs": 1, "steps_per_epoch": 4, "val_batches": 1,
               "checkpoint_steps": 0, "grid_images": 0})
model, state = training.fit_generator(cfg, {"train": open_split(sys.argv[1]), "val": load_split(sys.argv[1])}, 2,
                                      seed=0)
print(strategy.num_replicas_in_sync, state.step, np.isfinite(list(state.history[-1].values())).all())
"""


@pytest.mark.parametrize("arch", ["vae", "gan", "diffusion"])
def test_each_architecture_trains_from_memory_mapped_shards_under_mirrored_strategy_on_two_devices(tmp_path, arch):
    """Two logical CPUs stand in for two GPUs: the batches gathered from the shards split over the replicas."""
    section = yaml.safe_load((REPO / "params.yaml").read_text())["generators"][IMAGE]["train"]
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(section))
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path / "split"), str(tmp_path / "train.yaml"), arch],
                          cwd=REPO, capture_output=True, text=True, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-3:] == ["2", "4", "True"]  # 2 replicas, 4 steps, finite losses
