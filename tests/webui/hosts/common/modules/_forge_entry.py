"""Stand-in helper (not a host module): the body of `modules_forge/main_entry.py` that Forge
main and Forge Neo share (HOST_API §3.2). Each flavour's main_entry exposes it under the host's
own signatures — Neo added a `preset` argument to `checkpoint_change` / `modules_change` and made
`refresh_model_loading_parameters(*, refresh=True)` keyword-only — and records every call.
"""

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


def checkpoint_change(ckpt_name, preset, save, refresh):
    CALLS.append(("checkpoint_change", ckpt_name, save, refresh))
    new_ckpt_info = sd_models.get_closet_checkpoint_match(ckpt_name)
    current_ckpt_info = sd_models.get_closet_checkpoint_match(
        shared.opts.data.get("sd_model_checkpoint", "")
    )
    if new_ckpt_info == current_ckpt_info:
        return False
    return _store("sd_model_checkpoint", ckpt_name, f"forge_checkpoint_{preset}", preset, save,
                  refresh)  # fmt: skip


def modules_change(module_values, preset, save, refresh):
    CALLS.append(("modules_change", list(module_values or []), save, refresh))
    modules = []
    for v in module_values or []:
        module_name = os.path.basename(v)
        if module_name in module_list:
            modules.append(module_list[module_name])
    if sorted(modules) == sorted(shared.opts.forge_additional_modules or []):
        return False
    return _store("forge_additional_modules", modules, f"forge_additional_modules_{preset}",
                  preset, save, refresh)  # fmt: skip


def _store(key, value, preset_key, preset, save, refresh):
    """Set the option (and the preset's copy), save config.json if asked, refresh: True."""
    shared.opts.set(key, value)
    if preset is not None:
        shared.opts.data[preset_key] = value
    if save:
        shared.opts.save("config.json")
    if refresh:
        refresh_model_loading_parameters()
    return True
