"""Truncated or corrupt safetensors files are refused before a host load (which on Forge
renames the user's file to .corrupted)."""

from __future__ import annotations

import json
import struct

import pytest

from lib_enhance.webui.checkpoint_files import CheckpointFileError, check_safetensors


def write(path, tensors: dict[str, int], cut: int = 0, header: bytes | None = None) -> str:
    """A safetensors file with float32 tensors of the given element counts."""
    meta, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, count in tensors.items():
        meta[name] = {
            "dtype": "F32",
            "shape": [count],
            "data_offsets": [offset, offset + 4 * count],
        }
        offset += 4 * count
    head = header if header is not None else json.dumps(meta).encode()
    data = struct.pack("<Q", len(head)) + head + b"\0" * offset
    path.write_bytes(data[: len(data) - cut])
    return str(path)


def test_a_whole_file_passes(tmp_path):
    check_safetensors(write(tmp_path / "ok.safetensors", {"a": 10, "b": 3}))


def test_a_truncated_file_names_the_missing_bytes(tmp_path):
    path = write(tmp_path / "cut.safetensors", {"a": 10, "b": 3}, cut=5)
    with pytest.raises(CheckpointFileError, match="5 bytes of tensor data missing"):
        check_safetensors(path)


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"abc", "too short"), (struct.pack("<Q", 10**9) + b"{}", "does not fit")],
)
def test_garbage_is_refused(tmp_path, content, why):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointFileError, match=why):
        check_safetensors(str(path))


def test_an_unreadable_header_is_refused(tmp_path):
    path = write(tmp_path / "h.safetensors", {}, header=b"{not json")
    with pytest.raises(CheckpointFileError, match="unreadable header"):
        check_safetensors(path)


def test_other_formats_are_left_to_the_host(tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"anything")
    check_safetensors(str(path))
