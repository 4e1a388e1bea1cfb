"""Refuse a truncated or corrupt .safetensors checkpoint before the host tries to load it.

Why: on Forge a checkpoint that fails to load is renamed to `<name>.corrupted` by the host
and the real error is replaced by "Failed to recognize model type!"; on A1111 a failed load
unhooks the user's model. Reading the 8-byte header length and the JSON header is enough to
tell a whole file from a cut-off one, costs microseconds, and never unpickles anything.
"""

from __future__ import annotations

import json
import os
import struct

MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


class CheckpointFileError(ValueError):
    """The file cannot be a whole safetensors checkpoint; the message says why."""


def check_safetensors(path: str) -> None:
    """Raise CheckpointFileError unless `path` holds a complete safetensors file.

    Other formats (.ckpt, .gguf …) and paths that are not files are left to the host.
    """
    if not path.lower().endswith(".safetensors") or not os.path.isfile(path):
        return
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointFileError(f"{path}: {size} bytes, too short for a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER, size - 8):
            raise CheckpointFileError(f"{path}: header length {length} does not fit the file")
        try:
            header = json.loads(fh.read(length))
        except ValueError as exc:
            raise CheckpointFileError(f"{path}: unreadable header ({exc})") from None
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    if 8 + length + end > size:
        missing = 8 + length + end - size
        raise CheckpointFileError(f"{path}: truncated, {missing} bytes of tensor data missing")
