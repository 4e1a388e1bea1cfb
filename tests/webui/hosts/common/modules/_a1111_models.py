"""Stand-in helper (not a host module): the model-data part of `modules/sd_models.py` that
A1111 1.10.1, Forge Classic and reForge share (HOST_API §3.1): `SkipWritingToConfig`,
`SdModelData`, and building a model object from a CheckpointInfo. Each of those flavours'
`sd_models.py` adds its own `load_model` / `reload_model_weights` / `unload_model_weights`,
which is where they differ.
"""

from modules import _checkpoints, shared
from modules._checkpoints import LOADS, CheckpointInfo
from modules._sd_registry import (
    checkpoint_aliases,
    checkpoint_alisases,
    checkpoint_tiles,
    checkpoints_list,
    checkpoints_loaded,
    get_closet_checkpoint_match,
    list_models,
    select_checkpoint,
)

__all__ = [  # what each of these flavours' sd_models.py re-exports as the host's names
    "LOADS", "CheckpointInfo", "SdModelData", "SkipWritingToConfig",
    "apply_alpha_schedule_override", "build", "checkpoint_aliases", "checkpoint_alisases",
    "checkpoint_tiles", "checkpoints_list", "checkpoints_loaded", "get_closet_checkpoint_match",
    "list_models", "model_data", "select_checkpoint",
]  # fmt: skip


class SkipWritingToConfig:
    skip = False
    previous = None

    def __enter__(self):
        self.previous = SkipWritingToConfig.skip
        SkipWritingToConfig.skip = True
        return self

    def __exit__(self, exc_type, exc_value, exc_traceback):
        SkipWritingToConfig.skip = self.previous


class SdModelData:
    def __init__(self):
        self.sd_model = None
        self.loaded_sd_models = []
        self.was_loaded_at_least_once = False

    def get_sd_model(self):
        if self.was_loaded_at_least_once and self.sd_model is not None:
            return self.sd_model
        if self.sd_model is None:
            from modules import sd_models

            sd_models.load_model()
        return self.sd_model

    def set_sd_model(self, v, already_loaded=False):
        self.sd_model = v


model_data = SdModelData()


def build(info):
    """Read the checkpoint (raises for one in FAIL_LOAD) and write the setting like
    `load_model_weights` does unless SkipWritingToConfig is active."""
    if info.title in _checkpoints.FAIL_LOAD:
        raise RuntimeError(f"Error loading {info.title}: corrupt file")
    _checkpoints.LOADS.append(info.title)
    model = _checkpoints.FakeModel(info, _checkpoints.code_of(checkpoints_list, info))
    if not SkipWritingToConfig.skip:
        shared.opts.data["sd_model_checkpoint"] = info.title
    return model


def apply_alpha_schedule_override(sd_model, p=None):
    pass
