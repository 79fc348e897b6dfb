"""WAV files in and out: decoding any WAV that libsndfile reads (PCM of 8 to 32 bits, float, mu-law, A-law) through
the soundfile package, to mono at the generator's sample rate, and writing 16-bit PCM WAV bytes."""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np

from genforge import GenForgeError


def read_wav(path: str | Path, sample_rate: int) -> tuple[np.ndarray, list[str]]:
    """The audio of a WAV file as mono samples at ``sample_rate``, and what was converted.

    Channels are averaged to mono; another sample rate is resampled with a polyphase filter
    (``scipy.signal.resample_poly``, its Kaiser-windowed low-pass). These and an encoding other than 16-bit PCM are
    named in the returned notes, such as ``"ULAW decoded"`` or ``"16000 Hz resampled to 8000 Hz"``.

    Returns:
        ``(samples, notes)``: ``float32 (N,)`` in ``[-1, 1]``, and the conversion notes (empty when none).

    Raises:
        GenForgeError: the file is missing, is not audio libsndfile reads (naming the file and libsndfile's reason),
            or holds no samples.
    """
    import soundfile

    path = Path(path)
    try:
        with soundfile.SoundFile(path) as f:
            data, rate, encoding = f.read(dtype="float32", always_2d=True), f.samplerate, f.subtype
    except (soundfile.LibsndfileError, RuntimeError, OSError) as e:
        raise GenForgeError(f"{path}: not a WAV file this can read ({e}); remove it from the source or convert it "
                            "to PCM WAV") from None
    if data.shape[0] == 0:
        raise GenForgeError(f"{path}: the WAV file holds no samples")
    notes = [] if encoding == "PCM_16" else [f"{encoding} decoded"]
    if data.shape[1] > 1:
        notes.append(f"{data.shape[1]} channels mixed to mono")
    samples = data.mean(axis=1)
    if rate != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(rate, sample_rate)
        samples = resample_poly(samples, sample_rate // g, rate // g)
        notes.append(f"{rate} Hz resampled to {sample_rate} Hz")
    return np.clip(samples, -1.0, 1.0).astype(np.float32), notes


def wav_bytes(samples, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``samples`` (float, ``(N,)``, in ``[-1, 1]``; clipped) at ``sample_rate`` Hz.

    Raises:
        GenForgeError: ``samples`` is not one-dimensional, or holds NaN or an infinity.
    """
    import soundfile

    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1 or not np.isfinite(samples).all():
        raise GenForgeError(f"a WAV file needs finite mono samples (got shape {samples.shape})")
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
