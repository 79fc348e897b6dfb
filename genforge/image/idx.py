"""Read IDX files, the format of the MNIST distribution (LeCun et al., "THE MNIST DATABASE of handwritten digits",
http://yann.lecun.com/exdb/mnist/, section "FILE FORMATS FOR THE MNIST DATABASE").

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
