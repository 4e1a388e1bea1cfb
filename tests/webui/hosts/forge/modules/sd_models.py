"""modules/sd_models.py, Forge main: A1111's registry, no-op loaders, forge_model_reload (§3.2).

The A1111 loaders are still defined but do nothing (`reload_model_weights` returns None without
loading); a failed `forge_model_reload` leaves sd_model None and the OLD forge_hash: the crash
trap of HOST_API §3.3 (see `_forge_models`).
"""

import contextlib

from modules import _forge_models
from modules._forge_models import *  # noqa: F403 - the host's names
from modules._sd_registry import checkpoint_alisases  # noqa: F401


def SkipWritingToConfig():
    return contextlib.nullcontext()


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
    return _forge_models.forge_model_reload(clear_hash_on_unload=False)
