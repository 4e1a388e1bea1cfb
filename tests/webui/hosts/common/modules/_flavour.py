"""Stand-in helper (not a host module): what differs between the five hosts, as one table.

Each flavour folder's `modules/__init__.py` sets `FLAVOUR`; the common modules read `HOST`
(that flavour's row) rather than comparing names, so a sixth fork is one more row plus a folder
for the modules it replaces wholesale. Where each value was read (repository, commit, file) is
written in the flavour folder's README.md.
"""

from dataclasses import dataclass

import modules


@dataclass(frozen=True)
class Flavour:
    name: str
    gradio: int
    """The gradio major version the host runs (which test venv runs it)."""
    forge_backend: bool
    """The `backend/` model manager: `sd_models.forge_model_reload` and
    `modules_forge.main_entry` (checkpoint and VAE through main_entry, the first model loads on
    the first generation, one model at a time); with it come `PostprocessImageArgs(image,
    index)`, `distilled_cfg_scale`, `hr_additional_modules`, three-slot cond caches, Forge's
    Batch-tab naming and pydantic 2. False: A1111's `reload_model_weights` / `load_model`."""
    checkpoint_change_preset: bool = False
    """`main_entry.checkpoint_change(ckpt_name, preset, save, refresh)` (and `modules_change`
    with `preset`); False: `checkpoint_change(ckpt_name, save, refresh)`."""
    restores_checkpoint_after_hr_load: bool = False
    """The host's Hires.fix puts `sd_model_checkpoint` back right after loading the hires
    checkpoint (not after the hires pass)."""
    sorting_priority: bool = False
    keeps_extension_roots: bool = False
    """Every extension root is put on sys.path for good before scripts load (A1111: only
    while each file runs)."""
    init_images_hook: bool = False
    """`before_process_init_images(p, pp, *args)` from `Img2Img.init`."""
    extra_images: bool = False
    """`Processed.extra_images`, returned after the images by the UI and the API."""
    torch_load_checker: bool = False
    """`safe.py` ends with `torch.load = load`: every torch.load runs the checker first."""
    torch_weights_only_default: bool = True
    """The host's torch (≥ 2.6) loads with `weights_only=True` unless told otherwise."""
    dropped_cmd_opts: tuple = ()
    """Command-line attributes A1111 has and this host no longer defines."""
    hires_cfg_field: str | None = None
    """The Txt2Img field for the hires CFG: "hr_cfg" or "hr_cfg_scale" (None: A1111 has none)."""
    needs_script_runner: bool = False
    """`process_images` reads `p.scripts.alwayson_scripts` in its batch loop without checking
    for None (its advanced-model-sampling lookup): a job without a script runner fails."""


FORGE_FAMILY = dict(sorting_priority=True, keeps_extension_roots=True, extra_images=True)
FLAVOURS = {
    f.name: f
    for f in (
        Flavour("a1111", gradio=3, forge_backend=False, torch_load_checker=True,
                torch_weights_only_default=False),
        Flavour("forge", gradio=4, forge_backend=True, init_images_hook=True,
                torch_weights_only_default=False, hires_cfg_field="hr_cfg", **FORGE_FAMILY),
        Flavour("neo", gradio=4, forge_backend=True, checkpoint_change_preset=True,
                restores_checkpoint_after_hr_load=True, init_images_hook=True,
                dropped_cmd_opts=("use_cpu", "disable_safe_unpickle"), hires_cfg_field="hr_cfg",
                **FORGE_FAMILY),
        Flavour("classic", gradio=3, forge_backend=False, hires_cfg_field="hr_cfg_scale",
                **FORGE_FAMILY),
        Flavour("reforge", gradio=3, forge_backend=False, init_images_hook=True,
                hires_cfg_field="hr_cfg", needs_script_runner=True, **FORGE_FAMILY),
    )
}  # fmt: skip

HOST = FLAVOURS[modules.FLAVOUR]
