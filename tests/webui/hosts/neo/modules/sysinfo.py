"""modules/sysinfo.py, Forge Neo: set_config skips unchanged values, refuses an unknown
checkpoint, and routes checkpoint/modules through main_entry with `preset=None`."""

from modules import shared


def set_config(req, is_api=False, run_callbacks=True, save_config=True):
    from modules_forge import main_entry

    from modules import sd_models

    should_refresh_model_loading_params = False
    for k, v in req.items():
        if v == shared.opts.data.get(k):
            continue
        if k == "sd_model_checkpoint":
            if v is not None and v not in sd_models.checkpoint_aliases:
                raise RuntimeError(f"Model {v!r} not found...")
            if main_entry.checkpoint_change(v, preset=None, save=False, refresh=False):
                should_refresh_model_loading_params = True
        if k == "forge_additional_modules":
            if main_entry.modules_change(v, preset=None, save=False, refresh=False):
                should_refresh_model_loading_params = True
        else:  # sic: the checkpoint is set a second time through opts.set
            shared.opts.set(k, v, is_api=is_api, run_callbacks=run_callbacks)
    if save_config:
        shared.opts.save("config.json")
    if should_refresh_model_loading_params:
        main_entry.refresh_model_loading_parameters()
