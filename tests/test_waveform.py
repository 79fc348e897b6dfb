"""The waveform modality: mu-law codes, log-mel frames and loudness worked out by hand, WAV files in (another sample
rate, another channel count, mu-law, a corrupt file) and out, the preprocess stage's splits and left-out files, and
sampling one clip per seed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile
from conftest import WAVEFORM, tiny_params, write_params

from genforge import GenForgeError
from genforge.waveform.mulaw import decode, encode
from genforge.waveform.spectral import frechet_log_mel, log_mel, mel_frames, rms_dbfs
from genforge.waveform.wav import read_wav, wav_bytes


def test_mu_law_codes_by_hand():
    # F(0.5) = ln(1 + 127.5) / ln(256) = 0.875702; floor((F + 1) / 2 * 255 + 0.5) = floor(239.65) = 239, and 16 for
    # -0.5 by symmetry (255 - 239)
    assert encode([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0]).tolist() == [0, 16, 128, 239, 255, 255]
    assert encode(np.zeros(2)).dtype == np.uint8
    # code 128: F = 1/255, x = (256^(1/255) - 1) / 255 = 8.621e-5
    assert decode([0, 255]).tolist() == [-1.0, 1.0]
    assert decode([128])[0] == pytest.approx(8.621e-5, rel=1e-3)
    codes = np.arange(256)
    assert (encode(decode(codes)) == codes).all()  # every code decodes to the centre of its own level
    with pytest.raises(ValueError, match="NaN"):
        encode([0.0, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        decode([256])
    with pytest.raises(ValueError, match="not int16"):  # PCM integers must be scaled first, not clipped to +-1
        encode(np.array([1000, -1000], np.int16))
    with pytest.raises(ValueError, match="integer codes"):
        decode([127.5])


def test_a_sine_falls_in_its_mel_band_and_the_frames_are_counted():
    rate = 8000
    sine = np.sin(2 * np.pi * 1000 * np.arange(4000) / rate)
    frames = log_mel(sine, rate, frame=256, hop=128, bands=8)
    assert frames.shape == (1 + (4000 - 256) // 128, 8)
    # 8 bands between 20 Hz (31.8 mel) and 4 kHz (2146.1 mel): centres every 234.9 mel from 266.7; 1 kHz is 1000
    # mel, nearest the centre of band 3 (971.5 mel)
    assert set(frames.argmax(axis=1).tolist()) == {3}
    assert log_mel(sine[:100], rate, frame=256, hop=128, bands=8).shape == (0, 8)
    assert mel_frames([sine, sine], rate, frame=256, hop=128, bands=8).shape == (2 * frames.shape[0], 8)


def test_the_frechet_distance_of_log_mel_frames_and_its_errors():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))
    assert frechet_log_mel(real, real) == pytest.approx(0.0, abs=1e-9)
    assert frechet_log_mel(real, real + 2.0) == pytest.approx(4 * 2.0**2, rel=1e-9)  # |mu1 - mu2|^2, same covariance
    with pytest.raises(GenForgeError, match="too few for a covariance over 4 bands"):
        frechet_log_mel(real, real[:4])


def test_loudness_by_hand():
    t = np.arange(8000) / 8000
    assert rms_dbfs(np.sin(2 * np.pi * 100 * t)) == pytest.approx(20 * np.log10(1 / np.sqrt(2)), abs=1e-6)  # -3.01
    assert rms_dbfs(np.full(10, -1.0)) == 0.0
    assert rms_dbfs(np.zeros(10)) == float("-inf")


def test_the_unigram_baseline_by_hand():
    from genforge.waveform.stages.evaluate import unigram_bits

    # add-one counts: code 0: 3, code 1: 2, the other 254 codes 1 each; 259 in all
    expected = np.mean([-np.log2(3 / 259), -np.log2(2 / 259), -np.log2(1 / 259)])
    assert unigram_bits(np.array([0, 0, 1]), np.array([0, 1, 2])) == pytest.approx(expected)


def test_a_wav_of_another_rate_and_channel_count_is_resampled_and_mixed_and_named(tmp_path):
    stereo = np.stack([np.full(1600, 0.25), np.full(1600, 0.75)], axis=1)
    soundfile.write(tmp_path / "stereo.wav", stereo, 16000, subtype="PCM_16")
    samples, notes = read_wav(tmp_path / "stereo.wav", 8000)
    assert notes == ["2 channels mixed to mono", "16000 Hz resampled to 8000 Hz"]
    assert samples.dtype == np.float32 and samples.shape == (800,)
    assert samples[200:600] == pytest.approx(0.5, abs=1e-3)  # the mean of the channels, away from the filter's edges
    soundfile.write(tmp_path / "ulaw.wav", np.full(400, 0.5), 8000, subtype="ULAW")
    samples, notes = read_wav(tmp_path / "ulaw.wav", 8000)
    assert notes == ["ULAW decoded"] and samples == pytest.approx(0.5, abs=0.02)


def test_a_corrupt_or_empty_wav_is_named(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(GenForgeError, match=r"broken\.wav: not a WAV file this can read"):
        read_wav(tmp_path / "broken.wav", 8000)
    with pytest.raises(GenForgeError, match=r"missing\.wav: no such file, or not a regular file"):
        read_wav(tmp_path / "missing.wav", 8000)
    soundfile.write(tmp_path / "empty.wav", np.zeros(0), 8000, subtype="PCM_16")
    with pytest.raises(GenForgeError, match=r"empty\.wav: the WAV file holds no samples"):
        read_wav(tmp_path / "empty.wav", 8000)
    soundfile.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.5]), 8000, subtype="FLOAT")
    with pytest.raises(GenForgeError, match=r"nan\.wav: holds NaN or infinite samples"):
        read_wav(tmp_path / "nan.wav", 8000)
    # a 10-sample file whose header declares 2,147,483,647 Hz: resampling it would need a 320 GiB filter
    soundfile.write(tmp_path / "fast.wav", np.zeros(10), 8000, subtype="PCM_16")
    data = bytearray((tmp_path / "fast.wav").read_bytes())
    data[24:28] = (2**31 - 1).to_bytes(4, "little")  # the fmt chunk's sample rate
    (tmp_path / "fast.wav").write_bytes(bytes(data))
    with pytest.raises(GenForgeError, match=r"fast\.wav: its header declares 2147483647 Hz, outside 1000\.\.384000"):
        read_wav(tmp_path / "fast.wav", 8000)


def test_compressed_and_over_range_wav_files_are_read_and_named(tmp_path):
    voice = 0.5 * np.sin(2 * np.pi * 200 * np.arange(1600) / 8000)
    soundfile.write(tmp_path / "gsm.wav", voice, 8000, subtype="GSM610")  # a stream that cannot seek
    samples, notes = read_wav(tmp_path / "gsm.wav", 8000)
    assert notes == ["GSM610 decoded"] and samples.size >= 1600  # padded to whole GSM blocks
    soundfile.write(tmp_path / "loud.wav", np.array([0.0, 2.0, -3.0, 0.5]), 8000, subtype="FLOAT")
    samples, notes = read_wav(tmp_path / "loud.wav", 8000)
    assert notes == ["FLOAT decoded", "2 samples beyond full scale clipped"]
    assert samples.tolist() == [0.0, 1.0, -1.0, 0.5]


def test_wav_bytes_hold_16_bit_mono_samples():
    data = wav_bytes(np.array([0.0, 0.5, -0.5, 1.0, 2.0]), 8000)
    samples, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    assert data[:4] == b"RIFF" and rate == 8000
    assert samples.tolist() == [0, 16384, -16384, 32767, 32767]  # 2.0 is clipped to full scale
    with pytest.raises(GenForgeError, match="finite mono float samples"):
        wav_bytes(np.array([0.0, np.nan]), 8000)
    with pytest.raises(GenForgeError, match=r"shape \(2, 2\)"):
        wav_bytes(np.zeros((2, 2)), 8000)
    with pytest.raises(GenForgeError, match="float samples"):
        wav_bytes(np.array([1, -1]), 8000)
    with pytest.raises(GenForgeError, match=r"from 1000 to 384000 \(got 0\)"):
        wav_bytes(np.zeros(4), 0)


def test_codes_pass_through_the_text_sampler_unchanged_and_row_i_is_seed_plus_i():
    from genforge.text.models import build_lstm
    from genforge.waveform.sampling import MuLawCodes, sample_codes

    codes = MuLawCodes()
    assert codes.encode(codes.decode(np.arange(256))).tolist() == list(range(256))
    model = build_lstm(256, embedding_dim=4, layers=1, units=8)
    clips = sample_codes(model, n=3, length=100, temperature=1.0, seed=5)
    assert clips.shape == (3, 100) and clips.dtype == np.uint8
    assert (sample_codes(model, n=1, length=100, temperature=1.0, seed=6)[0] == clips[1]).all()
    assert len({bytes(c) for c in clips}) == 3


def test_preprocess_splits_by_file_and_names_the_files_left_out_and_converted(project):
    from genforge.core.config import load_params
    from tasks.collect import collect
    from tasks.preprocess import preprocess

    write_params(project, tiny_params(project, (WAVEFORM,)))
    params = load_params(project / "params.yaml")
    collect(params)
    preprocess(params, WAVEFORM)
    stats = json.loads((project / "metrics" / WAVEFORM / "preprocess.json").read_text())
    broken, excluded = stats["skipped"]  # in manifest order: by name
    assert stats["files_kept"] == 6 and excluded == "speech/skip.wav: excluded by preprocess.exclude"
    assert broken.startswith("data/raw/speech/broken.wav: not a WAV file this can read")
    assert stats["files"]["speech/stereo.wav"]["converted"] == ["2 channels mixed to mono",
                                                                 "16000 Hz resampled to 8000 Hz"]
    assert stats["files"]["speech/ulaw.wav"]["converted"] == ["ULAW decoded"]
    assert stats["test"] == {"files": 1, "samples": 4000, "seconds": 0.5}
    assert stats["train"]["samples"] == 8000 + 8000 + 4000 + 4000  # train1, train2, stereo (resampled), ulaw
    processed = project / "data" / "processed" / WAVEFORM
    assert json.loads((processed / "splits.json").read_text())["val"] == ["speech/val.wav"]
    test = np.load(processed / "test.npy")
    assert test.dtype == np.uint8 and test.size == 4000
    tokenizer = json.loads((processed / "tokenizer.json").read_text())
    assert tokenizer == {"kind": "byte"}


def test_a_split_glob_that_matches_no_file_is_named(project):
    from genforge.core.config import load_params
    from tasks.collect import collect
    from tasks.preprocess import preprocess

    params = tiny_params(project, (WAVEFORM,))
    params["generators"][WAVEFORM]["preprocess"]["test_files"] = ["nope.wav"]
    write_params(project, params)
    params = load_params(project / "params.yaml")
    collect(params)
    with pytest.raises(GenForgeError, match=rf"generators.{WAVEFORM}.preprocess.test_files: 'nope.wav' matches "
                                            "none of the 8 WAV files"):
        preprocess(params, WAVEFORM)


def test_a_file_matched_by_globs_of_two_splits_is_named(project):
    from genforge.core.config import load_params
    from tasks.collect import collect
    from tasks.preprocess import preprocess

    params = tiny_params(project, (WAVEFORM,))
    params["generators"][WAVEFORM]["preprocess"].update(val_files=["t*.wav"], test_files=["*st.wav"])
    write_params(project, params)
    params = load_params(project / "params.yaml")
    collect(params)
    with pytest.raises(GenForgeError, match=r"test.wav: matched by generators.codec2-speech.preprocess.test_files "
                                            r"'\*st.wav' and by val_files 't\*.wav'; a file belongs to one split"):
        preprocess(params, WAVEFORM)


@pytest.mark.parametrize(("section", "change", "message"), [
    ("preprocess", {"val_files": ["vk5qi.wav"]}, r"val_files and preprocess.test_files both name \['vk5qi.wav'\]"),
    ("preprocess", {"exclude": [""]}, r"preprocess.exclude.0"),
    ("evaluate", {"hop": 512}, r"evaluate.hop \(512\) must not exceed evaluate.frame \(256\)"),
    ("evaluate", {"mel_bands": 80}, r"evaluate.mel_bands \(80\) must be at most a quarter of the FFT length "
                                    r"\(256"),
    ("evaluate", {"sample_seconds": 1e12}, r"evaluate.sample_seconds"),
])
def test_waveform_settings_that_cannot_work_are_refused_by_name(tmp_path, section, change, message):
    import yaml
    from conftest import REPO

    from genforge.core.config import load_params

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generators"][WAVEFORM][section].update(change)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(GenForgeError, match=message):
        load_params(tmp_path / "params.yaml")


def test_a_clip_of_no_samples_or_of_endless_ones_is_refused():
    from genforge.waveform.pyfunc import clip_wav

    with pytest.raises(GenForgeError, match=r"at least one sample at 8000 Hz \(got 5e-05\)"):
        clip_wav(None, 8000, 1, seconds=0.00005, temperature=1.0)  # 0.4 samples
    for seconds in (float("inf"), float("nan"), 1e6):
        with pytest.raises(GenForgeError, match=rf"a finite number up to 60.0 \(got {seconds}\)"):
            clip_wav(None, 8000, 1, seconds=seconds, temperature=1.0)
