"""modules/sd_models.py, Forge main: A1111's registry, no-op loaders, forge_model_reload (§3.2).

`forge_model_reload` compares str(forge_loading_parameters) with forge_hash and, when they
differ, throws the model away BEFORE building the new one; a failed build leaves sd_model None
and the OLD forge_hash: the crash trap of HOST_API §3.3.
"""

import contextlib

from modules import _checkpoints
from modules._checkpoints import LOADS, CheckpointInfo  # noqa: F401
from modules._sd_registry import (  # noqa: F401 - the host's names, shared by both flavours
    checkpoint_aliases,
    checkpoint_alisases,
    checkpoint_tiles,
    checkpoints_list,
    get_closet_checkpoint_match,
    list_models,
    select_checkpoint,
)


def SkipWritingToConfig():
    return contextlib.nullcontext()


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


def read_state_dict(*args, **kwargs):
    pass


def load_model_weights(*args, **kwargs):
    pass


def load_model(*args, **kwargs):
    pass


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    pass


def unload_model_weights(sd_model=None, info=None):
    pass


def apply_alpha_schedule_override(sd_model, p=None):
    pass


def forge_model_reload():
    current_hash = str(model_data.forge_loading_parameters)
    if model_data.forge_hash == current_hash:
        return model_data.sd_model, False
    print("Loading Model: " + str(model_data.forge_loading_parameters))
    model_data.sd_model = None  # unload everything first
    info = model_data.forge_loading_parameters["checkpoint_info"]
    if info.title in _checkpoints.FAIL_LOAD:
        raise RuntimeError(f"Error loading {info.title}: corrupt file")
    LOADS.append(info.title)
    model = _checkpoints.FakeModel(info, _checkpoints.code_of(checkpoints_list, info))
    model.forge_modules = list(model_data.forge_loading_parameters.get("additional_modules") or [])
    model_data.sd_model = model
    model_data.forge_hash = current_hash
    return model, True
