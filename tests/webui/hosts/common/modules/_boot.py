"""Stand-in helper (not a host module): start a fresh "host" the way webui.py would.

`boot(data_path)` resets every global the stand-in keeps (options as config.json would hold
them, checkpoints, upscalers, VAEs, state, callbacks, logs) and loads the initial model;
`load_extension_scripts(root)` executes `scripts/*.py` of an extension like
`scripts.load_scripts` (module name "<file>.py"; A1111 puts the root on sys.path only while the
file runs, the Forge family for good) and builds the two runners.
"""

import importlib.util
import os
import sys

from modules import (
    _checkpoints,
    errors,
    images,
    modelloader_log,
    paths,
    processing,
    script_callbacks,
    scripts,
    sd_models,
    sd_vae,
    shared,
    shared_state,
    upscaler,
)
from modules._flavour import HOST
from modules.options import OptionInfo

FORGE = HOST.forge_backend
CHECKPOINTS = ("base.safetensors", "other.safetensors", "broken.safetensors")

OPTION_DEFAULTS = {
    "samples_save": True,
    "samples_format": "png",
    "enable_pnginfo": True,
    "return_grid": True,
    "grid_save": True,
    "grid_only_if_multiple": True,
    "save_incomplete_images": False,
    "overlay_inpaint": True,
    "img2img_color_correction": False,
    "save_init_img": False,
    "return_mask": False,
    "return_mask_composite": False,
    "face_restoration": False,
    "persistent_cond_cache": True,
    "sd_model_checkpoint": None,
    "sd_vae": "Automatic",
    "sd_checkpoints_limit": 1,
    "outdir_img2img_samples": "outputs/img2img-images",
    "outdir_img2img_grids": "outputs/img2img-grids",
    "upscaler_for_img2img": None,
    "img2img_batch_use_original_name": False,
    "initial_noise_multiplier": 1.0,
    "forge_additional_modules": [],
    "save_to_dirs": False,
    "save_images_replace_action": "Replace",
    "samples_filename_pattern": "",
    "outdir_txt2img_samples": "outputs/txt2img-images",
    "outdir_txt2img_grids": "outputs/txt2img-grids",
    "jpeg_quality": 80,
    "grid_format": "png",
    "grid_extended_filename": False,
    "save_images_before_highres_fix": False,
}
SAVED_IN_CONFIG = (
    "sd_model_checkpoint",
    "sd_vae",
    "samples_save",
    "samples_format",
    "return_grid",
    "grid_save",
    "forge_additional_modules",
)
"""What a typical config.json holds: only these are in opts.data at start (§12's leak)."""


def boot(data_path, *, saved=SAVED_IN_CONFIG):
    paths.data_path = str(data_path)
    paths.models_path = os.path.join(str(data_path), "models")
    os.makedirs(paths.models_path, exist_ok=True)
    # Reset in place: host modules hold `from modules.shared import opts, state`.
    shared.opts.data_labels.clear()
    shared.opts.data_labels.update({k: OptionInfo(v) for k, v in OPTION_DEFAULTS.items()})
    shared.opts.data.clear()
    shared.opts.set_calls.clear()
    if not FORGE:
        shared.opts.data_labels.pop("forge_additional_modules")
    shared.state.__dict__.clear()
    shared_state.State.__init__(shared.state)
    vars(shared.cmd_opts).clear()
    vars(shared.cmd_opts).update(shared.default_cmd_opts())
    shared.cmd_opts.ui_config_file = os.path.join(str(data_path), "ui-config.json")
    _start_torch_as_the_host_has_it()
    shared.sd_upscalers[:] = upscaler.default_upscalers()
    for log in (
        processing.CALLS,
        scripts.CALLBACK_LOG,
        sd_models.LOADS,
        images.SAVED,
        errors.REPORTS,
        modelloader_log.CALLS,
    ):
        log.clear()
    processing.OOM.update(pixels=None, batch=None)
    _checkpoints.FAIL_LOAD.clear()
    _checkpoints.FAIL_LOAD.add(f"broken.safetensors [{_info('broken.safetensors').shorthash}]")
    sd_models.checkpoints_list.clear()
    sd_models.checkpoint_aliases.clear()
    for name in CHECKPOINTS:
        _info(name).register(sd_models.checkpoints_list, sd_models.checkpoint_aliases)
    first = next(iter(sd_models.checkpoints_list.values()))
    for key in OPTION_DEFAULTS:
        if key in saved and key in shared.opts.data_labels:
            shared.opts.data[key] = OPTION_DEFAULTS[key]
    shared.opts.data["sd_model_checkpoint"] = first.title
    sd_vae.vae_dict.clear()
    sd_vae.vae_dict["vae-ft-mse.safetensors"] = "models/VAE/vae-ft-mse.safetensors"
    script_callbacks.clear_callbacks()
    scripts.scripts_data.clear()
    processing.StableDiffusionProcessing.cached_c = [None, None]
    processing.StableDiffusionProcessing.cached_uc = [None, None]
    if FORGE:
        from modules_forge import main_entry

        main_entry.module_list.clear()
        main_entry.module_list["vae-ft-mse.safetensors"] = "/models/VAE/vae-ft-mse.safetensors"
        main_entry.CALLS.clear()
        sd_models.model_data.sd_model = sd_models.FakeInitialModel()
        sd_models.model_data.forge_hash = ""
        main_entry.refresh_model_loading_parameters()
    else:
        sd_vae.loaded_vae_file = None
        sd_vae.LOADS.clear()
        sd_models.model_data.sd_model = None
        sd_models.model_data.was_loaded_at_least_once = False
        sd_models.load_model()


def _start_torch_as_the_host_has_it():
    """A1111 and Forge main run torch 2.1 / 2.3, whose torch.load unpickles anything unless
    told `weights_only=True`; torch ≥ 2.6 (the other three, and the test venvs) refuses
    non-tensor globals by default. The venv's torch is told to behave like the host's, and the
    host's safe.py is imported (A1111's replaces torch.load with its checker)."""
    if HOST.torch_weights_only_default:
        os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    else:
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    import modules.safe  # noqa: F401


def stop():
    """Undo what boot() did to the process: torch.load and the environment."""
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    safe = sys.modules.get("modules.safe")
    torch = sys.modules.get("torch")
    if safe is not None and torch is not None and safe.unsafe_torch_load is not None:
        torch.load = safe.unsafe_torch_load


def _info(name):
    return _checkpoints.CheckpointInfo(os.path.join("/models/Stable-diffusion", name))


def load_extension_scripts(root, extra_classes=()):
    """Run every scripts/*.py of the extension at `root`; build both runners."""
    scripts_dir = os.path.join(root, "scripts")
    for filename in sorted(os.listdir(scripts_dir)):
        if not filename.endswith(".py"):
            continue
        path = os.path.join(scripts_dir, filename)
        sys.path.insert(0, root)
        try:
            spec = importlib.util.spec_from_file_location(filename, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        finally:
            if not HOST.keeps_extension_roots:
                sys.path.remove(root)
        for obj in module.__dict__.values():
            if (
                isinstance(obj, type)
                and issubclass(obj, scripts.Script)
                and obj is not scripts.Script
            ):
                scripts.scripts_data.append(scripts.ScriptClassData(obj, path, root, module))
    for cls, filename in extra_classes:
        scripts.scripts_data.append(scripts.ScriptClassData(cls, filename, root, None))
    scripts.scripts_txt2img = scripts.ScriptRunner()
    scripts.scripts_img2img = scripts.ScriptRunner()
    scripts.scripts_txt2img.initialize_scripts(is_img2img=False)
    scripts.scripts_img2img.initialize_scripts(is_img2img=True)
