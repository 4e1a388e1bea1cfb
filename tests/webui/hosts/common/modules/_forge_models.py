"""Stand-in helper (not a host module): the model-data part of `modules/sd_models.py` that
Forge main and Forge Neo share (HOST_API §3.2): `FakeInitialModel`, `SdModelData` with
`forge_loading_parameters` / `forge_hash`, and the body of `forge_model_reload`.

`forge_model_reload` compares str(forge_loading_parameters) with forge_hash and, when they
differ, throws the model away BEFORE building the new one. Forge main keeps the old forge_hash
while it does so, so a failed build leaves sd_model None and a stale hash (the crash trap of
HOST_API §3.3); Neo clears the hash first, so its next reload tries again.
"""

from modules import _checkpoints
from modules._checkpoints import LOADS, CheckpointInfo
from modules._sd_registry import (
    checkpoint_aliases,
    checkpoint_tiles,
    checkpoints_list,
    get_closet_checkpoint_match,
    list_models,
    select_checkpoint,
)

__all__ = [  # what Forge's and Neo's sd_models.py re-export as the host's names
    "LOADS", "CheckpointInfo", "FakeInitialModel", "SdModelData", "checkpoint_aliases",
    "checkpoint_tiles", "checkpoints_list", "get_closet_checkpoint_match", "list_models",
    "model_data", "select_checkpoint",
]  # fmt: skip


class FakeInitialModel:
    def __init__(self):
        self.cond_stage_model = None
        self.chunk_length = 75
        self.sd_checkpoint_info = None


class SdModelData:
    def __init__(self):
        self.sd_model = FakeInitialModel()
        self.forge_loading_parameters = {}
        self.forge_hash = ""

    def get_sd_model(self):
        return self.sd_model

    def set_sd_model(self, v):
        self.sd_model = v


model_data = SdModelData()


def forge_model_reload(clear_hash_on_unload: bool):
    current_hash = str(model_data.forge_loading_parameters)
    if model_data.forge_hash == current_hash:
        return model_data.sd_model, False
    print("Loading Model: " + str(model_data.forge_loading_parameters))
    model_data.sd_model = None  # unload everything first
    if clear_hash_on_unload:
        model_data.forge_hash = ""
    info = model_data.forge_loading_parameters["checkpoint_info"]
    if info.title in _checkpoints.FAIL_LOAD:
        raise RuntimeError(f"Error loading {info.title}: corrupt file")
    _checkpoints.LOADS.append(info.title)
    model = _checkpoints.FakeModel(info, _checkpoints.code_of(checkpoints_list, info))
    model.forge_modules = list(model_data.forge_loading_parameters.get("additional_modules") or [])
    model_data.sd_model = model
    model_data.forge_hash = current_hash
    return model, True
