"""modules/sd_models.py, A1111 v1.10.1: registry, select_checkpoint, reload_model_weights."""

from modules import _checkpoints, shared
from modules._checkpoints import LOADS, CheckpointInfo  # noqa: F401
from modules._sd_registry import (  # noqa: F401 - the host's names, shared by both flavours
    checkpoint_aliases,
    checkpoint_alisases,
    checkpoint_tiles,
    checkpoints_list,
    checkpoints_loaded,
    get_closet_checkpoint_match,
    list_models,
    select_checkpoint,
)


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
            load_model()
        return self.sd_model

    def set_sd_model(self, v, already_loaded=False):
        self.sd_model = v


model_data = SdModelData()


def _build(info):
    if info.title in _checkpoints.FAIL_LOAD:
        raise RuntimeError(f"Error loading {info.title}: corrupt file")
    LOADS.append(info.title)
    model = _checkpoints.FakeModel(info, _checkpoints.code_of(checkpoints_list, info))
    if not SkipWritingToConfig.skip:
        shared.opts.data["sd_model_checkpoint"] = info.title
    return model


def load_model(checkpoint_info=None, already_loaded_state_dict=None):
    info = checkpoint_info or select_checkpoint()
    model_data.sd_model = None  # a failed load of another architecture leaves nothing loaded
    model = _build(info)
    model_data.sd_model = model
    model_data.was_loaded_at_least_once = True
    return model


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    checkpoint_info = info or select_checkpoint()
    current = model_data.sd_model
    if (
        current is not None
        and current.sd_checkpoint_info.filename == checkpoint_info.filename
        and not forced_reload
    ):
        return current
    if current is not None:
        current.hijacked = False  # A:962-967, before the file is read
    try:
        return load_model(checkpoint_info)
    except Exception:
        model_data.sd_model = current  # same architecture: still the old, unhijacked object
        raise


def unload_model_weights(sd_model=None, info=None):
    pass


def apply_alpha_schedule_override(sd_model, p=None):
    pass
