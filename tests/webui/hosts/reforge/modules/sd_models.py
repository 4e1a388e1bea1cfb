"""modules/sd_models.py, reForge: A1111's names; `load_model(checkpoint_info,
already_loaded_state_dict, forced_reload)` keeps up to `sd_checkpoints_limit` models (most
recent first), evicting the oldest BEFORE reading the next file; a failed read leaves
`sd_model` on the evicted, torn-down object. `reload_model_weights` is
`load_model(info, forced_reload=...)`; `unload_model_weights(model=None)` differs from A1111."""

from modules import shared
from modules._a1111_models import *  # noqa: F403 - the host's names
from modules._a1111_models import build, model_data, select_checkpoint


def load_model(checkpoint_info=None, already_loaded_state_dict=None, forced_reload=False):
    info = checkpoint_info or select_checkpoint()
    loaded = model_data.loaded_sd_models
    same = [m for m in loaded if m.sd_model_checkpoint == info.filename]
    if same and not forced_reload:
        loaded.remove(same[0])
        loaded.insert(0, same[0])
        model_data.set_sd_model(same[0], already_loaded=True)
        return same[0]
    for model in same:
        loaded.remove(model)
        model.hijacked = False  # complete_model_teardown
    limit = int(shared.opts.data.get("sd_checkpoints_limit", 1) or 1)
    while len(loaded) >= limit:
        loaded.pop(-1).hijacked = False  # unload_first_loaded_model: torn down
    model = build(info)
    loaded.insert(0, model)
    model_data.set_sd_model(model)
    model_data.was_loaded_at_least_once = True
    return model


def reload_model_weights(sd_model=None, info=None, forced_reload=False):
    return load_model(info, forced_reload=forced_reload)


def unload_model_weights(model=None):
    model = model or model_data.sd_model
    if model is None:
        return "No model is currently loaded"
    return f"Unloaded model {model.sd_checkpoint_info.title} to RAM"
