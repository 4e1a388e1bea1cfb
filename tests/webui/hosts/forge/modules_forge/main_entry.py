"""modules_forge/main_entry.py: checkpoint_change / modules_change / refresh (§3.2)."""

import os

from modules import processing, sd_models, shared

module_list = {}
CALLS: list = []


def refresh_models():
    return list(module_list)


def refresh_model_loading_parameters():
    checkpoint_info = sd_models.select_checkpoint()
    sd_models.model_data.forge_loading_parameters = dict(
        checkpoint_info=checkpoint_info,
        additional_modules=shared.opts.forge_additional_modules,
        unet_storage_dtype=None,
    )
    processing.need_global_unload = True


def checkpoint_change(ckpt_name: str, save=True, refresh=True):
    CALLS.append(("checkpoint_change", ckpt_name, save, refresh))
    new_ckpt_info = sd_models.get_closet_checkpoint_match(ckpt_name)
    current_ckpt_info = sd_models.get_closet_checkpoint_match(
        shared.opts.data.get("sd_model_checkpoint", "")
    )
    if new_ckpt_info == current_ckpt_info:
        return False
    shared.opts.set("sd_model_checkpoint", ckpt_name)
    if save:
        shared.opts.save("config.json")
    if refresh:
        refresh_model_loading_parameters()
    return True


def modules_change(module_values: list, save=True, refresh=True) -> bool:
    CALLS.append(("modules_change", list(module_values or []), save, refresh))
    modules = []
    for v in module_values or []:
        module_name = os.path.basename(v)
        if module_name in module_list:
            modules.append(module_list[module_name])
    if sorted(modules) == sorted(shared.opts.forge_additional_modules or []):
        return False
    shared.opts.set("forge_additional_modules", modules)
    if save:
        shared.opts.save("config.json")
    if refresh:
        refresh_model_loading_parameters()
    return True
