"""modules_forge/main_entry.py, Forge main: checkpoint_change / modules_change / refresh
(HOST_API §3.2), with Forge main's signatures."""

from modules import _forge_entry
from modules._forge_entry import (  # noqa: F401 - the host's names
    CALLS,
    module_list,
    refresh_model_loading_parameters,
    refresh_models,
)


def checkpoint_change(ckpt_name: str, save=True, refresh=True) -> bool:
    return _forge_entry.checkpoint_change(ckpt_name, None, save, refresh)


def modules_change(module_values: list, save=True, refresh=True) -> bool:
    return _forge_entry.modules_change(module_values, None, save, refresh)
