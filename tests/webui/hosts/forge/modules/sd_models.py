"""modules/sd_models.py, Forge main: A1111's registry, no-op loaders, forge_model_reload (§3.2).

`forge_model_reload` compares str(forge_loading_parameters) with forge_hash and, when they
differ, throws the model away BEFORE building the new one; a failed build leaves sd_model None
and the OLD forge_hash: the crash trap of HOST_API §3.3.
"""

import contextlib

from modules import _checkpoints, shared
from modules._checkpoints import LOADS, CheckpointInfo  # noqa: F401

checkpoints_list = {}
checkpoint_aliases = {}
checkpoint_alisases = checkpoint_aliases


def checkpoint_tiles(use_short=False):
    return [x.short_title if use_short else x.title for x in checkpoints_list.values()]


def list_models():
    pass


def get_closet_checkpoint_match(search_string):
    if not search_string:
        return None
    info = checkpoint_aliases.get(search_string)
    if info is not None:
        return info
    found = sorted(
        [info for info in checkpoints_list.values() if search_string in info.title],
        key=lambda x: len(x.title),
    )
    if found:
        return found[0]
    search_string_without_checksum = (
        search_string.split(" [")[0] if " [" in search_string else search_string
    )
    found = sorted(
        [
            info
            for info in checkpoints_list.values()
            if search_string_without_checksum in info.title
        ],
        key=lambda x: len(x.title),
    )
    return found[0] if found else None


def select_checkpoint():
    model_checkpoint = shared.opts.sd_model_checkpoint
    info = checkpoint_aliases.get(model_checkpoint)
    if info is not None:
        return info
    return next(iter(checkpoints_list.values()))


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
