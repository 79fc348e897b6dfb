"""Does a longer schedule separate Pix2Pix from the L1-only U-Net on SSIM? For each EPOCHS given, the train stage's
fit (:func:`genforge.image2image.training.fit_translator`) of glyphs-pix2pix's settings in params.yaml, with that
many epochs of ``steps_per_epoch`` steps (patience raised to match, so that every step runs), once as Pix2Pix and
once as the L1-only U-Net, both from the stage's seed. Prints each model's mean SSIM and L1 on the validation and
test characters and the paired difference of SSIM, Pix2Pix minus U-Net
(:func:`genforge.image2image.metrics.paired_difference`: mean, standard error, characters above and below). Needs
the preprocessed pairs (`dvc repro preprocess@glyphs-pix2pix`). On 2 cores: about 85 s per 600 Pix2Pix steps and
40 s per 600 U-Net steps.

    python bench/pix2pix_schedule.py [EPOCHS ...]     # default: 6 12 24 (the stage runs 6)
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from genforge.core.config import job, load_params  # noqa: E402
from genforge.image2image.metrics import pair_scores, paired_difference  # noqa: E402
from genforge.image2image.training import fit_translator, generator_of, load_pairs, translate  # noqa: E402

GENERATOR = "glyphs-pix2pix"
SPLITS = ("val", "test")


def scores(arch: str, epochs: int, gen, data: dict) -> dict:
    """Fit ``arch`` for ``epochs`` epochs; its per-pair scores (:func:`pair_scores`) on each split of ``SPLITS``."""
    cfg = gen.train.model_copy(update={"arch": arch, "epochs": epochs, "patience": epochs})
    start = time.perf_counter()
    model, _ = fit_translator(cfg, data["train"], data["val"], seed=gen.seed)
    print(f"{arch}: {epochs * cfg.steps_per_epoch} steps in {time.perf_counter() - start:.0f} s", flush=True)
    generator = generator_of(model)
    return {split: pair_scores(translate(generator, data[split][0]), data[split][1]) for split in SPLITS}


def main(epochs: list[int]) -> None:
    gen = job(load_params(), GENERATOR)
    if gen.preprocess.target_faces:
        raise SystemExit("the bench compares one-face generators; params.yaml's glyphs-pix2pix is zi2zi")
    data = {split: load_pairs(gen.paths.processed, split) for split in ("train", *SPLITS)}
    rows = []
    for n in epochs:
        p2p, unet = scores("pix2pix", n, gen, data), scores("unet_l1", n, gen, data)
        for split in SPLITS:
            d = paired_difference(p2p[split]["ssim"], unet[split]["ssim"])
            rows.append(f"{n * gen.train.steps_per_epoch:6d} {split:5s} {p2p[split]['ssim'].mean():.4f} "
                        f"{unet[split]['ssim'].mean():.4f} {d['mean']:+.4f} {d['standard_error']:.4f} "
                        f"{d['above']:3d}/{d['below']:<3d} {p2p[split]['l1'].mean():.4f} "
                        f"{unet[split]['l1'].mean():.4f}")
    print(" steps split SSIM: p2p  unet   p2p-unet  s.e.  above/below  L1: p2p  unet")
    print("\n".join(rows))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [6, 12, 24])
