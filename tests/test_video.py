"""The video modality's parts on values worked out by hand: Moving MNIST's bounce and paste, the patch layers, the
scores per horizon and the baselines, closed-loop generation against the unrolled training model, and the bad
inputs a user meets (a short clip, frames of different sizes, a file that does not decode, a bad request)."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from genforge import GenForgeError
from genforge.core.pixel_metrics import mse, psnr, ssim
from genforge.video.config import Train
from genforge.video.media import frames_from_base64, gif_bytes, png_base64, read_clip, strip
from genforge.video.metrics import black_frame, copy_last_frame, mean_frame, per_horizon
from genforge.video.moving_mnist import bounce, render, sequences

FRAME = (16, 16, 1)


def test_a_digit_bounces_off_the_edge_by_as_much_as_it_overshot():
    # 1-D: 0.8 -> 1.1 is 0.1 past the edge, so 0.9 and turning; then 0.6, 0.3, 0.0, then -0.3 -> 0.3 and turning
    path = bounce(np.array([0.8]), np.array([0.3]), 7)[0]
    np.testing.assert_allclose(path, [0.8, 0.9, 0.6, 0.3, 0.0, 0.3, 0.6], atol=1e-12)


def test_digits_are_pasted_at_their_corners_and_overlaps_keep_the_maximum():
    digits = np.zeros((1, 2, 28, 28), np.uint8)
    digits[0, 0, 0, 0], digits[0, 1, 0, 0] = 100, 200
    digits[0, 0, 5, 5] = 50
    corners = np.array([[[[1, 2], [1, 2]], [[0, 0], [3, 4]]]])  # frame 0: both at (1, 2); frame 1: apart
    frames = render(digits, corners, 32)
    assert frames.shape == (1, 2, 32, 32, 1)
    assert frames[0, 0, 1, 2, 0] == 200 and frames[0, 0, 6, 7, 0] == 50  # the maximum where they overlap
    assert frames[0, 1, 0, 0, 0] == 100 and frames[0, 1, 3, 4, 0] == 200 and frames[0, 1, 5, 5, 0] == 50
    assert int(frames.astype(int).sum()) == 200 + 50 + 100 + 200 + 50


def test_sequences_are_deterministic_by_seed_and_stay_on_the_canvas():
    digits = np.full((5, 28, 28), 255, np.uint8)
    a, chosen = sequences(digits, np.random.default_rng(3), 4, frames=6, per_sequence=2, size=40, step=0.2)
    b, _ = sequences(digits, np.random.default_rng(3), 4, frames=6, per_sequence=2, size=40, step=0.2)
    assert a.shape == (4, 6, 40, 40, 1) and np.array_equal(a, b) and chosen.shape == (4, 2)
    assert (a.reshape(24, -1) == 255).sum(1).min() >= 28 * 28  # every frame holds at least one whole digit
    with pytest.raises(GenForgeError, match="uint8 28x28 digits"):
        sequences(np.zeros((5, 8, 8), np.uint8), np.random.default_rng(0), 1, frames=2, per_sequence=1, size=32,
                  step=0.1)


def test_ssim_of_constant_frames_is_the_luminance_term_and_psnr_follows_mse():
    a, b = np.full((1, 1, 16, 16, 1), 0.5), np.full((1, 1, 16, 16, 1), 0.25)
    c1 = 0.01 ** 2  # Wang et al. 2004: (K1 L)^2 with L = 1; no variance, so the structure term is C2 / C2 = 1
    assert ssim(a, b)[0, 0] == pytest.approx((2 * 0.5 * 0.25 + c1) / (0.5 ** 2 + 0.25 ** 2 + c1), abs=1e-12)
    assert ssim(a, a)[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert mse(a, b)[0, 0] == pytest.approx(0.0625)
    assert psnr(np.array([0.0625]))[0] == pytest.approx(10 * np.log10(16))
    with pytest.raises(GenForgeError, match="must both be"):
        ssim(a, b[:, :, :8])
    with pytest.raises(GenForgeError, match="SSIM needs frames of at least 11x11 pixels"):
        ssim(a[:, :, :8, :8], b[:, :, :8, :8])


def test_ssim_agrees_with_tensorflows_which_the_training_loss_uses():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    true = rng.random((2, 3, 20, 24, 1))
    predicted = np.clip(true + rng.normal(0, 0.2, true.shape), 0, 1)
    theirs = tf.image.ssim(tf.constant(predicted.reshape(6, 20, 24, 1), tf.float32),
                           tf.constant(true.reshape(6, 20, 24, 1), tf.float32), max_val=1.0).numpy()
    np.testing.assert_allclose(ssim(predicted, true).ravel(), theirs, atol=1e-4)  # TensorFlow computes in float32


def test_the_baselines_repeat_the_last_frame_or_the_mean_frame():
    context = np.stack([np.full((12, 12, 1), v, np.float32) for v in (0.0, 0.2, 0.4)])[None]
    assert copy_last_frame(context, 2).shape == (1, 2, 12, 12, 1) and np.all(copy_last_frame(context, 2) == 0.4)
    np.testing.assert_allclose(mean_frame(context, 3), 0.2, atol=1e-7)
    assert black_frame(context, 4).shape == (1, 4, 12, 12, 1) and not black_frame(context, 4).any()
    scores = per_horizon(copy_last_frame(context, 2), np.full((1, 2, 12, 12, 1), 0.5, np.float32))
    np.testing.assert_allclose(scores["mse"], [0.01, 0.01], atol=1e-7)
    np.testing.assert_allclose(scores["psnr"], [20.0, 20.0], atol=1e-4)


def test_patches_go_onto_the_channels_in_reading_order_and_come_back():
    from genforge.video.models import _layers

    patchify, unpatchify = (cls(2) for cls in _layers())
    image = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4, 1)
    patches = np.asarray(patchify(image))
    assert patches.shape == (1, 1, 2, 2, 4)
    assert patches[0, 0, 0, 0].tolist() == [0, 1, 4, 5] and patches[0, 0, 1, 1].tolist() == [10, 11, 14, 15]
    np.testing.assert_array_equal(np.asarray(unpatchify(patches)), image)


def tiny_train(arch: str) -> Train:
    return Train.model_construct(arch=arch, context=3, rollout=2, patch=4, filters=[4], kernel=3, learning_rate=1e-3,
                                 clipnorm=0.0, ssim_weight=1.0)


@pytest.mark.parametrize("arch", ["window", "convlstm"])
def test_closed_loop_generation_is_the_unrolled_training_model(arch):
    from genforge.video.models import generate
    from genforge.video.training import build_predictor

    model = build_predictor(tiny_train(arch), FRAME, 2, seed=0)
    context = np.random.default_rng(0).random((3, 3, *FRAME)).astype(np.float32)
    unrolled = 1 / (1 + np.exp(-np.asarray(model(context), np.float64)))
    spec = {"arch": arch, "context": 3, "horizon": 2, "frame_shape": list(FRAME)}
    np.testing.assert_allclose(generate(model, spec, context, 2), unrolled, atol=1e-5)
    assert generate(model, spec, context, 5).shape == (3, 5, *FRAME)  # any number of frames, not only the horizon
    with pytest.raises(GenForgeError, match="the clip has 2 frames; this model needs 3 frames of context"):
        generate(model, spec, context[:, :2], 2)
    with pytest.raises(GenForgeError, match=r"expected context frames \(sequences, frames, 16, 16, 1\)"):
        generate(model, spec, context[:, :, :8], 2)


@pytest.fixture(scope="module")
def saved_predictor(tmp_path_factory):
    from genforge.video.store import load_predictor, save_predictor
    from genforge.video.training import build_predictor

    folder = tmp_path_factory.mktemp("predictor")
    model = build_predictor(tiny_train("window"), FRAME, 2, seed=0)
    save_predictor(folder, model, {"arch": "window", "context": 3, "horizon": 2, "frame_shape": list(FRAME)})
    return folder, *load_predictor(folder)


def clip(n: int, size: int = 16) -> np.ndarray:
    return (np.random.default_rng(n).random((n, size, size, 1)) * 255).astype(np.uint8)


def test_a_clip_reads_back_from_a_gif_and_a_folder_of_frames(tmp_path):
    frames = clip(4)
    (tmp_path / "clip.gif").write_bytes(gif_bytes(frames))
    assert np.array_equal(read_clip(tmp_path / "clip.gif"), frames)  # grayscale GIF frames are lossless
    repeated = frames[[0, 1, 1, 1, 2, 3, 3]]  # the writer stores a repeated frame once, for 3 and 2 durations
    (tmp_path / "repeated.gif").write_bytes(gif_bytes(repeated, ms=40))
    assert Image.open(tmp_path / "repeated.gif").n_frames == 4
    assert np.array_equal(read_clip(tmp_path / "repeated.gif"), repeated)
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f[..., 0]).save(tmp_path / "frames" / f"{i:02d}.png")
    assert np.array_equal(read_clip(tmp_path / "frames"), frames)
    assert strip([frames[:2], frames]).shape == (2 * 16 + 2, 4 * 16 + 3 * 2)


def write_mp4(path, frames: np.ndarray) -> None:
    """``uint8 (T, H, W, 1)`` frames as an MPEG-4 part 2 video (an encoder every FFmpeg build has)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "1"}  # the finest quantizer: near-lossless
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f[..., 0], format="gray")))
        container.mux(stream.encode())


def test_a_clip_reads_back_from_a_video_file(tmp_path):
    frames = np.zeros((6, 32, 32, 1), np.uint8)
    for i in range(6):
        frames[i, 8:20, 4 + 3 * i:12 + 3 * i] = 255  # a bar moving right
    write_mp4(tmp_path / "clip.mp4", frames)
    decoded = read_clip(tmp_path / "clip.mp4")
    assert decoded.shape == frames.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - frames).mean() < 4  # lossy, but close
    assert decoded[3, 14, 4 + 9 + 4] > 200 and decoded[3, 14, 2] < 50  # the bar where it was in frame 3


def test_bad_clips_are_refused_by_name(tmp_path):
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 and then nothing")
    with pytest.raises(GenForgeError, match="broken.mp4: cannot decode it as a video"):
        read_clip(tmp_path / "broken.mp4")
    (tmp_path / "broken.gif").write_bytes(b"GIF89a not really")
    with pytest.raises(GenForgeError, match="broken.gif: cannot decode it as an image"):
        read_clip(tmp_path / "broken.gif")
    with pytest.raises(GenForgeError, match="missing.gif: no such file"):
        read_clip(tmp_path / "missing.gif")
    (tmp_path / "mixed").mkdir()
    Image.fromarray(clip(1)[0, ..., 0]).save(tmp_path / "mixed/a.png")
    Image.fromarray(clip(1, 8)[0, ..., 0]).save(tmp_path / "mixed/b.png")
    with pytest.raises(GenForgeError, match=r"the frames differ in size \(a.png 16x16, b.png 8x8\)"):
        read_clip(tmp_path / "mixed")


def test_the_served_model_continues_a_clip_as_the_cli_does_and_refuses_bad_requests(saved_predictor):
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from genforge.video.pyfunc import VideoGenerator, predict_frames

    folder, model, spec = saved_predictor
    served = VideoGenerator()
    served.model, served.spec = model, spec
    frames = clip(5)
    answer = served.predict(None, pd.DataFrame({"frames": [[png_base64(f) for f in frames]], "num_frames": [4]}))
    got = frames_from_base64(list(answer["frames"][0]))
    assert got.shape == (4, *FRAME) and np.array_equal(got, predict_frames(model, spec, frames, 4))
    default = served.predict(None, pd.DataFrame({"frames": [[png_base64(f) for f in frames]]}))
    assert len(default["frames"][0]) == spec["horizon"]

    def refused(request, message):
        with pytest.raises(MlflowException, match=message) as caught:
            served.predict(None, pd.DataFrame(request))
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE"

    refused({"clip": [[png_base64(frames[0])]]}, "the input needs the column frames")
    refused({"frames": [[png_base64(f) for f in frames[:2]]]}, "row 0: the clip has 2 frames; this model needs 3")
    refused({"frames": [[png_base64(f) for f in clip(3, 8)]]}, "row 0: the frames are 8x8; this model takes 16x16")
    refused({"frames": [[png_base64(f) for f in frames]], "num_frames": [0]}, "num_frames must be between 1 and")
    refused({"frames": [[png_base64(f) for f in frames]], "num_frames": ["ten"]}, "num_frames must be an integer")
    refused({"frames": [[png_base64(frames[0]), png_base64(clip(1, 8)[0])]]}, r"frames differ in size")
    refused({"frames": [["bm90IGFuIGltYWdl"]]}, "row 0: frame 0: not a base64 image")


def test_the_cli_writes_the_frames_after_a_clip_as_a_gif(saved_predictor, tmp_path):
    from typer.testing import CliRunner

    from genforge.cli import app
    from genforge.video.pyfunc import predict_frames

    folder, model, spec = saved_predictor
    frames = clip(5)
    (tmp_path / "in.gif").write_bytes(gif_bytes(frames))
    result = CliRunner().invoke(app, ["generate", "--model", str(folder), "--input", str(tmp_path / "in.gif"),
                                      "--frames", "3", "--out", str(tmp_path / "out.gif")])
    assert result.exit_code == 0, result.output
    assert np.array_equal(read_clip(tmp_path / "out.gif"), predict_frames(model, spec, frames, 3))
    (tmp_path / "short.gif").write_bytes(gif_bytes(frames[:2]))
    short = CliRunner().invoke(app, ["generate", "--model", str(folder), "--input", str(tmp_path / "short.gif"),
                                     "--out", str(tmp_path / "x.gif")])
    assert short.exit_code == 2 and "the clip has 2 frames; this model needs 3 frames of context" in short.output
    assert not (tmp_path / "x.gif").exists()


def test_a_base64_frame_round_trips():
    frame = clip(1)[0]
    assert np.array_equal(frames_from_base64([png_base64(frame)])[0], frame)
    assert base64.b64decode(png_base64(frame))[:4] == b"\x89PNG"
    assert Image.open(io.BytesIO(gif_bytes(clip(3)))).n_frames == 3


def test_the_training_loss_is_cross_entropy_plus_the_ssim_term():
    from genforge.video.training import frame_loss

    logits = np.zeros((1, 2, 12, 12, 1), np.float32)  # probability 0.5 everywhere
    half, ones = np.full_like(logits, 0.5), np.ones_like(logits)
    loss = frame_loss(1.0, (12, 12, 1))
    assert float(loss(half, logits)) == pytest.approx(np.log(2), abs=1e-5)  # SSIM 1: no term
    c1 = 0.01 ** 2  # 0.5 against 1 in flat frames: the luminance term only
    luminance = (2 * 0.5 * 1.0 + c1) / (0.5 ** 2 + 1.0 + c1)
    assert float(loss(ones, logits)) == pytest.approx(np.log(2) + 1 - luminance, abs=1e-4)
    assert float(frame_loss(0.0, (12, 12, 1))(ones, logits)) == pytest.approx(np.log(2), abs=1e-6)
    # on random frames the SSIM term is the metric's SSIM (computed in float64 by the metric, float32 here)
    rng = np.random.default_rng(1)
    true = rng.random((2, 3, 16, 20, 1)).astype(np.float32)
    logits = rng.normal(0, 2, true.shape).astype(np.float32)
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
    bce = float(np.mean(-(true * np.log(probabilities) + (1 - true) * np.log(1 - probabilities))))
    expected = bce + 1 - float(ssim(probabilities, true.astype(np.float64)).mean())
    assert float(frame_loss(1.0, (16, 20, 1))(true, logits)) == pytest.approx(expected, abs=1e-4)
