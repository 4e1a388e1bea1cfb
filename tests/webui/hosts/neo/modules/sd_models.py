"""modules/sd_models.py, Forge Neo: A1111's registry and `forge_model_reload`; the A1111 loaders
(`load_model`, `reload_model_weights`, `load_model_weights`, `SkipWritingToConfig`, …) are GONE,
not stubs. `forge_model_reload` clears forge_hash when it unloads, so a failed load is retried
by the next call (no stale-hash trap). `unload_model_weights(sd_model=None, info=None)` unloads
every model from VRAM."""

from modules import _forge_models
from modules._forge_models import *  # noqa: F403 - the host's names


def unload_model_weights(sd_model=None, info=None):
    return


def apply_token_merging(sd_model, token_merging_ratio):
    pass


def forge_model_reload():
    return _forge_models.forge_model_reload(clear_hash_on_unload=True)
