"""WAV files in and out: decoding any WAV that libsndfile reads (PCM of 8 to 32 bits, float, mu-law, A-law) through
the soundfile package, to mono at the generator's sample rate, and writing 16-bit PCM WAV bytes."""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path

import numpy as np

from genforge import GenForgeError

MIN_RATE, MAX_RATE = 1000, 384_000  # Hz: the sample rates read_wav accepts in a file's header and writes


def read_wav(path: str | Path, sample_rate: int) -> tuple[np.ndarray, list[str]]:
    """The audio of a WAV file as mono samples at ``sample_rate``, and what was converted.

    Channels are averaged to mono; another sample rate is resampled with a polyphase filter
    (``scipy.signal.resample_poly``, its Kaiser-windowed low-pass); samples beyond full scale are clipped. These,
    an encoding other than 16-bit PCM and a container other than WAV are named in the returned notes, such as
    ``"ULAW decoded"``, ``"FLAC PCM_16 decoded"`` or ``"16000 Hz resampled to 8000 Hz"``.

    Returns:
        ``(samples, notes)``: ``float32 (N,)`` in ``[-1, 1]``, and the conversion notes (empty when none).

    Raises:
        GenForgeError: the file is missing or not a regular file, is not audio libsndfile reads (naming the file
            and libsndfile's reason), declares a sample rate outside ``[MIN_RATE, MAX_RATE]``, holds no samples, or
            holds NaN or infinite samples (a float file).
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise GenForgeError(f"{path}: no such file, or not a regular file; re-run the collect stage or fix the source")
    try:
        with soundfile.SoundFile(path) as f:
            container, encoding, rate = f.format, f.subtype, f.samplerate
            if not MIN_RATE <= rate <= MAX_RATE:
                raise GenForgeError(f"{path}: its header declares {rate} Hz, outside {MIN_RATE}..{MAX_RATE} Hz; fix "
                                    "or remove the file")
            # a stream that cannot seek (GSM 6.10, G.721 ADPCM) is read by its frame count
            data = f.read(-1 if f.seekable() else f.frames, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError, ValueError) as e:
        raise GenForgeError(f"{path}: not a WAV file this can read ({e}); remove it from the source or convert it "
                            "to PCM WAV") from None
    if data.shape[0] == 0:
        raise GenForgeError(f"{path}: the WAV file holds no samples")
    if not np.isfinite(data).all():
        raise GenForgeError(f"{path}: holds NaN or infinite samples (a float WAV file); fix or remove the file")
    notes = [] if (container, encoding) == ("WAV", "PCM_16") else [
        f"{encoding} decoded" if container == "WAV" else f"{container} {encoding} decoded"]
    if data.shape[1] > 1:
        notes.append(f"{data.shape[1]} channels mixed to mono")
    samples = data.mean(axis=1)
    if rate != sample_rate:
        from scipy.signal import resample_poly

        g = gcd(rate, sample_rate)
        samples = resample_poly(samples, sample_rate // g, rate // g)
        notes.append(f"{rate} Hz resampled to {sample_rate} Hz")
    beyond = int((np.abs(samples) > 1).sum())
    if beyond:
        notes.append(f"{beyond} samples beyond full scale clipped")
    return np.clip(samples, -1.0, 1.0).astype(np.float32), notes


def wav_bytes(samples, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``samples`` (float, ``(N,)``, in ``[-1, 1]``; clipped) at ``sample_rate`` Hz.

    Raises:
        GenForgeError: ``samples`` is not a one-dimensional float array, or holds NaN or an infinity; or
            ``sample_rate`` is not a whole number of Hz in ``[MIN_RATE, MAX_RATE]``.
    """
    import soundfile

    samples = np.asarray(samples)
    if samples.dtype.kind != "f" or samples.ndim != 1 or not np.isfinite(samples).all():
        raise GenForgeError(f"a WAV file needs finite mono float samples in [-1, 1] (got {samples.dtype} of shape "
                            f"{samples.shape})")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or not \
            MIN_RATE <= sample_rate <= MAX_RATE:
        raise GenForgeError(f"a WAV file's sample rate is a whole number of Hz from {MIN_RATE} to {MAX_RATE} "
                            f"(got {sample_rate!r})")
    samples = samples.astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
