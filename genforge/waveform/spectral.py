"""Spectral statistics of audio: log-mel frames (TensorFlow's ``tf.signal``), their Fréchet distance between two
sets of clips (the Fréchet Audio Distance of Kilgour et al. 2019, with log-mel frames in place of VGGish embeddings),
and loudness."""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError
from genforge.core.feature_distances import fid

LOG_FLOOR = 1e-6  # added to the mel energies before the log: silence is log(1e-6), not -inf


def log_mel(samples, sample_rate: int, *, frame: int, hop: int, bands: int) -> np.ndarray:
    """The log-mel spectrogram of one clip: Hann-windowed frames of ``frame`` samples every ``hop`` samples
    (``tf.signal.stft``, FFT length the next power of two), power spectra summed into ``bands`` triangular mel bands
    from 20 Hz to the Nyquist frequency (``tf.signal.linear_to_mel_weight_matrix``, the HTK mel scale), then
    ``ln(energy + 1e-6)``.

    Args:
        samples: ``float (N,)`` in ``[-1, 1]``.

    Returns:
        ``float64 (frames, bands)``; ``frames = 1 + (N - frame) // hop`` (0 rows when ``N < frame``).

    Raises:
        GenForgeError: ``samples`` is not one-dimensional, or ``frame``, ``hop`` or ``bands`` is below 1.
    """
    import tensorflow as tf

    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1 or min(frame, hop, bands) < 1:
        raise GenForgeError(f"log_mel takes one mono clip, (N,), and frame, hop, bands >= 1 (got shape "
                            f"{samples.shape}, frame {frame}, hop {hop}, bands {bands})")
    if len(samples) < frame:
        return np.zeros((0, bands))
    stft = tf.signal.stft(samples, frame_length=frame, frame_step=hop, fft_length=1 << (frame - 1).bit_length())
    power = tf.math.square(tf.abs(stft))
    weights = tf.signal.linear_to_mel_weight_matrix(bands, int(power.shape[-1]), sample_rate, 20.0, sample_rate / 2)
    return np.log(tf.matmul(power, weights).numpy().astype(np.float64) + LOG_FLOOR)


def mel_frames(clips, sample_rate: int, *, frame: int, hop: int, bands: int) -> np.ndarray:
    """The log-mel frames of every clip of ``clips`` (a sequence of ``float (N_i,)`` arrays) stacked:
    ``float64 (sum of frames, bands)``."""
    frames = [log_mel(c, sample_rate, frame=frame, hop=hop, bands=bands) for c in clips]
    return np.concatenate(frames) if frames else np.zeros((0, bands))


def frechet_log_mel(real: np.ndarray, fake: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of log-mel frames (``float (N, bands)`` each;
    :func:`genforge.core.feature_distances.fid`). 0 for identical statistics (rounding below 0 is reported as 0); in
    squared log-energy units.

    Raises:
        GenForgeError: a set has fewer frames than ``bands + 1`` (its covariance would be singular: sample more
            or longer clips), or the band counts differ.
    """
    for name, x in (("real", real), ("generated", fake)):
        if len(x) <= np.shape(x)[-1]:
            raise GenForgeError(f"the {name} audio gives {len(x)} log-mel frames, too few for a covariance over "
                                f"{np.shape(x)[-1]} bands: sample more or longer clips (evaluate.num_samples, "
                                "evaluate.sample_seconds)")
    return max(0.0, fid(real, fake))


def rms_dbfs(samples) -> float:
    """The root-mean-square level of ``samples`` (``float``, full scale 1.0) in dB relative to full scale:
    ``20 log10(rms)``; ``-inf`` for silence."""
    rms = float(np.sqrt(np.mean(np.square(np.asarray(samples, np.float64))))) if np.size(samples) else 0.0
    return 20 * np.log10(rms) if rms > 0 else float("-inf")
