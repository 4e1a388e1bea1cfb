"""modules/sd_models.py, Forge Classic: A1111's names; `load_model` unloads the model it holds
BEFORE reading the next file (one model at a time), `reload_model_weights` is
`load_model(info)` (its `forced_reload` is ignored), `unload_model_weights(sd_model, info)`."""

from modules._a1111_models import *  # noqa: F403 - the host's names
from modules._a1111_models import build, model_data, select_checkpoint


def load_model(checkpoint_info=None, already_loaded_state_dict=None):
    info = checkpoint_info or select_checkpoint()
    current = model_data.sd_model
    if current is not None:
        if current.sd_model_checkpoint == info.filename:
            return current
        model_data.sd_model = None  # unload_all_models(): a failed read leaves nothing loaded
        model_data.loaded_sd_models = []
    model = build(info)
    model_data.set_sd_model(model)
    model_data.was_loaded_at_least_once = True
    return model


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    return load_model(info)


def unload_model_weights(sd_model=None, info=None):
    return sd_model
