"""Image-to-image translation: the Pix2Pix networks and losses, glyph rendering and the split by character, paired
folders, the scores, the served model and the CLI, each on small cases worked out by hand, and the inputs a user
gets wrong (a pair of different sizes, a missing partner, a character a font lacks, a corrupt image, an input of
another size, a request without its image column, an image too large to decode), and 16-bit grayscale."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from PIL import Image

from genforge import GenForgeError
from genforge.image2image.config import Train
from genforge.image2image.glyphs import homoglyph_groups, render, split_groups
from genforge.image2image.metrics import copy_share, pair_scores, paired_difference
from genforge.image2image.pairs import paired_folder
from genforge.image2image.training import draw_batch, to_model, to_uint8

FONTS = Path(matplotlib.get_data_path()) / "fonts/ttf"  # DejaVu faces ship with matplotlib
NAME = "glyphs-pix2pix"
SHAPE = (16, 16, 1)


def tiny_train(arch: str = "pix2pix", ema_momentum: float = 0.0) -> Train:
    return Train(arch=arch, filters=4, max_filters=8, disc_filters=4, disc_layers=2, l1_weight=100.0, dropout=0.5,
                 learning_rate=2e-4, beta_1=0.5, ema_momentum=ema_momentum, face_embedding=4, batch_size=2, jitter=1,
                 baseline=False, intra_op_threads=1, inter_op_threads=1, epochs=1, steps_per_epoch=2, patience=1,
                 checkpoint_steps=0, sample_pairs=1)


def test_the_unet_goes_down_to_1x1_and_the_patchgan_gives_a_logit_per_patch():
    from genforge.image2image.models import build_patchgan, build_unet, widths

    assert widths(64, 32, 256) == [32, 64, 128, 256, 256, 256]  # 64 -> 32 -> ... -> 1: six halvings
    assert widths(256, 64, 512) == [64, 128, 256, 512, 512, 512, 512, 512]  # the paper's encoder
    unet = build_unet((16, 16, 1), filters=4, max_filters=8)
    assert unet.output_shape == (None, 16, 16, 1)
    # 16 px, 2 stride-2 layers: 4x4; padded to 6, a 4x4 conv gives 3; padded to 5, gives 2 (256 px, 3 layers: 30)
    assert build_patchgan((16, 16, 1), filters=4, layers_down=2).output_shape == (None, 2, 2, 1)
    assert build_patchgan((256, 256, 3), filters=2, layers_down=3).output_shape == (None, 30, 30, 1)
    with pytest.raises(ValueError, match="power of two"):
        build_unet((24, 24, 1))


def test_the_pix2pix_step_reports_the_l1_term_and_trains_both_networks():
    import keras

    from genforge.image2image.training import build_translator

    model = build_translator(tiny_train(), SHAPE, seed=0)
    rng = np.random.default_rng(0)
    x, y = (keras.ops.convert_to_tensor(rng.uniform(-1, 1, (2, *SHAPE)).astype(np.float32)) for _ in range(2))
    logs = model.test_step((x, y))
    expected_l1 = np.abs(keras.ops.convert_to_numpy(y - model.generator(x, training=False))).mean()
    assert float(logs["loss"]) == pytest.approx(expected_l1, rel=1e-5)
    before = [w.copy() for w in (model.generator.get_weights()[0], model.discriminator.get_weights()[0])]
    model.train_step((x, y))
    after = (model.generator.get_weights()[0], model.discriminator.get_weights()[0])
    assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_the_generator_alone_keeps_an_average_of_its_weights():
    """With ``ema_momentum`` the U-Net's Adam averages its weights (in Pix2Pix and in the L1-only baseline), the
    discriminator's does not; after one step (momentum 0 at the first step) the average is the new weight, after a
    second it is 0.9 x the first + 0.1 x the second."""
    import keras

    from genforge.core.averaging import averaged_weights
    from genforge.image2image.training import build_translator

    model = build_translator(tiny_train(ema_momentum=0.9), SHAPE, seed=0)
    assert model.g_optimizer.use_ema and not model.d_optimizer.use_ema
    assert build_translator(tiny_train("unet_l1", ema_momentum=0.9), SHAPE, seed=0).optimizer.use_ema
    assert not build_translator(tiny_train(), SHAPE, seed=0).g_optimizer.use_ema
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).uniform(-1, 1, (2, *SHAPE)).astype(np.float32))
    model.train_step((x, x))
    for average, weight in zip(averaged_weights(model), model.get_weights(), strict=True):
        np.testing.assert_allclose(average, weight, atol=1e-7)
    first = model.generator.get_weights()[0]  # the first convolution's kernel
    model.train_step((x, -x))
    second = model.generator.get_weights()[0]
    assert not np.allclose(first, second)
    np.testing.assert_allclose(averaged_weights(model)[0], 0.9 * first + 0.1 * second, atol=1e-6)


@pytest.mark.parametrize(("size", "layers", "message"), [
    (16, 3, r"train.disc_layers \(3\) halves preprocess.size \(16\) to 2 px"),
    (4, 6, r"to 0 px, too small for the PatchGAN"),
])
def test_a_patchgan_deeper_than_the_image_is_refused_by_name(tmp_path, size, layers, message):
    import yaml
    from conftest import REPO

    from genforge.core.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generators"]["glyphs-pix2pix"]["preprocess"]["size"] = size
    params["generators"]["glyphs-pix2pix"]["train"]["disc_layers"] = layers
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(GenForgeError, match=message):
        load_params(tmp_path / "params.yaml")


def test_a_batch_is_shifted_together_and_filled_with_white():
    x = np.full((1, 4, 4, 1), 255, np.uint8)
    x[0, 1, 1] = 0  # one ink pixel
    y = x.copy()
    y[0, 2, 2] = 0  # and one more in the target
    a, b = draw_batch(x, y, batch_size=8, jitter=1, seed=0, step=3)
    assert a.shape == (8, 4, 4, 1) and a.dtype == np.float32 and set(np.unique(a)) == {-1.0, 1.0}
    for inp, tar in zip(a, b, strict=True):
        (r,), (c,) = np.nonzero(inp[..., 0] == -1)  # the ink pixel moved by at most one each way
        assert abs(r - 1) <= 1 and abs(c - 1) <= 1
        assert tar[r, c, 0] == -1 and tar[r + 1, c + 1, 0] == -1 and (tar == -1).sum() == 2  # moved with it
    assert len({a[i].tobytes() for i in range(8)}) > 1
    assert to_uint8(to_model(x)).tolist() == x.tolist()


def test_homoglyphs_share_a_split_and_splits_are_disjoint():
    ink = np.full((5, 4, 4), 255, np.uint8)
    ink[:, 0, :2] = 0  # every glyph: 2 dark pixels
    ink[1, 3, 3] = 0  # 3 dark pixels: 1 of 3 differs from glyph 0, a third of its ink
    ink[2, 0, :2], ink[2, 2, 2:] = 255, 0  # another drawing
    ink[4, :, :] = 0
    same_input = homoglyph_groups(np.stack([ink[0], ink[0], ink[2]]), ink[[0, 2, 4]], tolerance=0.2)
    assert same_input.tolist() == [0, 0, 2]  # one input drawn for two targets: one group (Latin A, Greek Α)
    groups = homoglyph_groups(ink, ink, tolerance=0.5)
    assert groups.tolist() == [0, 0, 2, 0, 4]  # 0, 1 and 3 within half their ink of one another
    assert homoglyph_groups(ink, ink, tolerance=0.2).tolist() == [0, 1, 2, 0, 4]
    split = split_groups(groups, 0.3, 0.3, seed=0)
    assert sorted(np.concatenate(list(split.values())).tolist()) == [0, 1, 2, 3, 4]
    homes = [name for name, rows in split.items() if 0 in rows]
    assert all(i in split[homes[0]] for i in (0, 1, 3))
    with pytest.raises(GenForgeError, match="at least 3 are needed"):
        split_groups(np.array([0, 0, 1]), 0.3, 0.3, seed=0)
    with pytest.raises(GenForgeError, match=r"take 2 and 2 of the 4 groups .* leaving none for training"):
        split_groups(np.arange(4), 0.49, 0.49, seed=0)


def test_glyphs_are_centred_and_a_missing_character_or_a_large_glyph_is_refused():
    glyphs = render(FONTS / "DejaVuSans.ttf", [ord("I"), ord("o")], size=32, point_size=20)
    assert glyphs.shape == (2, 32, 32) and glyphs.dtype == np.uint8
    rows, cols = np.nonzero(glyphs[1] < 128)
    assert abs((rows.min() + rows.max()) / 2 - 15.5) <= 1 and abs((cols.min() + cols.max()) / 2 - 15.5) <= 1
    with pytest.raises(GenForgeError, match=r"DejaVuSans.ttf has no glyph for '中' \(U\+4E2D\)"):
        render(FONTS / "DejaVuSans.ttf", [ord("a"), 0x4E2D], size=32, point_size=20)
    with pytest.raises(GenForgeError, match="larger than the 16x16 canvas; lower preprocess.point_size"):
        render(FONTS / "DejaVuSans.ttf", [ord("W")], size=16, point_size=40)


def save(path: Path, array: np.ndarray, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def test_a_paired_folder_is_matched_by_name_and_its_faults_are_named(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    save(a / "x.png", np.zeros((8, 8), np.uint8))
    rgba = np.zeros((8, 8, 4), np.uint8)  # transparent: composited on white paper
    save(b / "x.png", rgba, "RGBA")
    names, inputs, targets = paired_folder(a, b, size=4)
    assert names == ["x.png"] and inputs.shape == (1, 4, 4) and inputs.max() == 0 and targets.min() == 255
    save(a / "lonely.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(GenForgeError, match="1 images without their partner: A/lonely.png"):
        paired_folder(a, b, size=4)
    save(b / "lonely.png", np.zeros((6, 8), np.uint8))
    with pytest.raises(GenForgeError, match=r"the pair lonely.png differs in size: A/lonely.png is 8x8, B/lonely.png "
                                            r"is 8x6"):
        paired_folder(a, b, size=4)
    (b / "lonely.png").write_bytes(b"not a png")
    with pytest.raises(GenForgeError, match=r"B/lonely.png: not an image that Pillow can decode"):
        paired_folder(a, b, size=4)
    (b / "lonely.png").unlink()
    (b / "lonely.png").symlink_to(b / "gone.png")  # a broken link
    with pytest.raises(GenForgeError, match=r"1 images without their partner: A/lonely.png"):  # not an image file
        paired_folder(a, b, size=4)
    (b / "lonely.png").unlink()
    (b / "lonely.png").mkdir()  # a folder named like an image is not a partner either
    with pytest.raises(GenForgeError, match=r"1 images without their partner: A/lonely.png"):
        paired_folder(a, b, size=4)


def test_scores_by_hand():
    black, white = np.zeros((2, 16, 16, 1), np.uint8), np.full((2, 16, 16, 1), 255, np.uint8)
    half = black.copy()
    half[:, :, 8:] = 255
    scores = pair_scores(half, black)
    assert scores["l1"].tolist() == [0.5, 0.5]
    assert scores["psnr"] == pytest.approx([10 * np.log10(2)] * 2)  # MSE 0.5: 3.01 dB
    assert pair_scores(white, white)["ssim"] == pytest.approx([1.0, 1.0])
    assert pair_scores(white, black)["l1"].tolist() == [1.0, 1.0]
    # an output equal to a training target, far from its own: a copy (0 < 0.5 x 1); one equal to its own: none
    assert copy_share(white[:1], black[:1], white)["share"] == 1.0
    assert copy_share(black[:1], black[:1], white)["share"] == 0.0
    with pytest.raises(GenForgeError, match="must both be"):
        pair_scores(white, white[:, :8])


def test_the_paired_difference_by_hand():
    # differences 0.3, 0.1, -0.1, 0.1: mean 0.1; deviations 0.2, 0, -0.2, 0: sample variance 0.08 / 3, so the
    # standard error is sqrt(0.08 / 3) / 2 = 0.0816
    d = paired_difference(np.array([0.9, 0.7, 0.5, 0.6]), np.array([0.6, 0.6, 0.6, 0.5]))
    assert d["mean"] == pytest.approx(0.1) and d["standard_error"] == pytest.approx(0.08165, abs=1e-5)
    assert (d["above"], d["below"], d["equal"]) == (3, 1, 0)
    with pytest.raises(GenForgeError, match=r"one shape \(N,\), N >= 2; got \(1,\) and \(1,\)"):
        paired_difference(np.array([0.5]), np.array([0.4]))
    with pytest.raises(GenForgeError, match=r"got \(2,\) and \(3,\)"):
        paired_difference(np.zeros(2), np.zeros(3))


@pytest.fixture(scope="module")
def saved_translator(tmp_path_factory):
    from genforge.image2image.store import load_generator, save_generator
    from genforge.image2image.training import build_translator, spec

    folder = tmp_path_factory.mktemp("translator")
    model = build_translator(tiny_train(), SHAPE, seed=0)
    save_generator(folder, model.generator, spec(tiny_train(), SHAPE))
    return folder, *load_generator(folder)


def test_the_served_model_answers_as_predict_images_and_refuses_bad_requests(saved_translator):
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from genforge.image2image.pyfunc import Translator, image_from_base64, png_base64, predict_images

    _, generator, spec = saved_translator
    served = Translator()
    served.generator, served.spec = generator, spec
    images = [(np.random.default_rng(i).random((16, 16)) * 255).astype(np.uint8) for i in range(2)]
    answer = served.predict(None, pd.DataFrame({"image": [png_base64(x) for x in images]}))
    got = np.stack([image_from_base64(t) for t in answer["image"]])
    assert answer["request"].tolist() == [0, 1]
    assert np.array_equal(got, predict_images(generator, spec, images, ["a", "b"]))

    def refused(request, message):
        with pytest.raises(MlflowException, match=message) as caught:
            served.predict(None, pd.DataFrame(request))
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"

    refused({"picture": [png_base64(images[0])]}, "the input needs the column image")
    refused({"image": [png_base64(np.zeros((8, 16), np.uint8))]}, r"translates 16x16 images; resize these first: "
                                                                   r"row 0 \(16x8\)")
    refused({"image": ["bm90IGFuIGltYWdl"]}, "row 0: not an image that Pillow can decode")
    refused({"image": ["not base64!"]}, "row 0: not base64 text")
    empty = served.predict(None, pd.DataFrame({"image": pd.Series([], dtype=str)}))
    assert list(empty.columns) == ["request", "image"] and len(empty) == 0
    text = png_base64(images[0])  # a data URL and MIME's 76-character lines are base64 PNG too
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))
    for variant in ("data:image/png;base64," + text, wrapped):
        assert np.array_equal(image_from_base64(variant), images[0])


def test_decoding_scales_16_bit_grayscale_and_names_an_image_too_large_to_decode(monkeypatch):
    import io

    from genforge.image2image.pairs import decode_image

    wide = np.array([[0, 257, 65535], [128, 32896, 65280]], np.uint16)  # / 257: 0, 1, 255; 0.498 -> 0, 128, 254
    buffer = io.BytesIO()
    Image.fromarray(wide).save(buffer, format="PNG")
    assert decode_image(buffer.getvalue(), "wide.png").tolist() == [[0, 1, 255], [0, 128, 254]]
    buffer = io.BytesIO()
    Image.new("L", (100, 100), 255).save(buffer, format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels: over twice the limit, Pillow's error
    with pytest.raises(GenForgeError, match="big.png: declares more pixels than Pillow decodes safely"):
        decode_image(buffer.getvalue(), "big.png")


def test_the_cli_translates_a_file_and_a_folder_and_refuses_another_size(saved_translator, tmp_path):
    from typer.testing import CliRunner

    from genforge.cli import app
    from genforge.image2image.pyfunc import predict_images

    folder, generator, spec = saved_translator
    image = (np.random.default_rng(0).random((16, 16)) * 255).astype(np.uint8)
    save(tmp_path / "in/sub/a.png", image)
    save(tmp_path / "in/b.png", 255 - image)
    one = CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(tmp_path / "in/sub/a.png"),
                                   "--out", str(tmp_path / "a_out.png")])
    assert one.exit_code == 0, one.output
    expected = predict_images(generator, spec, [image], ["a"])[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a_out.png")), expected)
    many = CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(tmp_path / "in"),
                                    "--out", str(tmp_path / "out")])
    assert many.exit_code == 0 and "wrote 2 images" in many.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out/sub/a.png")), expected)
    save(tmp_path / "small.png", np.zeros((8, 8), np.uint8))
    small = CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(tmp_path / "small.png"),
                                     "--out", str(tmp_path / "x.png")])
    assert small.exit_code == 2 and "small.png (8x8)" in small.output and not (tmp_path / "x.png").exists()


def test_int8_weights_dequantize_to_the_generator_within_half_a_step(saved_translator, tmp_path):
    from genforge.image2image.quantize import load_int8, quantize_kernel, save_int8

    _, generator, _ = saved_translator
    save_int8(generator, tmp_path / "g.npz")
    stored = np.load(tmp_path / "g.npz")
    kernels = [k for k in stored.files if k.endswith(".q")]
    assert kernels and all(stored[k].dtype == np.int8 for k in kernels)
    copy = load_int8(generator, tmp_path / "g.npz")
    for (a, b) in zip(generator.get_weights(), copy.get_weights(), strict=True):
        assert a.shape == b.shape and np.abs(a - b).max() <= np.abs(a).max() / 127 / 2 + 1e-7
    q, scale = quantize_kernel(np.zeros((2, 3), np.float32), axis=1)  # an all-zero channel: scale 1, not 0/0
    assert q.tolist() == [[0, 0, 0], [0, 0, 0]] and scale.tolist() == [1.0, 1.0, 1.0]


def test_the_cli_refuses_outputs_that_would_overwrite_inputs_or_each_other(saved_translator, tmp_path):
    from typer.testing import CliRunner

    from genforge.cli import app

    folder, _, _ = saved_translator
    image = np.zeros((16, 16), np.uint8)
    save(tmp_path / "in/a.png", image)
    Image.fromarray(image).save(tmp_path / "in/a.jpg")
    (tmp_path / "in/folder.png").mkdir()  # a folder named like an image is not an input

    def translate(inp, out):
        return CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(inp), "--out", str(out)])

    same = translate(tmp_path / "in", tmp_path / "in")
    assert same.exit_code == 2 and "the output folder is the input folder or inside it" in same.output
    both = translate(tmp_path / "in", tmp_path / "out")
    assert both.exit_code == 2 and "a.png would both be written to" in both.output and "in/a.jpg and" in both.output
    assert not (tmp_path / "out").exists()
    (tmp_path / "in/a.jpg").unlink()
    assert translate(tmp_path / "in", tmp_path / "out").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]
    into_folder = translate(tmp_path / "in/a.png", tmp_path / "out")
    assert into_folder.exit_code == 2 and "is a folder; for an input file give an output file" in into_folder.output


def test_the_litert_generator_translates_as_the_keras_generator(saved_translator, tmp_path):
    """The optimize stage's LiteRT exports run through the same ``translate`` as the Keras generator: float32 gives
    the same pixels (at most one level off, by rounding), dynamic-range int8 nearly the same; the batch dimension is
    free."""
    import keras

    from genforge.core.litert import LiteRTNetwork, export
    from genforge.image2image.training import translate

    _, generator, _ = saved_translator
    rng = np.random.default_rng(0)
    varied = keras.models.clone_model(generator)  # kernels of unit-scale outputs, so that a wrong export shows
    varied.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) if w.ndim == 4 else w  # noqa: PLR2004
                        for w in generator.get_weights()])
    images = rng.integers(0, 256, (5, *SHAPE)).astype(np.uint8)
    want = translate(varied, images).astype(int)
    assert want.std() > 20  # noqa: PLR2004
    for kind, tolerance in (("float32", 1), ("int8", 255)):
        path = tmp_path / f"g_{kind}.tflite"
        path.write_bytes(export(varied, kind))
        got = translate(LiteRTNetwork(path), images, batch_size=2).astype(int)  # batches of 2, 2 and 1
        assert got.shape == want.shape and np.abs(got - want).max() <= tolerance
        if kind == "float32":  # an input of another size is refused by name, and the network still works after it
            network = LiteRTNetwork(path)
            first = network(images[:2] / 255.0)
            with pytest.raises(GenForgeError, match=r"takes inputs of shape \(batch, 16, 16, 1\), got \(2, 8, 8, 1\)"):
                network(np.zeros((2, 8, 8, 1), np.float32))
            np.testing.assert_array_equal(network(images[:2] / 255.0), first)
        if kind == "int8":
            assert np.abs(got - want).mean() < 8  # noqa: PLR2004
    assert path.stat().st_size < (tmp_path / "g_float32.tflite").stat().st_size  # kernels of 1,024 weights and up


def preprocessed(project: Path, params: dict) -> tuple[Path, dict]:
    """Write ``params``, then run the collect stage and glyphs-pix2pix's preprocess stage in ``project``: the
    processed folder and its dataset.json."""
    from conftest import write_params

    from genforge.core.config import load_params
    from tasks.collect import collect
    from tasks.preprocess import preprocess

    write_params(project, params)
    loaded = load_params(project / "params.yaml")
    collect(loaded)
    preprocess(loaded, NAME)
    processed = project / "data" / "processed" / NAME
    return processed, json.loads((processed / "dataset.json").read_text())


def test_a_zi2zi_generator_gets_every_character_in_each_target_face_split_by_character(project):
    from conftest import tiny_params, write_params

    from genforge.core.config import load_params
    from genforge.image2image.training import load_pairs

    (project / "fonts").mkdir()
    for name in ("DejaVuSans", "DejaVuSerif-Bold", "DejaVuSans-Bold"):
        (project / "fonts" / f"{name}.ttf").write_bytes((FONTS / f"{name}.ttf").read_bytes())
    params = tiny_params(project, (NAME,))
    params["generators"][NAME]["preprocess"]["target_faces"] = ["DejaVuSans-Bold", "DejaVuSerif-Bold"]
    processed, dataset = preprocessed(project, params)
    assert dataset["target_faces"] == ["DejaVuSans-Bold", "DejaVuSerif-Bold"]
    assert dataset["default_face"] == "DejaVuSerif-Bold"
    for split in ("train", "val", "test"):
        x, y, faces = load_pairs(processed, split)
        n = len(dataset["characters"][split])
        assert len(x) == len(y) == 2 * n and faces.tolist() == [0] * n + [1] * n  # face-major
        assert np.array_equal(x[:n], x[n:]) and not np.array_equal(y[:n], y[n:])  # one input, two faces
    assert not set(dataset["characters"]["test"]) & set(dataset["characters"]["train"])
    params["generators"][NAME]["preprocess"]["target_faces"] = ["DejaVuSans-Bold", "DejaVuSans"]  # not target_face
    write_params(project, params)
    with pytest.raises(GenForgeError, match=r"must hold target_face \(DejaVuSerif-Bold\)"):
        load_params(project / "params.yaml")


@pytest.fixture(scope="module")
def zi2zi_translator(tmp_path_factory):
    """A saved zi2zi generator of faces A and B (default B), its face embedding scaled up so that faces differ."""
    from genforge.image2image.store import load_generator, save_generator
    from genforge.image2image.training import build_translator, spec

    folder = tmp_path_factory.mktemp("zi2zi")
    model = build_translator(tiny_train(), SHAPE, seed=0, faces=2)
    table = next(layer for layer in model.generator.layers if layer.name.startswith("embedding"))
    table.set_weights([np.random.default_rng(0).normal(0, 3, (2, 4)).astype(np.float32)])
    save_generator(folder, model.generator, spec(tiny_train(), SHAPE, {"target_faces": ["A", "B"],
                                                                       "default_face": "B"}))
    return folder, model, *load_generator(folder)


def test_a_zi2zi_generator_trains_on_faces_and_draws_the_face_asked_for(zi2zi_translator, saved_translator):
    import keras

    from genforge.image2image.pyfunc import predict_images
    from genforge.image2image.training import training_dataset

    _, model, generator, spec = zi2zi_translator
    assert spec["faces"] == ["A", "B"] and spec["default_face"] == "B"
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, *SHAPE)).astype(np.uint8)
    (a, f), b = next(iter(training_dataset(x, x, tiny_train(), seed=0, start_step=0, stop_step=1,
                                           faces=np.array([0, 1, 0, 1, 0, 1], np.int32))))
    assert a.shape == b.shape == (2, *SHAPE) and f.dtype == "int32" and set(f.numpy()) <= {0, 1}
    before = model.generator.get_weights()[0].copy()
    logs = model.train_step(((keras.ops.convert_to_tensor(a), f), keras.ops.convert_to_tensor(b)))
    assert np.isfinite(float(logs["d_loss"])) and not np.array_equal(before, model.generator.get_weights()[0])
    images, names = [x[i, ..., 0] for i in range(3)], ["a.png", "b.png", "c.png"]
    default, face_a = (predict_images(generator, spec, images, names, face=face) for face in (None, "A"))
    assert np.array_equal(default, predict_images(generator, spec, images, names, face="B"))
    assert not np.array_equal(default, face_a)
    with pytest.raises(GenForgeError, match="face 'C' is not one this model draws; it draws A, B"):
        predict_images(generator, spec, images, names, face="C")
    _, one_face, one_spec = saved_translator
    with pytest.raises(GenForgeError, match="this model draws one face and takes no face"):
        predict_images(one_face, one_spec, images, names, face="A")


def test_the_served_zi2zi_model_and_the_cli_take_a_face(zi2zi_translator, tmp_path):
    import pandas as pd
    from mlflow.exceptions import MlflowException
    from typer.testing import CliRunner

    from genforge.cli import app
    from genforge.core.litert import LiteRTNetwork, export
    from genforge.image2image.pyfunc import Translator, image_from_base64, png_base64, predict_images, signature
    from genforge.image2image.training import translate

    folder, _, generator, spec = zi2zi_translator
    image = np.random.default_rng(2).integers(0, 256, SHAPE[:2]).astype(np.uint8)
    want = predict_images(generator, spec, [image], ["x"], face="A")[0]
    served = Translator()
    served.load_context(type("Context", (), {"artifacts": {"generator": str(folder)}})())
    frame = pd.DataFrame({"image": [png_base64(image)]})
    assert np.array_equal(image_from_base64(served.predict(None, frame, {"face": "A"})["image"][0]), want)
    with pytest.raises(MlflowException, match="face 'Z' is not one this model draws"):
        served.predict(None, frame, {"face": "Z"})
    assert signature(spec).params.to_dict() == [{"name": "face", "type": "string", "default": "B", "shape": None}]
    save(tmp_path / "in.png", image)
    out = CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(tmp_path / "in.png"),
                                   "--out", str(tmp_path / "out.png"), "--face", "A"])
    assert out.exit_code == 0 and np.array_equal(np.asarray(Image.open(tmp_path / "out.png")), want)
    bad = CliRunner().invoke(app, ["translate", "--model", str(folder), "--input", str(tmp_path / "in.png"),
                                   "--out", str(tmp_path / "bad.png"), "--face", "Z"])
    assert bad.exit_code == 2 and "it draws A, B" in bad.output and not (tmp_path / "bad.png").exists()
    path = tmp_path / "zi2zi.tflite"  # the LiteRT export takes the face beside the image
    path.write_bytes(export(generator, "float32"))
    faces = np.array([0, 1, 1], np.int32)
    images = np.stack([image] * 3)[..., None]
    got = translate(LiteRTNetwork(path), images, batch_size=2, faces=faces).astype(int)
    assert np.abs(got - translate(generator, images, faces=faces).astype(int)).max() <= 1


def test_face_indices_and_a_spec_that_does_not_fit_the_generator_are_refused(zi2zi_translator, saved_translator,
                                                                             tmp_path):
    import shutil

    from genforge.image2image.store import SPEC, load_generator
    from genforge.image2image.training import translate

    folder, _, generator, spec = zi2zi_translator
    x = np.zeros((3, *SHAPE), np.uint8)
    for faces, message in ((np.array([0, -1, 1]), r"must lie in 0..1; got -1..1"),
                           (np.array([0, 2, 1]), r"must lie in 0..1; got 0..2"),
                           (np.array([0.0, 1.0, 1.7]), "one integer index per image: 3 of them; got float64"),
                           (np.array([0, 1]), r"3 of them; got int64 \(2,\)"),
                           (None, "this generator draws 2 faces: give each image's face index")):
        with pytest.raises(GenForgeError, match=message):
            translate(generator, x, faces=faces)
    with pytest.raises(GenForgeError, match="draws one face and takes no face indices"):
        translate(saved_translator[1], x, faces=np.zeros(3, np.int32))
    assert translate(generator, x[:0], faces=np.zeros(0, np.int32)).shape == (0, *SHAPE)  # no images, no outputs
    for i, (change, message) in enumerate((({"faces": ["A", "B", "C"]}, "it lists 3 faces, the generator draws 2"),
                            ({"default_face": None}, r"its default_face None is not among its faces \['A', 'B'\]"),
                            ({"faces": None}, "it lists 0 faces, the generator draws 2"))):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(folder, copy)
        (copy / SPEC).write_text(json.dumps({**spec, **change}))
        with pytest.raises(GenForgeError, match=f"spec.json does not fit the generator beside it: {message}"):
            load_generator(copy)
    with pytest.raises(GenForgeError, match=r"finite scores; pairs \[1\] are not"):
        paired_difference(np.array([0.1, np.nan, 0.3]), np.array([0.1, 0.2, 0.2]))


@pytest.mark.parametrize(("change", "message"), [
    ({"target_faces": ["NimbusRoman-Bold"]}, "needs two or more face names"),
    ({"target_faces": ["NimbusRoman-Bold", " C059-Roman"]}, "without surrounding spaces"),
    ({"target_faces": ["NimbusRoman-Bold", "nimbusroman-bold"]}, "names a face twice"),
    ({"target_faces": ["NimbusRoman-Bold", "C059-Roman"], "format": "folder"}, "is for format glyphs"),
    ({"format": "edges", "canny_sigma": 9}, r"canny_sigma \(9.0\) blurs a 64-pixel drawing .* at most size / 8"),
    ({"format": "edges", "drawings_folder": "../elsewhere"}, "must be a path inside the source"),
    ({"format": "edges", "drawings_folder": "/etc"}, "must be a path inside the source"),
])
def test_preprocess_settings_that_cannot_work_are_refused_by_name(tmp_path, change, message):
    import yaml
    from conftest import REPO

    from genforge.core.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generators"][NAME]["preprocess"].update(change)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(GenForgeError, match=message):
        load_params(tmp_path / "params.yaml")


def test_an_edge_map_traces_a_square_and_a_drawing_is_squared_on_white():
    from genforge.image2image.drawings import edge_map, squared

    image = np.full((16, 16), 255, np.uint8)
    image[4:12, 4:12] = 0  # a black square: its outline is at rows and columns 3.5 and 11.5
    edges = edge_map(image, sigma=1.0)
    assert edges.dtype == np.uint8 and set(np.unique(edges)) == {0, 255}
    rows, cols = np.nonzero(edges == 0)
    off_outline = np.minimum(np.minimum(np.abs(rows - 3.5), np.abs(rows - 11.5)),
                             np.minimum(np.abs(cols - 3.5), np.abs(cols - 11.5)))
    assert off_outline.max() <= 1  # every edge pixel on the outline, none inside or far outside
    for line in (3, 4), (11, 12):  # each of the four sides is traced
        assert np.isin(rows, line).sum() >= 6 and np.isin(cols, line).sum() >= 6  # noqa: PLR2004
    assert squared(np.zeros((2, 5), np.uint8)).tolist() == [[255] * 5, [0] * 5, [0] * 5, [255] * 5, [255] * 5]


def write_drawings(folder: Path) -> None:
    """Drawings in three categories: a series of two squares, a red disc on a transparent page, a moon at the top,
    a blank page, a copy of a square, one too large (48x48) and one excluded."""
    square = np.full((12, 18), 255, np.uint8)
    square[2:10, 5:13] = 0
    save(folder / "animals" / "square_1.png", square)
    save(folder / "animals" / "square_2.png", np.pad(square[:, 3:15], 2, constant_values=255))
    disc = np.zeros((20, 20, 4), np.uint8)  # transparent black paper
    yy, xx = np.mgrid[:20, :20]
    disc[(yy - 10) ** 2 + (xx - 10) ** 2 < 36] = (255, 0, 0, 255)
    save(folder / "shapes" / "disc.png", disc, "RGBA")
    moon = np.full((16, 16), 255, np.uint8)
    moon[(yy[:16, :16] - 8) ** 2 + (xx[:16, :16] - 6) ** 2 < 25] = 60
    save(folder / "moon.png", moon)
    save(folder / "shapes" / "blank.png", np.full((16, 16), 255, np.uint8))
    save(folder / "shapes" / "copy.png", square)
    save(folder / "shapes" / "huge.png", np.zeros((48, 48), np.uint8))
    save(folder / "skip" / "square.png", square)


def test_drawings_are_paired_with_their_edges_split_by_series_and_the_left_out_named(project):
    from conftest import folder_digest, tiny_params


    write_drawings(project / "clipart" / "png")
    params = tiny_params(project, (NAME,))
    params["collect"]["sources"].append({"name": "clipart", "kind": "file", "path": "clipart",
                                         "sha256": folder_digest(project / "clipart")})
    gen = params["generators"][NAME]
    gen["data"] = ["clipart"]
    gen["preprocess"] = {"format": "edges", "size": 16, "drawings_folder": "png", "exclude": ["skip/*"],
                         "canny_sigma": 1.0, "max_pixels": 40 * 40, "val_fraction": 0.1, "test_fraction": 0.15}
    processed, dataset = preprocessed(project, params)
    assert dataset["left_out_names"] == {"too_large": ["shapes/huge.png"], "blank": ["shapes/blank.png"],
                                         "duplicates": ["shapes/copy.png"]}
    splits = dataset["names"]
    assert sorted(sum(splits.values(), [])) == ["animals/square_1.png", "animals/square_2.png", "moon.png",
                                                "shapes/disc.png"]
    assert any({"animals/square_1.png", "animals/square_2.png"} <= set(names) for names in splits.values())
    for split, names in splits.items():
        x, y = np.load(processed / f"{split}_input.npy"), np.load(processed / f"{split}_target.npy")
        assert x.shape == y.shape == (len(names), 16, 16, 1) and set(np.unique(x)) <= {0, 255}
        if "shapes/disc.png" in names:  # red (luminance 76) on the transparent page composited on white
            disc = y[names.index("shapes/disc.png"), ..., 0]
            assert disc[0, 0] == 255 and abs(int(disc[8, 8]) - 76) <= 1
    train_categories = {name.split("/")[0] if "/" in name else "." for name in splits["train"]}
    assert (processed / "domain.npy").exists() == (len(train_categories) > 1)
    metrics = json.loads((project / "metrics" / NAME / "preprocess.json").read_text())
    assert metrics["left_out"] == {"too_large": 1, "blank": 1, "duplicates": 1} and "names" not in metrics


def test_a_missing_drawings_folder_an_exclude_leaving_nothing_and_a_corrupt_drawing_are_named(tmp_path):
    from genforge.image2image.drawings import drawing_pairs, list_drawings

    with pytest.raises(GenForgeError, match=r"png: not found; preprocess.drawings_folder"):
        list_drawings(tmp_path / "png", [])
    write_drawings(tmp_path / "png")
    with pytest.raises(GenForgeError, match=r"no drawings .* of 8 images are left by preprocess.exclude"):
        list_drawings(tmp_path / "png", ["*"])
    with pytest.raises(GenForgeError, match=r"exclude patterns \['skip', 'shapes/\['\] match no drawing"):
        list_drawings(tmp_path / "png", ["skip", "skip/*", "shapes/["])  # a folder's name alone; a typo
    (tmp_path / "png" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(GenForgeError, match=r"bad.png: not an image that Pillow can decode"):
        drawing_pairs(tmp_path / "png", list_drawings(tmp_path / "png", []), size=8, sigma=1.0, max_pixels=10**6)
    with pytest.raises(GenForgeError, match=r"none of 1 drawings gives a pair \(0 too_large, 1 blank"):
        drawing_pairs(tmp_path / "png", ["shapes/blank.png"], size=8, sigma=1.0, max_pixels=10**6)


def test_paired_folders_with_category_folders_get_a_feature_network_domain(project):
    from conftest import folder_digest, tiny_params

    rng = np.random.default_rng(0)
    for category in ("round", "square"):
        for i in range(3):
            image = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            save(project / "pairs" / "A" / category / f"{i}.png", image)
            save(project / "pairs" / "B" / category / f"{i}.png", 255 - image)
    params = tiny_params(project, (NAME,))
    params["collect"]["sources"].append({"name": "pairs", "kind": "file", "path": "pairs",
                                         "sha256": folder_digest(project / "pairs")})
    params["generators"][NAME]["data"] = ["pairs"]
    params["generators"][NAME]["preprocess"] = {"format": "folder", "size": 16, "val_fraction": 0.1,
                                                "test_fraction": 0.15}
    processed, dataset = preprocessed(project, params)
    train = dataset["names"]["train"]
    assert len(train) == 4 and dataset["domain_classes"] == ["round", "square"]  # 1 test pair, 1 validation pair
    labels = np.load(processed / "domain_labels.npy")
    assert labels.tolist() == [name.startswith("square") for name in train]
    domain, targets = np.load(processed / "domain.npy"), np.load(processed / "train_target.npy")
    assert np.array_equal(domain, targets)
    inputs = np.load(processed / "train_input.npy")
    assert np.array_equal(targets, 255 - inputs)  # each target is its own input's partner
