"""Stand-in helper (not a host module): the checkpoint registry both hosts share (§3.1/§3.2)."""

import hashlib
import os

LOADS: list[str] = []
"""Title of every checkpoint actually loaded, in order."""
FAIL_LOAD: set = set()
"""Titles whose load raises (like a corrupt file or an out-of-memory)."""


class CheckpointInfo:
    def __init__(self, filename):
        self.filename = filename
        name = os.path.basename(filename)
        self.name = name
        self.name_for_extra = os.path.splitext(name)[0]
        self.model_name = os.path.splitext(name.replace("/", "_").replace("\\", "_"))[0]
        self.sha256 = hashlib.sha256(name.encode()).hexdigest()
        self.hash = self.sha256[:8]
        self.shorthash = self.sha256[0:10]
        self.title = f"{name} [{self.shorthash}]"
        self.short_title = f"{self.name_for_extra} [{self.shorthash}]"
        self.ids = [
            self.hash,
            self.model_name,
            self.title,
            name,
            self.name_for_extra,
            f"{name} [{self.hash}]",
            self.shorthash,
            self.sha256,
            f"{self.name} [{self.shorthash}]",
            f"{self.name_for_extra} [{self.shorthash}]",
        ]
        self.metadata = {}

    def register(self, checkpoints_list, checkpoint_aliases):
        checkpoints_list[self.title] = self
        for i in self.ids:
            checkpoint_aliases[i] = self

    def calculate_shorthash(self):
        return self.shorthash


class FakeModel:
    """What `shared.sd_model` is: knows its checkpoint; `code` tints what it 'diffuses'."""

    def __init__(self, info, code):
        self.sd_checkpoint_info = info
        self.sd_model_checkpoint = info.filename
        self.sd_model_hash = info.shorthash
        self.code = code
        self.is_sdxl = False
        self.hijacked = True
        """A1111 undoes the text-encoder hijack before reading another checkpoint's file; a
        failed read leaves the model unhijacked (seen on a running A1111 1.10.1: every later
        prompt then fails)."""

    def ema_scope(self):
        import contextlib

        return contextlib.nullcontext()


def code_of(checkpoints_list, info):
    titles = list(checkpoints_list)
    return (titles.index(info.title) + 1) * 60 % 256 if info.title in titles else 255
