"""The audio modality: ABC tunes cut apart and read, the melody histograms and their distances worked out by hand,
rendering to MIDI and WAV with a hand-made soundfont, the preprocess stage's skipped tunes, and the errors of bad
input (a tune that does not parse, a missing soundfont, a request without seeds)."""

from __future__ import annotations

import io
import json
import wave

import numpy as np
import pytest
from conftest import AUDIO, tiny_params, write_params, write_soundfont

from genforge import GenForgeError
from genforge.audio.abc import default_unit_length, events, parse, parsed_events, split_tunes
from genforge.audio.music import compare, copied_share, distinct_ngrams, histograms, kl_divergence, ngrams, overlap


def test_a_file_is_cut_into_tunes_with_the_kept_fields_and_the_others_are_named():
    text = ("X:1\nT:First\nM:6/8\nL:1/8\nK:D\n% a comment\nDFA dfa|\n\n"
            "X:2\nT:No key\nM:4/4\nL:1/8\nABcd|\n\n"
            "X:3\nT:No unit length\nM:2/4\nK:G\nGA Bc|\n")
    tunes, skipped = split_tunes(text, "a.abc", ["M", "L", "K"])
    assert [t.name for t in tunes] == ["a.abc#1", "a.abc#3"]
    assert tunes[0].text == "M:6/8\nL:1/8\nK:D\nDFA dfa|\n"  # title and comment dropped
    assert tunes[1].text == "M:2/4\nL:1/16\nK:G\nGA Bc|\n"  # 2/4 < 0.75: the standard's default 1/16
    assert skipped == ["a.abc#2: no K: field"]


def test_a_repeated_number_and_a_byte_order_mark_lose_no_tune():
    text = "\ufeffX:1\nM:4/4\nL:1/8\nK:G\nGABc|\n\nX:1\nM:4/4\nL:1/8\nK:D\ndefg|\n"
    tunes, skipped = split_tunes(text, "b.abc", ["M", "L", "K"])
    assert [t.name for t in tunes] == ["b.abc#1", "b.abc#1 (tune 2 of the file)"] and skipped == []


def test_the_default_unit_length_follows_the_abc_standard():
    assert [default_unit_length(m) for m in ("2/4", "3/4", "6/8", "C", "C|", "none")] == \
        ["1/16", "1/8", "1/8", "1/8", "1/8", "1/8"]


def test_music21_reads_a_tune_into_pitches_and_lengths_and_a_bad_tune_is_none():
    # K:D sharpens F and C; L:1/8 makes a plain note half a quarter; z is a rest, left out
    melody = events(parse("M:4/4\nL:1/8\nK:D\nF2 c d z A/2|\n"))
    assert melody == [(66, 1.0), (73, 0.5), (74, 0.5), (69, 0.25)]
    assert parse("M:4/4\nL:1/8\nK:G\nA/0 B c|\n") is None  # a zero note length: music21 raises
    assert parsed_events("M:4/4\nL:1/8\nK:G\nGABc|\n", min_notes=5) is None  # 4 notes < 5
    assert parsed_events("M:4/4\nL:1/8\nK:G\nGABc|\n", min_notes=4) == [(67, .5), (69, .5), (71, .5), (72, .5)]
    from genforge.audio.abc import MAX_CHARACTERS

    assert parse("M:4/4\nL:1/8\nK:G\n" + "GABc|" * (MAX_CHARACTERS // 5)) is None  # too long to read in time


def test_histograms_and_their_distances_by_hand():
    h = histograms([[(60, 1.0), (64, 0.5), (67, 0.5)]])  # C E G: up 4, then up 3 semitones
    assert h["pitch_class"][[0, 4, 7]] == pytest.approx([1 / 3] * 3) and h["pitch_class"].sum() == pytest.approx(1)
    assert h["interval"][12 + 4] == 0.5 and h["interval"][12 + 3] == 0.5
    lengths = dict(zip((0.125, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0), h["note_length"],
                       strict=True))
    assert lengths[1.0] == pytest.approx(1 / 3) and lengths[0.5] == pytest.approx(2 / 3)
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.0, 0.5])
    assert overlap(p, q) == 0.5 and overlap(p, p) == 1.0 and overlap(p, np.zeros(3)) == 0.0
    assert kl_divergence(p, p) == pytest.approx(0.0)
    # eps 0: the unsmoothed KL of [0.5, 0.5] against [0.25, 0.75] is 0.5 log2(2) + 0.5 log2(2/3)
    assert kl_divergence(np.array([0.5, 0.5]), np.array([0.25, 0.75]), eps=0) == \
        pytest.approx(0.5 + 0.5 * np.log2(2 / 3))
    scores = compare(h, h)
    assert scores["pitch_class_overlap"] == pytest.approx(1.0) and scores["interval_kl"] == pytest.approx(0.0)


def test_copied_and_distinct_event_ngrams_by_hand():
    a, b, c, d = (60, 1.0), (62, 1.0), (64, 1.0), (65, 1.0)
    training = ngrams([a, b, c], 2)  # {(a, b), (b, c)}
    assert copied_share([[a, b, d]], training, 2) == 0.5  # (a, b) copied, (b, d) not
    assert copied_share([[d]], training, 2) == 0.0  # no 2-gram at all
    assert distinct_ngrams([[a, b, a, b]], 2) == pytest.approx(2 / 3)  # ab, ba, ab


def test_a_melody_renders_to_midi_and_to_a_wav_of_its_length(tmp_path):
    from genforge.audio.render import midi_bytes, wav_bytes

    write_soundfont(tmp_path / "sine.sf2")
    melody = [(69, 1.0), (72, 1.0)]  # two quarter notes at 120 per minute: 1 s
    midi = midi_bytes(melody, program=0, tempo=120)
    assert midi[:4] == b"MThd"
    import symusic

    notes = symusic.Score.from_midi(midi).tracks[0].notes
    assert [(n.pitch, n.duration) for n in notes] == [(69, 480), (72, 480)]
    data = wav_bytes(melody, tmp_path / "sine.sf2", program=0, tempo=120, sample_rate=8000, max_seconds=5)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert 1.0 <= w.getnframes() / 8000 <= 2.5  # the notes, then the release
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.abs(pcm).max() == pytest.approx(0.9 * 32767, rel=0.01)  # peak-normalized
    short = wav_bytes(melody, tmp_path / "sine.sf2", program=0, tempo=120, sample_rate=8000, max_seconds=0.5)
    with wave.open(io.BytesIO(short)) as w:
        assert w.getnframes() == 4000


def test_a_missing_or_wrong_soundfont_is_named(tmp_path):
    from genforge.audio.render import wav_bytes

    with pytest.raises(GenForgeError, match=r"soundfont .*missing\.sf2 is not a file.*dvc repro collect"):
        wav_bytes([(60, 1.0)], tmp_path / "missing.sf2", program=0, tempo=120, sample_rate=8000, max_seconds=1)
    (tmp_path / "fake.sf2").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(GenForgeError, match=r"fake\.sf2 is not a SoundFont 2 file"):
        wav_bytes([(60, 1.0)], tmp_path / "fake.sf2", program=0, tempo=120, sample_rate=8000, max_seconds=1)
    write_soundfont(tmp_path / "whole.sf2")
    (tmp_path / "cut.sf2").write_bytes((tmp_path / "whole.sf2").read_bytes()[:1000])
    with pytest.raises(GenForgeError, match=r"cut\.sf2 is cut short: 1000 bytes of the \d+ its header declares"):
        wav_bytes([(60, 1.0)], tmp_path / "cut.sf2", program=0, tempo=120, sample_rate=8000, max_seconds=1)


@pytest.mark.parametrize("melody", [[], [(128, 1.0)], [(-1, 1.0)], [(60, 0.0)], [(60, float("nan"))]])
def test_a_melody_that_cannot_be_played_is_refused(melody):
    from genforge.audio.render import midi_bytes

    with pytest.raises(GenForgeError, match="MIDI pitch 0..127 and a finite length > 0"):
        midi_bytes(melody, program=0, tempo=120)


def test_a_note_lasting_past_the_clip_is_cut_at_its_end():
    import symusic

    from genforge.audio.render import midi_bytes

    # 2 s at 120 quarter notes per minute are 4 quarters: the long note keeps 3 of its 1,000,000 after the first
    midi = midi_bytes([(60, 1.0), (62, 1e6), (64, 1.0)], program=0, tempo=120, max_seconds=2)
    assert [(n.pitch, n.time, n.duration) for n in symusic.Score.from_midi(midi).tracks[0].notes] == \
        [(60, 0, 480), (62, 480, 1440)]


def test_preprocess_skips_and_names_the_tunes_that_do_not_parse(project):
    from genforge.core.config import load_params
    from tasks.collect import collect
    from tasks.preprocess import preprocess

    write_params(project, tiny_params(project, (AUDIO,)))
    params = load_params(project / "params.yaml")
    collect(params)
    preprocess(params, AUDIO)
    stats = json.loads((project / "metrics" / AUDIO / "preprocess.json").read_text())
    assert stats["tunes_kept"] == 24 and stats["tunes_skipped"] == 2
    assert any(s.startswith("tunes/broken.abc#1: no K: field") for s in stats["skipped"])
    assert any(s.startswith("tunes/broken.abc#2: music21 does not read it") for s in stats["skipped"])
    melodies = json.loads((project / "data" / "processed" / AUDIO / "melodies.json").read_text())
    assert sum(len(melodies[s]) for s in ("train", "val", "test")) == 24
    assert all(len(m) == 64 for m in melodies["test"])  # 8 bars of 8 eighth notes


def test_the_served_model_refuses_a_request_without_whole_seeds():
    import pandas as pd
    from mlflow.exceptions import MlflowException

    from genforge.core.serving import checked_seeds

    assert checked_seeds(pd.DataFrame({"seed": [3, 4.0]})) == [3, 4]
    with pytest.raises(MlflowException, match=r"needs one 'seed' column \(columns: prompt\)"):
        checked_seeds(pd.DataFrame({"prompt": ["M:"]}))
    with pytest.raises(MlflowException, match=r"row 1 \(-1(\.0)?\).*row 2 \(1.5\)"):
        checked_seeds(pd.DataFrame({"seed": [1, -1, 1.5]}))
    with pytest.raises(MlflowException, match=r"from 0 to 4611686018427387903.*row 0 \(inf\), row 1 \(1e\+21\)"):
        checked_seeds(pd.DataFrame({"seed": [float("inf"), 1e21]}))
    with pytest.raises(MlflowException, match="needs one 'seed' column"):
        checked_seeds(pd.DataFrame([[1, 2]], columns=["seed", "seed"]))


def test_the_cli_asks_for_a_registered_model_to_render_a_tune(tmp_path):
    from typer.testing import CliRunner

    from genforge.cli import app

    result = CliRunner().invoke(app, ["generate", "--model", str(tmp_path), "--seed", "1", "--out",
                                      str(tmp_path / "tune.wav")])
    assert result.exit_code == 2 and not (tmp_path / "tune.wav").exists()
    assert "registered audio generator" in result.output and "models:/genforge-<name>@champion" in result.output
