"""Rendering melodies: events to a Standard MIDI File with symusic, and to a WAV file with symusic's SoundFont
synthesizer (https://github.com/Yikai-Liao/symusic), played by one General MIDI program."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.audio.music import Events

TPQ = 480  # MIDI ticks per quarter note


def check_soundfont(path: str | Path) -> Path:
    """``path`` as a :class:`Path` when it is a whole SoundFont 2 file: a RIFF ``sfbk`` header whose declared size
    is the file's.

    Raises:
        GenForgeError: the file is missing (the message says to collect its source or fix ``evaluate.soundfont``), is
            not a SoundFont 2 file, or is cut short.
    """
    path = Path(path)
    if not path.is_file():
        raise GenForgeError(f"soundfont {path} is not a file: collect the source that holds it (`dvc repro collect`)"
                            " or fix evaluate.soundfont")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise GenForgeError(f"soundfont {path} is not a SoundFont 2 file (no RIFF sfbk header)")
    declared, actual = int.from_bytes(head[4:8], "little") + 8, path.stat().st_size
    if actual < declared:
        raise GenForgeError(f"soundfont {path} is cut short: {actual} bytes of the {declared} its header declares; "
                            "collect it again")
    return path


def _check_melody(melody: Events) -> None:
    bad = [(p, n) for p, n in melody if not (isinstance(p, int | np.integer) and 0 <= p <= 127
                                             and isinstance(n, int | float) and math.isfinite(n) and n > 0)]
    if not melody or bad:
        raise GenForgeError("a melody to render needs at least one note, each a MIDI pitch 0..127 and a finite "
                            f"length > 0 in quarter notes; got {len(melody)} notes" + (f", such as {bad[0]}" if bad
                                                                                      else ""))


def score(melody: Events, *, program: int, tempo: float, max_seconds: float | None = None):
    """A one-track ``symusic.Score`` (ticks, :data:`TPQ` per quarter) of ``melody`` played by General MIDI
    ``program`` at ``tempo`` quarter notes per minute, velocity 80; with ``max_seconds``, notes starting after it
    are left out and a note lasting past it is cut there.

    Raises:
        GenForgeError: an empty melody, a pitch outside 0..127, or a length that is not finite and positive.
    """
    import symusic

    _check_melody(melody)
    s = symusic.Score(TPQ)
    s.tempos.append(symusic.Tempo(0, qpm=float(tempo)))
    track = symusic.Track(program=program, is_drum=False)
    time = 0
    end = None if max_seconds is None else max_seconds * tempo / 60 * TPQ
    for pitch, length in melody:
        ticks = max(1, round(length * TPQ))
        if end is not None:
            if time >= end:
                break
            ticks = max(1, min(ticks, round(end - time)))
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
        GenForgeError: the soundfont is missing, not a SoundFont 2 file or cut short (:func:`check_soundfont`), or
            the synthesizer fails on it; a melody :func:`score` refuses.
    """
    import symusic

    path = check_soundfont(soundfont)
    tune = score(melody, program=program, tempo=tempo, max_seconds=max_seconds)
    try:
        synth = symusic.Synthesizer(str(path), sample_rate, 0)
        audio = np.asarray(synth.render(tune, False))[0]  # (1, samples) float32 -> (samples,)
    except RuntimeError as e:  # symusic's synthesizer reports a bad soundfont so
        raise GenForgeError(f"soundfont {path}: the synthesizer cannot render with it ({e})") from None
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
