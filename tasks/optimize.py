"""optimize: apply ``optimize.method`` to the trained model and measure size and test loss before and after."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from genforge import tracking
from genforge.config import Params
from genforge.data import load_tokens
from genforge.evaluation import score
from genforge.files import atomic_path, read_json, write_json
from genforge.models import load_generator, model_file, save_generator


def _weights_npz_bytes(model) -> int:
    """Bytes of the float32 weights stored like the int8 file (compressed npz): a like-for-like size baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.npz"
        np.savez_compressed(path, *[w.astype(np.float32) for w in model.get_weights()])
        return path.stat().st_size


def optimize(params: Params) -> dict:
    """Write ``paths.optimized`` (the model later stages use) and ``paths.metrics/optimize.json``.

    ``int8``: per-channel weight-only int8 quantization (:func:`genforge.models.quantize_int8`); ``none``: the
    trained model unchanged. Both are scored on the test split with the evaluate stage's scoring code.
    """
    trained = Path(params.paths.trained)
    model, tokenizer = load_generator(trained)
    test = load_tokens(Path(params.paths.processed) / "test.npy")
    before = score(model, test, context=params.evaluate.context, unit=tokenizer.unit)
    with atomic_path(params.paths.optimized, is_dir=True) as tmp:
        save_generator(tmp, model, tokenizer, int8=params.optimize.method == "int8")
        shutil.copyfile(trained / tracking.RUN_FILE, tmp / tracking.RUN_FILE)
        optimized, _ = load_generator(tmp)
        after = score(optimized, test, context=params.evaluate.context, unit=tokenizer.unit)
        size_after = model_file(tmp).stat().st_size
    size_before = _weights_npz_bytes(model)
    result = {
        "method": params.optimize.method,
        "size_bytes_before": size_before,
        "size_bytes_after": size_after,
        "size_ratio": round(size_before / size_after, 3),
        "test_cross_entropy_before": before["cross_entropy"],
        "test_cross_entropy_after": after["cross_entropy"],
        "test_cross_entropy_change_pct": 100 * (after["cross_entropy"] / before["cross_entropy"] - 1),
    }
    write_json(Path(params.paths.metrics) / "optimize.json", result)
    run_id = read_json(trained / tracking.RUN_FILE)["run_id"]
    tracking.log_metrics(run_id, {k: v for k, v in result.items() if k != "method"}, prefix="optimize/")
    tracking.set_tags(run_id, {"optimize.method": params.optimize.method})
    return result


def main() -> int:
    from tasks import run_stage

    return run_stage("optimize", optimize)


if __name__ == "__main__":
    raise SystemExit(main())
