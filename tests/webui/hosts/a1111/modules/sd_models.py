"""modules/sd_models.py, A1111 v1.10.1: registry, select_checkpoint, reload_model_weights."""

from modules._a1111_models import *  # noqa: F403 - the host's names
from modules._a1111_models import build, model_data, select_checkpoint


def load_model(checkpoint_info=None, already_loaded_state_dict=None):
    info = checkpoint_info or select_checkpoint()
    model_data.sd_model = None  # a failed load of another architecture leaves nothing loaded
    model = build(info)
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
