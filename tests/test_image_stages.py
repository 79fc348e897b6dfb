"""The image modality's stages on a tiny project of 8x8 shapes (conftest.write_shapes): every stage of a VAE, the
served model against the sampler, and the bad inputs a user meets (a corrupt file, a NaN GAN, a bad request)."""

import base64
import io
import json

import numpy as np
import pytest
from conftest import IMAGE, tiny_params, write_params
from PIL import Image

from genforge import GenForgeError
from genforge.core.config import load_params
from tasks.collect import collect
from tasks.evaluate import evaluate
from tasks.optimize import optimize
from tasks.preprocess import preprocess
from tasks.register import register
from tasks.report import report
from tasks.train import train


@pytest.fixture
def image_project(project):
    params = tiny_params(project, (IMAGE,))
    write_params(project, params)
    return project, params


def _decode(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_every_stage_of_a_vae_and_the_served_model_draws_what_the_sampler_draws(image_project):
    from mlflow.exceptions import MlflowException

    from genforge.core.tracking import load_pyfunc
    from genforge.image.sampling import generate
    from genforge.image.store import load_generator

    root, _ = image_project
    params = load_params()
    collect(params)
    done = preprocess(params, IMAGE)
    assert (done["train_images"], done["val_images"], done["test_images"]) == (72, 18, 30)  # 120 - 30, then 20 %
    shards = json.loads((root / f"data/processed/{IMAGE}/train/index.json").read_text())["shards"]
    assert [s["images"] for s in shards] == [32, 32, 8]  # shard_images 32
    stats = json.loads((root / f"metrics/{IMAGE}/preprocess.json").read_text())
    assert stats["classes"] == 3 and stats["feature_net"]["source"] == "trained"
    assert preprocess(params, IMAGE)["feature_net"] == "reused"  # once per dataset and settings
    train(params, IMAGE)
    assert Image.open(root / f"metrics/{IMAGE}/train_samples.png").size[0] > 2 * 30  # two epochs' grids of 3x3 8x8
    done = optimize(params, IMAGE)
    assert done["variants"] == 4 and done["sparsity"] == pytest.approx(0.5, abs=0.02)  # dense, pruned, 2 LiteRT
    shipped, _ = load_generator(root / f"models/optimized/{IMAGE}")  # method pruned: half of each kernel is 0
    assert all(abs(float((w.numpy() == 0).mean()) - 0.5) < 0.05 for w in shipped.weights if w.path.endswith("kernel"))
    evaluate(params, IMAGE)
    result = json.loads((root / f"metrics/{IMAGE}/evaluate.json").read_text())
    for key in ("fid", "kid", "kid_std", "coverage", "classifier_score"):
        assert np.isfinite(result[key]) and np.isfinite(result["floor"][key]) and np.isfinite(result["ceiling"][key])
    assert result["ceiling"]["fid"] > result["floor"]["fid"]  # noise is further from the test images than val is
    assert result["relative"]["kid"] == pytest.approx((result["kid"] - result["floor"]["kid"])
                                                      / (result["ceiling"]["kid"] - result["floor"]["kid"]))
    assert result["stability"]["same_seed_identical"] and result["gate"]["passed"]
    assert register(params, IMAGE)["aliases"] == "challenger+champion"
    report(params)
    page = (root / f"reports/{IMAGE}.html").read_text()
    assert "floor (real)" in page and "data:image/png;base64," in page

    served = load_pyfunc(f"models:/genforge-{IMAGE}@champion")
    frame = served.predict(__import__("pandas").DataFrame({"num_images": [4], "seed": [3]}))
    assert list(frame["request"]) == [0] * 4 and list(frame["label"]) == [0, 1, 2, 0]  # the classes in turn
    network, spec = load_generator(root / f"models/optimized/{IMAGE}")
    drawn = generate(network, spec, 4, 3)[..., 0]
    assert all(np.array_equal(_decode(b), drawn[i]) for i, b in enumerate(frame["image"]))
    for bad, message in (({"num_images": [0], "seed": [1]}, "num_images must be between 1 and 1024, got 0"),
                         ({"num_images": [2000], "seed": [1]}, "ask for more in several requests"),
                         ({"num_images": [2], "seed": [1], "label": [7]}, "label 7 is not a class"),
                         ({"seed": [1]}, r"missing inputs \['num_images'\]")):
        with pytest.raises(MlflowException, match=message):
            served.predict(__import__("pandas").DataFrame(bad))


def test_a_corrupt_file_is_skipped_and_listed_or_refused_by_name(image_project):
    root, params = image_project
    (root / "shapes/bar/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    from conftest import folder_digest

    params["collect"]["sources"][-1]["sha256"] = folder_digest(root / "shapes")
    write_params(root, params)
    collect(load_params())
    assert preprocess(load_params(), IMAGE)["skipped"] == 1
    stats = json.loads((root / f"metrics/{IMAGE}/preprocess.json").read_text())
    assert [f["path"] for f in stats["skipped_files"]] == ["bar/broken.png"]
    params["generators"][IMAGE]["preprocess"]["corrupt"] = "refuse"
    write_params(root, params)
    with pytest.raises(GenForgeError, match=r"broken\.png.*on_corrupt: refuse"):
        preprocess(load_params(), IMAGE)


def test_an_unlabelled_image_or_a_split_where_nothing_decodes_is_refused_by_name(image_project):
    from conftest import folder_digest

    root, params = image_project
    processed = root / f"data/processed/{IMAGE}"
    (root / "shapes/loose.png").write_bytes((root / "shapes/bar/000.png").read_bytes())
    params["collect"]["sources"][-1]["sha256"] = folder_digest(root / "shapes")
    write_params(root, params)
    collect(load_params())
    with pytest.raises(GenForgeError, match=r"every image labelled with one of 2 or more classes \(loose.png is not\)"):
        preprocess(load_params(), IMAGE)
    assert not processed.exists()  # refused before anything is written
    (root / "shapes/loose.png").unlink()
    for path in (root / "shapes").rglob("*.png"):
        path.write_bytes(b"not an image")
    params["collect"]["sources"][-1]["sha256"] = folder_digest(root / "shapes")
    write_params(root, params)
    collect(load_params())
    with pytest.raises(GenForgeError, match=r"none of the \d+ files drawn for the train split decodes"):
        preprocess(load_params(), IMAGE)
    assert not (processed / "train").exists()  # the half-written split was removed


def test_a_gan_whose_losses_become_nan_stops_and_leaves_nothing_to_register(image_project):
    root, params = image_project
    params["generators"][IMAGE]["train"].update(arch="gan", learning_rate=1e30, beta_1=0.5)
    write_params(root, params)
    collect(load_params())
    preprocess(load_params(), IMAGE)
    with pytest.raises(GenForgeError, match=r"training stopped at step \d+: \w+ became nan"):
        train(load_params(), IMAGE)
    assert not (root / f"models/trained/{IMAGE}").exists()
    with pytest.raises(GenForgeError, match="not found; run"):
        optimize(load_params(), IMAGE)


def test_a_litert_variant_is_what_the_later_stages_use_when_the_method_names_it(image_project):
    from genforge.core.litert import LiteRTNetwork
    from genforge.image.store import load_generator

    root, params = image_project
    params["generators"][IMAGE]["optimize"].update(method="litert_int8", litert=[])
    write_params(root, params)
    collect(load_params())
    for stage in (preprocess, train, optimize, evaluate):
        stage(load_params(), IMAGE)
    network, spec = load_generator(root / f"models/optimized/{IMAGE}")
    assert isinstance(network, LiteRTNetwork) and spec["network"] == "litert/generator_int8.tflite"
    result = json.loads((root / f"metrics/{IMAGE}/evaluate.json").read_text())
    shipped = root / f"models/optimized/{IMAGE}" / spec["network"]
    assert result["efficiency"]["model_file_bytes"] == shipped.stat().st_size
