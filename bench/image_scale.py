"""Scale of the image preprocess stage: a folder of N generated images (PNG, one subfolder per class) streamed into
shards by ``python -m tasks.preprocess`` for several N, with the stage's wall time and peak resident memory, then
the train stage's input pipeline (:func:`genforge.image.training.training_dataset` over the train
shards) timed and measured the same way.

    python bench/image_scale.py --counts 50000 100000 200000 --size 32 --work /tmp/genforge-scale

The images are 10 classes of a filled square (a colour per class, a random size and place) over uniform noise,
``--size`` pixels square, RGB. The generator is params.yaml's ``digits-vae`` with ``preprocess.format: folder``,
``channels: 3``, the size above and a one-epoch feature network (preprocess trains it on the train split, through the
same batches, read on demand). Each run is a child process whose peak RSS comes from ``os.wait4``; the per-image time
should stay flat as N grows (time linear in N) and the peak RSS should not grow with N (memory bounded by a shard
and the batches in flight, not by the split). On several GPUs the train stage reads the same shards under
``tf.distribute.MirroredStrategy`` (genforge.core.trainer.distribution_strategy), as the text generators do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from common import REPO
from PIL import Image

PALETTE = np.array([[230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
                    [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212]], np.uint8)

READ = """
import json, os, resource, sys, time
from genforge.image.shards import open_split
from genforge.image.training import training_dataset
images, labels = open_split(sys.argv[1])
steps = int(sys.argv[2])
start = time.perf_counter()
for _ in training_dataset(images, labels, (0.0, 1.0), batch_size=128, steps=steps, epochs=1, seed=0):
    pass
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def write_images(folder: Path, count: int, size: int, seed: int) -> None:
    """``count`` PNGs under ``folder/<class>/``, classes in turn."""
    rng = np.random.default_rng(seed)
    for k in range(10):
        (folder / str(k)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        k = i % 10
        image = rng.integers(0, 64, (size, size, 3), dtype=np.uint8)
        side = int(rng.integers(size // 4, size // 2 + 1))
        r, c = rng.integers(0, size - side + 1, 2)
        image[r:r + side, c:c + side] = PALETTE[k]
        Image.fromarray(image).save(folder / str(k) / f"{i:07d}.png", compress_level=1)


def project(work: Path, size: int) -> None:
    """``work/params.yaml``: params.yaml with one generator, ``scale``, reading the folder ``data/raw/scale``."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    gen = params["generators"]["digits-vae"]
    gen["data"] = ["scale"]
    gen["preprocess"].update(format="folder", channels=3, size=[size, size])
    gen["preprocess"]["feature_net"]["epochs"] = 1
    params["generators"] = {"scale": gen}
    # the images are written straight into paths.raw: collect never runs, so its digest is never checked
    params["collect"]["sources"] = [{"name": "scale", "kind": "file", "path": "data/raw/scale", "sha256": "0" * 64}]
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def child(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run ``cmd``; its wall seconds, its peak RSS in MiB (``os.wait4``; Linux reports KiB) and its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read()[-3000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--read-steps", type=int, default=500, help="batches of 128 the input pipeline reads")
    parser.add_argument("--work", type=Path, default=Path("/tmp/genforge-scale"))
    args = parser.parse_args()
    print(f"{'images':>8} {'write s':>8} {'preprocess s':>13} {'ms/image':>9} {'feature net s':>14} "
          f"{'peak RSS MiB':>13} {'split MiB':>10} {'read s':>7} {'read RSS MiB':>13}")
    for count in args.counts:
        shutil.rmtree(args.work, ignore_errors=True)
        args.work.mkdir(parents=True)
        start = time.perf_counter()
        write_images(args.work / "data/raw/scale", count, args.size, seed=count)
        written = time.perf_counter() - start
        project(args.work, args.size)
        seconds, rss, _ = child([sys.executable, "-m", "tasks.preprocess", "scale"], args.work)
        processed = args.work / "data/processed/scale"
        stats = json.loads((args.work / "metrics/scale/preprocess.json").read_text())
        split_mib = sum(p.stat().st_size for p in processed.rglob("images-*.npy")) / 2 ** 20
        _, read_rss, out = child([sys.executable, "-c", READ, str(processed / "train"), str(args.read_steps)],
                                 args.work)
        print(f"{count:8d} {written:8.1f} {seconds:13.1f} {1000 * seconds / count:9.3f} "
              f"{stats['feature_net']['seconds']:14.1f} {rss:13.0f} {split_mib:10.0f} "
              f"{json.loads(out)['seconds']:7.1f} {read_rss:13.0f}", flush=True)
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
