"""modules_forge/main_entry.py, Forge Neo: the UI preset became a required argument of
`checkpoint_change(ckpt_name, preset, save, refresh)` and `modules_change(module_values, preset,
save, refresh)` (a preset also remembers the choice as `forge_checkpoint_<preset>`), and
`refresh_model_loading_parameters(*, refresh=True)` is keyword-only. Forge main's
`checkpoint_change(name, save=False, refresh=True)` raises TypeError here."""

from modules import _forge_entry
from modules._forge_entry import CALLS, module_list, refresh_models  # noqa: F401


def refresh_model_loading_parameters(*, refresh: bool = True):
    if refresh:
        _forge_entry.refresh_model_loading_parameters()


def checkpoint_change(ckpt_name: str, preset: str, save=True, refresh=True) -> bool:
    return _forge_entry.checkpoint_change(ckpt_name, preset, save, refresh)


def modules_change(module_values: list, preset: str, save=True, refresh=True) -> bool:
    return _forge_entry.modules_change(module_values, preset, save, refresh)
