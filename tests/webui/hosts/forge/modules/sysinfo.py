"""modules/sysinfo.py, Forge: set_config routes checkpoint/modules through main_entry."""

from modules import shared


def set_config(req, is_api=False, run_callbacks=True, save_config=True):
    from modules_forge import main_entry

    should_refresh_model_loading_params = False
    for k, v in req.items():
        if k == "sd_model_checkpoint":
            if v is not None and v not in shared.opts.data.get("sd_model_checkpoint", ""):
                main_entry.checkpoint_change(v, save=False, refresh=False)
                should_refresh_model_loading_params = True
        elif k == "forge_additional_modules":
            main_entry.modules_change(v, save=False, refresh=False)
            should_refresh_model_loading_params = True
        else:
            shared.opts.set(k, v, is_api=is_api, run_callbacks=run_callbacks)
    if save_config:
        shared.opts.save("config.json")
    if should_refresh_model_loading_params:
        main_entry.refresh_model_loading_parameters()
