"""Rendering melodies: events to a Standard MIDI File with symusic, and to a WAV file with symusic's SoundFont
synthesizer (https://github.com/Yikai-Liao/symusic), played by one General MIDI program."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.audio.music import Events

TPQ = 480  # MIDI ticks per quarter note


def check_soundfont(path: str | Path) -> Path:
    """``path`` as a :class:`Path` when it is a SoundFont 2 file (a RIFF ``sfbk`` header).

    Raises:
        GenForgeError: the file is missing (the message says to collect its source or fix ``evaluate.soundfont``) or
            is not a SoundFont 2 file.
    """
    path = Path(path)
    if not path.is_file():
        raise GenForgeError(f"soundfont {path} does not exist: collect the source that holds it (`dvc repro collect`)"
                            " or fix evaluate.soundfont")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise GenForgeError(f"soundfont {path} is not a SoundFont 2 file (no RIFF sfbk header)")
    return path


def score(melody: Events, *, program: int, tempo: float, max_seconds: float | None = None):
    """A one-track ``symusic.Score`` (ticks, :data:`TPQ` per quarter) of ``melody`` played by General MIDI
    ``program`` at ``tempo`` quarter notes per minute, velocity 80; notes starting after ``max_seconds`` are left
    out."""
    import symusic

    s = symusic.Score(TPQ)
    s.tempos.append(symusic.Tempo(0, qpm=float(tempo)))
    track = symusic.Track(program=program, is_drum=False)
    time = 0
    end = None if max_seconds is None else max_seconds * tempo / 60 * TPQ
    for pitch, length in melody:
        ticks = max(1, round(length * TPQ))
        if end is not None and time >= end:
            break
        track.notes.append(symusic.Note(time, ticks, int(pitch), 80))
        time += ticks
    s.tracks.append(track)
    return s


def midi_bytes(melody: Events, *, program: int, tempo: float, max_seconds: float | None = None) -> bytes:
    """A Standard MIDI File (format 1) of :func:`score`."""
    return score(melody, program=program, tempo=tempo, max_seconds=max_seconds).dumps_midi()


def wav_bytes(melody: Events, soundfont: str | Path, *, program: int, tempo: float, sample_rate: int,
              max_seconds: float) -> bytes:
    """A mono 16-bit PCM WAV file of ``melody`` (:func:`score`, cut at ``max_seconds``) synthesized with
    ``soundfont`` at ``sample_rate`` Hz, peak-normalized to 0.9 of full scale (a SoundFont's voices can sum above
    1.0).

    Raises:
        GenForgeError: the soundfont is missing or not a SoundFont 2 file (:func:`check_soundfont`).
    """
    import symusic

    path = check_soundfont(soundfont)
    synth = symusic.Synthesizer(str(path), sample_rate, 0)
    audio = np.asarray(synth.render(score(melody, program=program, tempo=tempo, max_seconds=max_seconds),
                                    False))[0]  # (1, samples) float32 -> (samples,)
    audio = audio[:int(max_seconds * sample_rate)]
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    pcm = (audio * (0.9 / peak if peak > 0 else 0.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return buffer.getvalue()
