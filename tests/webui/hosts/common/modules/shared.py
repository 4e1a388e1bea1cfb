"""modules/shared.py: opts, cmd_opts, state, upscalers, and the `sd_model` property."""

import argparse
import sys
import types

from modules import options, shared_state
from modules._flavour import HOST
from modules.options import OptionInfo, options_section  # noqa: F401 - re-exported like the host


def default_cmd_opts():
    """The flags as a default start leaves them (plus Enhance's preload.py flags); a fork's
    dropped attributes (Neo: `use_cpu`, `disable_safe_unpickle`) are not there at all."""
    flags = dict(
        api=True,
        api_auth=None,
        nowebui=False,
        no_prompt_history=False,
        freeze_settings=False,
        skip_install=False,
        disable_safe_unpickle=False,
        use_cpu=[],
        lowvram=False,
        medvram=False,
        ui_config_file="ui-config.json",
        enhance_models_dir=None,
        enhance_allow_api_paths=False,
        enhance_queue=None,
        enhance_queue_claim_after=30.0,
        enhance_queue_worker_id=None,
    )
    for name in HOST.dropped_cmd_opts:
        del flags[name]
    return flags


cmd_opts = argparse.Namespace(**default_cmd_opts())
opts = options.Options({}, set())
state = shared_state.State()
sd_upscalers = []
latent_upscale_modes = {
    "Latent": {"mode": "bilinear", "antialias": False},
    "Latent (antialiased)": {"mode": "bilinear", "antialias": True},
    "Latent (bicubic)": {"mode": "bicubic", "antialias": False},
    "Latent (bicubic antialiased)": {"mode": "bicubic", "antialias": True},
    "Latent (nearest)": {"mode": "nearest", "antialias": False},
    "Latent (nearest-exact)": {"mode": "nearest-exact", "antialias": False},
}
latent_upscale_default_mode = "Latent"
face_restorers = []
demo = None
device = "cpu"


class _Styles:
    """prompt_styles: each style name appends ", <name>" (so applying twice is visible)."""

    def __init__(self):
        self.styles = {}

    def apply_styles_to_prompt(self, prompt, styles):
        for name in styles or []:
            prompt = f"{prompt}, {name}" if prompt else name
        return prompt

    def apply_negative_styles_to_prompt(self, prompt, styles):
        for name in styles or []:
            prompt = f"{prompt}, neg-{name}" if prompt else f"neg-{name}"
        return prompt


prompt_styles = _Styles()


class _TotalTQDM:
    def reset(self):
        pass

    def update(self):
        pass

    def updateTotal(self, new_total):
        pass

    def clear(self):
        pass


total_tqdm = _TotalTQDM()


class Shared(types.ModuleType):
    """The host makes `shared.sd_model` a property the same way (shared_items.Shared)."""

    @property
    def sd_model(self):
        from modules import sd_models

        return sd_models.model_data.get_sd_model()

    @sd_model.setter
    def sd_model(self, value):
        from modules import sd_models

        sd_models.model_data.set_sd_model(value)


sys.modules[__name__].__class__ = Shared
