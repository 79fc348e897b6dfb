"""Frames in and out of files: video files (PyAV, whose wheel bundles FFmpeg), animated GIFs and PNG frames (Pillow),
the strip of context | generated | true frames, and base64 PNG frames for the served model."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.files import atomic_path

FRAME_SUFFIXES = (".png", ".gif", ".bmp", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")  # decoded by PyAV


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames in [0, 1] (any float array) as ``uint8`` 0..255, rounded to nearest."""
    return np.clip(np.rint(np.asarray(frames, np.float64) * 255), 0, 255).astype(np.uint8)


def _gray(image) -> np.ndarray:
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (0, 0, 0, 255))
        image = Image.alpha_composite(white, image)
    return np.asarray(image.convert("L"), np.uint8)


def _same_size(frames: list[np.ndarray], names: Sequence[str]) -> np.ndarray:
    sizes = {f.shape for f in frames}
    if len(sizes) > 1:
        listed = ", ".join(f"{n} {f.shape[1]}x{f.shape[0]}" for n, f in zip(names, frames, strict=True))
        raise GenForgeError(f"the frames differ in size ({listed}); give frames of one size")
    return np.stack(frames)[..., None]


def _video_frames(path: Path) -> list[np.ndarray]:
    """The frames of a video file, decoded by PyAV as 8-bit luma (``uint8 (H, W)`` each)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise GenForgeError(f"{path}: the file has no video stream")
            return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    except FileNotFoundError:
        raise GenForgeError(f"{path}: no such file; give a video file, an animated GIF or a folder of PNG "
                            "frames") from None
    except (av.FFmpegError, OSError, ValueError) as e:
        raise GenForgeError(f"{path}: cannot decode it as a video ({e}); give an MP4 (or another format FFmpeg "
                            "reads), an animated GIF or PNG frames") from None


def _image_frames(path: Path) -> list[np.ndarray]:
    """The frames of an image file, as ``uint8 (H, W)`` luma. An animated GIF is read at a constant frame rate, its
    shortest frame duration: a frame shown twice as long counts twice (a GIF writer such as Pillow's stores
    repeated identical frames as one frame of their summed duration)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            frames = [(_gray(frame), frame.info.get("duration") or 0) for frame in ImageSequence.Iterator(image)]
            durations = [d for _, d in frames if d > 0]
            base = min(durations) if len(durations) == len(frames) else 0
            return [f for f, d in frames for _ in range(max(1, round(d / base)) if base else 1)]
    except FileNotFoundError:
        raise GenForgeError(f"{path}: no such file; give a video file, an animated GIF or a folder of PNG "
                            "frames") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise GenForgeError(f"{path}: cannot decode it as an image ({e}); give a video file, an animated GIF or "
                            "PNG frames") from None


def read_clip(path: str | Path) -> np.ndarray:
    """The frames ``uint8 (T, H, W, 1)`` of a video file (MP4, MOV, AVI, MKV, WebM: by suffix, decoded by PyAV),
    an animated GIF (or any single image: one frame), or a folder of image files taken in name order; transparency
    is composited over black (the Moving MNIST background) and colour converted to luma.

    Raises:
        GenForgeError: the file is missing or does not decode, the folder holds no image files, or the frames
            differ in size; the message names the file.
    """
    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise GenForgeError(f"{path}: a folder of frames needs image files ({', '.join(FRAME_SUFFIXES)})")
    frames, names = [], []
    for file in files:
        decoded = _video_frames(file) if file.suffix.lower() in VIDEO_SUFFIXES else _image_frames(file)
        if not decoded:
            raise GenForgeError(f"{file}: no frames decoded")
        frames += decoded
        names += [f"{file.name}[{i}]" for i in range(len(decoded))] if path == file else [file.name] * len(decoded)
    return _same_size(frames, names)


def square_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """``uint8 (T, H, W, 1)`` frames centre-cropped to a square and resized to ``size`` x ``size`` (Pillow: box
    filtering, the area average, when shrinking; bilinear when enlarging)."""
    from PIL import Image

    h, w = frames.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    method = Image.Resampling.BOX if side >= size else Image.Resampling.BILINEAR
    out = [np.asarray(Image.fromarray(f[top:top + side, left:left + side, 0], "L").resize((size, size), method))
           for f in frames]
    return np.stack(out)[..., None] if out else np.zeros((0, size, size, 1), np.uint8)


def write_gif(frames: np.ndarray, path: str | Path, *, ms: int = 100) -> None:
    """Write ``uint8 (T, H, W, 1)`` frames as an animated GIF that loops, ``ms`` milliseconds per frame; written
    through a temporary file."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(gif_bytes(frames, ms=ms))


def gif_bytes(frames: np.ndarray, *, ms: int = 100) -> bytes:
    """The animated GIF of ``uint8 (T, H, W, 1)`` frames (grayscale, looping)."""
    from PIL import Image

    images = [Image.fromarray(f[..., 0], "L") for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=ms, loop=0)
    return buffer.getvalue()


def strip(rows: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """One picture ``uint8 (H', W')`` of rows of frames: row ``i`` is ``rows[i]`` (``uint8 (T_i, H, W, 1)``) side by
    side, rows left-aligned, ``gap`` gray pixels between frames and rows (for context | generated | true)."""
    h, w = rows[0].shape[1:3]
    width = max(len(r) for r in rows) * (w + gap) - gap
    out = np.full((len(rows) * (h + gap) - gap, width), 128, np.uint8)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            out[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = frame[..., 0]
    return out


def png_base64(image: np.ndarray) -> str:
    """A ``uint8 (H, W)`` or ``(H, W, 1)`` image as base64 PNG text."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.ndim == 3 else image, "L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def frames_from_base64(items: Sequence[str]) -> np.ndarray:
    """Frames ``uint8 (T, H, W, 1)`` from base64 PNG (or GIF, JPEG) texts, one frame each.

    Raises:
        GenForgeError: an item is not base64 of an image, or the frames differ in size (named by position).
    """
    from PIL import Image, UnidentifiedImageError

    frames = []
    for i, item in enumerate(items):
        try:
            with Image.open(io.BytesIO(base64.b64decode(item, validate=True))) as image:
                frames.append(_gray(image))
        except (ValueError, TypeError, UnidentifiedImageError, OSError) as e:
            raise GenForgeError(f"frame {i}: not a base64 image ({e})") from None
    return _same_size(frames, [f"frame {i}" for i in range(len(frames))])
