"""modules/processing.py: the processing dataclasses and process_images, in the host's order.

Sampling is a deterministic transform (see tests/webui/hosts/README.md); everything else —
callback order (§1.4/§1.5), seeds and prompts, override_settings and its restore (with the
A1111 leak of §12), the model handling of each flavour (§2.4, §3), the Forge
`hr_additional_modules=None` crash (§2.2), `index_of_first_image`, infotext built at save time
from `p.extra_generation_params` — follows the host.
"""

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from modules import images, infotext_utils, paths, scripts, sd_models, sd_vae, shared
from modules._flavour import HOST
from modules.shared import opts, state
from PIL import Image

FORGE = HOST.forge_backend
CALLS: list[dict] = []
"""Every sampler job: what the host was asked to do (kind, sizes, seeds, prompts, model …)."""
need_global_unload = False
NEAREST = Image.Resampling.NEAREST
OOM = {"pixels": None, "batch": None}
"""Tests set a budget: an img2img sampler job holding more pixels (items × W × H) or more items
raises what torch raises on CUDA (`torch.cuda.OutOfMemoryError`, a RuntimeError)."""


class OutOfMemoryError(RuntimeError):
    """Stands in for `torch.cuda.OutOfMemoryError` (same name and base; no torch here)."""


def _out_of_memory(items, size):
    pixels, batch = OOM["pixels"], OOM["batch"]
    if (pixels is not None and items * size[0] * size[1] > pixels) or (
        batch is not None and items > batch
    ):
        raise OutOfMemoryError(
            f"CUDA out of memory. Tried to allocate {items * size[0] * size[1] * 4 // 2**20} MiB "
            "(GPU 0; 7.79 GiB total capacity; 6.12 GiB already allocated)"
        )


def get_fixed_seed(seed):
    if seed == "" or seed is None:
        seed = -1
    elif isinstance(seed, str):
        try:
            seed = int(seed)
        except Exception:
            seed = random.randrange(4294967294)
    if seed == -1:
        return int(random.randrange(4294967294))
    return seed


def fix_seed(p):
    p.seed = get_fixed_seed(p.seed)
    p.subseed = get_fixed_seed(p.subseed)


@dataclass(repr=False)
class StableDiffusionProcessing:
    sd_model: object = None
    outpath_samples: str = None
    outpath_grids: str = None
    prompt: str = ""
    prompt_for_display: str = None
    negative_prompt: str = ""
    styles: list = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    seed_enable_extras: bool = True
    sampler_name: str = None
    scheduler: str = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    if FORGE:
        distilled_cfg_scale: float = 3.5
    width: int = 512
    height: int = 512
    restore_faces: bool = None
    tiling: bool = None
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    extra_generation_params: dict = None
    overlay_images: list = None
    eta: float = None
    do_not_reload_embeddings: bool = False
    denoising_strength: float = None
    ddim_discretize: str = None
    s_min_uncond: float = None
    s_churn: float = None
    s_tmax: float = None
    s_tmin: float = None
    s_noise: float = None
    override_settings: dict = None
    override_settings_restore_afterwards: bool = True
    sampler_index: int = None
    refiner_checkpoint: str = None
    refiner_switch_at: float = None
    token_merging_ratio = 0
    token_merging_ratio_hr = 0
    disable_extra_networks: bool = False
    firstpass_image: Any = None

    scripts_value: Any = field(default=None, init=False)
    script_args_value: list = field(default=None, init=False)
    scripts_setup_complete: bool = field(default=False, init=False)

    cached_uc = [None, None, None] if FORGE else [None, None]
    cached_c = [None, None, None] if FORGE else [None, None]

    comments: dict = field(default=None, init=False)
    sampler: Any = field(default=None, init=False)
    is_using_inpainting_conditioning: bool = field(default=False, init=False)
    paste_to: tuple = field(default=None, init=False)
    is_hr_pass: bool = field(default=False, init=False)
    c: tuple = field(default=None, init=False)
    uc: tuple = field(default=None, init=False)
    rng: Any = field(default=None, init=False)
    color_corrections: list = field(default=None, init=False)
    all_prompts: list = field(default=None, init=False)
    all_negative_prompts: list = field(default=None, init=False)
    all_seeds: list = field(default=None, init=False)
    all_subseeds: list = field(default=None, init=False)
    iteration: int = field(default=0, init=False)
    main_prompt: str = field(default=None, init=False)
    main_negative_prompt: str = field(default=None, init=False)
    prompts: list = field(default=None, init=False)
    negative_prompts: list = field(default=None, init=False)
    seeds: list = field(default=None, init=False)
    subseeds: list = field(default=None, init=False)
    extra_network_data: dict = field(default=None, init=False)
    user: str = field(default=None, init=False)
    sd_model_name: str = field(default=None, init=False)
    sd_model_hash: str = field(default=None, init=False)
    sd_vae_name: str = field(default=None, init=False)
    sd_vae_hash: str = field(default=None, init=False)
    is_api: bool = field(default=False, init=False)

    def __post_init__(self):
        self.comments = {}
        if self.styles is None:
            self.styles = []
        self.extra_generation_params = self.extra_generation_params or {}
        self.override_settings = self.override_settings or {}
        self.script_args = self.script_args or {}
        self.cached_uc = StableDiffusionProcessing.cached_uc
        self.cached_c = StableDiffusionProcessing.cached_c

    @property
    def sd_model(self):  # noqa: F811 - the host shadows the field with a property
        return shared.sd_model

    @sd_model.setter
    def sd_model(self, value):
        pass

    @property
    def scripts(self):
        return self.scripts_value

    @scripts.setter
    def scripts(self, value):
        self.scripts_value = value
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.setup_scripts()

    @property
    def script_args(self):
        return self.script_args_value

    @script_args.setter
    def script_args(self, value):
        self.script_args_value = value
        if self.scripts_value and self.script_args_value and not self.scripts_setup_complete:
            self.setup_scripts()

    def setup_scripts(self):
        self.scripts_setup_complete = True
        self.scripts.setup_scrips(self, is_ui=not self.is_api)

    def comment(self, text):
        self.comments[text] = 1

    def setup_prompts(self):
        if isinstance(self.prompt, list):
            self.all_prompts = self.prompt
        elif isinstance(self.negative_prompt, list):
            self.all_prompts = [self.prompt] * len(self.negative_prompt)
        else:
            self.all_prompts = self.batch_size * self.n_iter * [self.prompt]
        if isinstance(self.negative_prompt, list):
            self.all_negative_prompts = self.negative_prompt
        else:
            self.all_negative_prompts = [self.negative_prompt] * len(self.all_prompts)
        if len(self.all_prompts) != len(self.all_negative_prompts):
            raise RuntimeError("Received a different number of prompts and negative prompts")
        self.all_prompts = [
            shared.prompt_styles.apply_styles_to_prompt(x, self.styles) for x in self.all_prompts
        ]
        self.all_negative_prompts = [
            shared.prompt_styles.apply_negative_styles_to_prompt(x, self.styles)
            for x in self.all_negative_prompts
        ]
        self.main_prompt = self.all_prompts[0]
        self.main_negative_prompt = self.all_negative_prompts[0]

    def close(self):
        self.sampler = None
        self.c = None
        self.uc = None
        if not opts.data.get("persistent_cond_cache", True):
            StableDiffusionProcessing.cached_c = [None, None]
            StableDiffusionProcessing.cached_uc = [None, None]

    def save_samples(self) -> bool:
        return (
            opts.samples_save
            and not self.do_not_save_samples
            and (opts.save_incomplete_images or (not state.interrupted and not state.skipped))
        )

    def init(self, all_prompts, all_seeds, all_subseeds):
        pass

    def _record(self, kind, size, images_in=None, denoise=None, steps=None):
        model = shared.sd_model
        runner = self.scripts
        CALLS.append(
            {
                "kind": kind,
                "batch": len(self.prompts),
                "size": size,
                "seeds": list(self.seeds),
                "prompts": list(self.prompts),
                "negative_prompts": list(self.negative_prompts),
                "steps": steps or self.steps,
                "sampler": self.sampler_name,
                "scheduler": self.scheduler,
                "cfg": self.cfg_scale,
                "denoise": denoise,
                "checkpoint": model.sd_checkpoint_info.title,
                "vae": getattr(sd_vae, "loaded_vae_file", None)
                if not FORGE
                else getattr(model, "forge_modules", None),
                "masked": getattr(self, "image_mask", None) is not None,
                "latent_mask_rows": _mask_rows(getattr(self, "nmask", None)),
                "inpaint_full_res": getattr(self, "inpaint_full_res", None),
                "scripts": None if runner is None else [s.title() for s in runner.alwayson_scripts],
                "styles": list(self.styles),
                "override_settings": dict(self.override_settings),
                "do_not_save_samples": self.do_not_save_samples,
                "restore_faces": self.restore_faces,
                "fresh_cond_cache": self.cached_c is not StableDiffusionProcessing.cached_c,
                "inner": getattr(self, "_enhance_inner", False),
                "init_sizes": [im.size for im in images_in or []],
            }
        )


def _mask_rows(nmask):
    """How many batch items have a latent mask of their own (0: none; 1: one for all)."""
    if nmask is None:
        return 0
    return int(nmask.shape[0]) if nmask.ndim == 4 else 1


def _code():
    if not getattr(shared.sd_model, "hijacked", True):
        raise RuntimeError("Found no NVIDIA driver on your system (text encoder left unhijacked)")
    return shared.sd_model.code


def _diffuse(img, seed, denoise, size):
    a = np.asarray(img.convert("RGB").resize(size, NEAREST)).astype(np.int32)
    a[..., 0] = (a[..., 0] + round(denoise * 100)) % 256
    a[..., 1] = (a[..., 1] + int(seed) % 7) % 256
    a[..., 2] = _code()
    return Image.fromarray(a.astype(np.uint8))


def diffuse(img, seed, denoise, size):
    """The stand-in's img2img 'sampler', public so tests can compute expected pixels."""
    return _diffuse(img, seed, denoise, size)


def create_random_tensors(
    shape,
    seeds,
    subseeds=None,
    subseed_strength=0.0,
    seed_resize_from_h=0,
    seed_resize_from_w=0,
    p=None,
):
    """One noise "latent" per seed (numpy stands in for torch)."""
    return np.stack(
        [np.random.default_rng(int(s)).normal(0, 1, shape).astype(np.float32) for s in seeds]
    )


def _to_latent(image):
    """The stand-in VAE: a "latent" is the image's pixels, channels first (opt_f = 1)."""
    return np.moveaxis(np.asarray(image.convert("RGB"), np.float32), 2, 0)


def _from_latent(latent):
    return Image.fromarray(np.clip(np.rint(np.moveaxis(latent, 0, 2)), 0, 255).astype(np.uint8))


def first_pass(seed, size):
    return Image.new("RGB", size, ((int(seed) * 7) % 256, (int(seed) * 13) % 256, _code()))


@dataclass(repr=False)
class StableDiffusionProcessingTxt2Img(StableDiffusionProcessing):
    enable_hr: bool = False
    denoising_strength: float = 0.75
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str = None
    if FORGE:
        hr_additional_modules: list = None
    hr_sampler_name: str = None
    hr_scheduler: str = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    if HOST.hires_cfg_field == "hr_cfg":
        hr_cfg: float = 1.0
    if FORGE:
        hr_distilled_cfg: float = 3.5
    if HOST.hires_cfg_field == "hr_cfg_scale":  # Classic: no default; the UI always sends one
        hr_cfg_scale: float = None
        hr_rescale_cfg: float = None
    force_task_id: str = None

    cached_hr_uc = [None, None]  # noqa: RUF012 - class-level on purpose (§2.7)
    cached_hr_c = [None, None]  # noqa: RUF012

    hr_checkpoint_info: dict = field(default=None, init=False)
    hr_upscale_to_x: int = field(default=0, init=False)
    hr_upscale_to_y: int = field(default=0, init=False)
    truncate_x: int = field(default=0, init=False)
    truncate_y: int = field(default=0, init=False)
    latent_scale_mode: dict = field(default=None, init=False)

    def init(self, all_prompts, all_seeds, all_subseeds):
        if self.enable_hr:
            self.extra_generation_params["Denoising strength"] = self.denoising_strength
            if self.hr_checkpoint_name and self.hr_checkpoint_name != "Use same checkpoint":
                self.hr_checkpoint_info = sd_models.get_closet_checkpoint_match(
                    self.hr_checkpoint_name
                )
                if self.hr_checkpoint_info is None:
                    raise Exception(
                        f"Could not find checkpoint with name {self.hr_checkpoint_name}"
                    )
                self.extra_generation_params["Hires checkpoint"] = (
                    self.hr_checkpoint_info.short_title
                )
            self.latent_scale_mode = shared.latent_upscale_modes.get(self.hr_upscaler)
            if self.hr_resize_x == 0 and self.hr_resize_y == 0:
                self.extra_generation_params["Hires upscale"] = self.hr_scale
                self.hr_upscale_to_x = int(self.width * self.hr_scale)
                self.hr_upscale_to_y = int(self.height * self.hr_scale)
            else:
                self.extra_generation_params["Hires resize"] = (
                    f"{self.hr_resize_x}x{self.hr_resize_y}"
                )
                if self.hr_resize_y == 0:
                    self.hr_upscale_to_x = self.hr_resize_x
                    self.hr_upscale_to_y = self.hr_resize_x * self.height // self.width
                elif self.hr_resize_x == 0:
                    self.hr_upscale_to_x = self.hr_resize_y * self.width // self.height
                    self.hr_upscale_to_y = self.hr_resize_y
                else:
                    self.hr_upscale_to_x = self.hr_resize_x
                    self.hr_upscale_to_y = self.hr_resize_y
            self.extra_generation_params["Hires upscaler"] = self.hr_upscaler
            if self.hr_second_pass_steps:
                self.extra_generation_params["Hires steps"] = self.hr_second_pass_steps
            if not state.processing_has_refined_job_count:
                if state.job_count == -1:
                    state.job_count = self.n_iter
                state.job_count = state.job_count * 2
                state.processing_has_refined_job_count = True

    def sample(self, prompts, seeds):
        size = (self.width, self.height)
        self._record("txt2img", size)
        self.scripts and self.scripts.process_before_every_sampling(self, x=None, noise=None)
        out = [first_pass(s, size) for s in seeds]
        if not self.enable_hr:
            return out
        if FORGE and "Use same choices" not in self.hr_additional_modules:
            pass  # F:1405: a TypeError when the API/extension left it None
        previous = opts.data.get("sd_model_checkpoint")
        preset = {"preset": None} if HOST.checkpoint_change_preset else {}
        if self.hr_checkpoint_info is not None:
            if FORGE:
                from modules_forge import main_entry

                main_entry.checkpoint_change(
                    self.hr_checkpoint_info.title, save=False, refresh=False, **preset
                )
                try:
                    main_entry.refresh_model_loading_parameters()
                    sd_models.forge_model_reload()
                finally:  # Neo: the setting goes back as soon as the hires model is in
                    if HOST.restores_checkpoint_after_hr_load:
                        main_entry.checkpoint_change(previous, save=False, refresh=False, **preset)
                        main_entry.refresh_model_loading_parameters()
            else:
                with sd_models.SkipWritingToConfig():
                    sd_models.reload_model_weights(info=self.hr_checkpoint_info)
        try:
            return self.sample_hr_pass(out, seeds)
        finally:
            if FORGE and self.hr_checkpoint_info is not None:
                from modules_forge import main_entry

                main_entry.checkpoint_change(previous, save=False, refresh=True, **preset)  # lazy

    def sample_hr_pass(self, imgs, seeds):
        if state.interrupted:
            return imgs
        if self.save_samples() and opts.save_images_before_highres_fix:
            for i, image in enumerate(imgs):
                info = create_infotext(
                    self, self.all_prompts, self.all_seeds, self.all_subseeds, [],
                    iteration=self.iteration, position_in_batch=i,
                )  # fmt: skip
                images.save_image(
                    image, self.outpath_samples, "", seeds[i], self.prompts[i],
                    opts.samples_format, info=info, p=self, suffix="-before-highres-fix",
                )  # fmt: skip
        self.is_hr_pass = True
        target = (self.hr_upscale_to_x, self.hr_upscale_to_y)
        if self.latent_scale_mode is not None:
            imgs = [im.resize(target, NEAREST) for im in imgs]
        else:
            imgs = [
                images.resize_image(0, im, *target, upscaler_name=self.hr_upscaler) for im in imgs
            ]
        state.nextjob()
        if self.scripts is not None:
            self.scripts.after_extra_networks_activate(
                self, batch_number=self.iteration, prompts=self.prompts, seeds=self.seeds
            )
            self.scripts.before_hr(self)
            self.scripts.process_before_every_sampling(self, x=None, noise=None)
            if FORGE:
                self.scripts.process_before_every_sampling(self, x=None, noise=None)
        steps = self.hr_second_pass_steps or self.steps
        if HOST.hires_cfg_field:  # used as a number by the sampler: None fails (Classic's API)
            float(getattr(self, HOST.hires_cfg_field))
        self._record("hires", target, imgs, self.denoising_strength, steps)
        out = [
            _diffuse(im, s, self.denoising_strength, target)
            for im, s in zip(imgs, seeds, strict=False)
        ]
        self.is_hr_pass = False
        return out


@dataclass(repr=False)
class StableDiffusionProcessingImg2Img(StableDiffusionProcessing):
    init_images: list = None
    resize_mode: int = 0
    denoising_strength: float = 0.75
    image_cfg_scale: float = None
    mask: Any = None
    mask_blur_x: int = 4
    mask_blur_y: int = 4
    mask_blur: int = None
    mask_round: bool = True
    inpainting_fill: int = 0
    inpaint_full_res: bool = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    initial_noise_multiplier: float = None
    latent_mask: Any = None
    force_task_id: str = None

    image_mask: Any = field(default=None, init=False)
    nmask: Any = field(default=None, init=False)
    image_conditioning: Any = field(default=None, init=False)
    init_img_hash: str = field(default=None, init=False)
    mask_for_overlay: Any = field(default=None, init=False)
    init_latent: Any = field(default=None, init=False)

    def __post_init__(self):
        super().__post_init__()
        self.image_mask = self.mask
        self.mask = None
        self.initial_noise_multiplier = (
            opts.data.get("initial_noise_multiplier", 1.0)
            if self.initial_noise_multiplier is None
            else self.initial_noise_multiplier
        )

    @property
    def mask_blur(self):  # noqa: F811 - the host shadows the field with a property
        if self.mask_blur_x == self.mask_blur_y:
            return self.mask_blur_x
        return None

    @mask_blur.setter
    def mask_blur(self, value):
        if isinstance(value, int):
            self.mask_blur_x = value
            self.mask_blur_y = value

    def init(self, all_prompts, all_seeds, all_subseeds):
        self.extra_generation_params["Denoising strength"] = self.denoising_strength
        image_mask = self.image_mask
        self._crop = None
        self._full_mask = None
        if image_mask is not None:
            m = np.asarray(image_mask.convert("L")) > 127
            if self.inpainting_mask_invert:
                m = ~m
            if self.inpaint_full_res:
                ys, xs = np.nonzero(m)
                if len(xs):
                    pad = self.inpaint_full_res_padding
                    x1, y1 = max(0, xs.min() - pad), max(0, ys.min() - pad)
                    x2, y2 = (
                        min(m.shape[1], xs.max() + 1 + pad),
                        min(m.shape[0], ys.max() + 1 + pad),
                    )
                    self._crop = (int(x1), int(y1), int(x2), int(y2))
                    self.paste_to = (int(x1), int(y1), int(x2 - x1), int(y2 - y1))
                    self.extra_generation_params["Inpaint area"] = "Only masked"
                else:
                    self.inpaint_full_res = False
            self._full_mask = m
            self.mask_for_overlay = Image.fromarray((m * 255).astype(np.uint8))
            self.overlay_images = []
        if HOST.init_images_hook and self.scripts is not None:
            self.scripts.before_process_init_images(
                self, dict(crop_region=self._crop, image_mask=self.image_mask)
            )
        latent_mask = None
        if self._full_mask is not None:
            full = Image.fromarray((self._full_mask * 255).astype(np.uint8))
            if self._crop is not None:
                latent_mask = full.crop(self._crop).resize((self.width, self.height), NEAREST)
            else:
                latent_mask = full.resize((self.width, self.height), NEAREST)
        if self.latent_mask is not None:
            latent_mask = self.latent_mask
        self._inputs = []
        for img in self.init_images:
            if opts.data.get("save_init_img", False):
                images.save_image(img, paths.data_path, "init")
            image = img.convert("RGB")
            if self._crop is None:
                image = image.resize((self.width, self.height), NEAREST)
            if self._full_mask is not None:
                self.overlay_images.append(
                    image if self._crop is not None else image.resize((self.width, self.height))
                )
            if self._crop is not None:
                image = image.crop(self._crop).resize((self.width, self.height), NEAREST)
            if latent_mask is not None and self.inpainting_fill == 0:
                from modules import masking

                image = masking.fill(image, latent_mask)
            self._inputs.append(image)
        self.init_latent = np.stack([_to_latent(im) for im in self._inputs])
        self.mask = None
        self.nmask = None
        if latent_mask is not None:
            # as the host: the mask at latent size, 0..1, rounded, one row per latent channel,
            # broadcast over the batch
            latent = self.init_latent
            latmask = latent_mask.convert("RGB").resize((latent.shape[3], latent.shape[2]))
            latmask = np.asarray(latmask, np.float32)[..., 0] / 255
            if self.mask_round:
                latmask = np.around(latmask)
            latmask = np.tile(latmask[None], (latent.shape[1], 1, 1))
            self.mask = (1.0 - latmask).astype(np.float32)
            self.nmask = latmask.astype(np.float32)
            if self.inpainting_fill == 2:
                noise = create_random_tensors(latent.shape[1:], all_seeds[: latent.shape[0]])
                self.init_latent = latent * self.mask + noise * self.nmask
            elif self.inpainting_fill == 3:
                self.init_latent = latent * self.mask

    def sample(self, prompts, seeds):
        size = (self.width, self.height)
        if self.scripts is not None:
            self.scripts.process_before_every_sampling(self, x=None, noise=None)
        _out_of_memory(len(seeds), size)
        self._record("img2img", size, self._inputs, self.denoising_strength)
        out = []
        for i, s in enumerate(seeds):
            init = self.init_latent[i] if i < len(self.init_latent) else self.init_latent[0]
            # "sampling": the deterministic transform of the start latent; with a mask the
            # context is held at every step (denoiser) and blended at the end, as the host does,
            # per item when the host's mask has a batch dimension
            x = _to_latent(_diffuse(_from_latent(init), s, self.denoising_strength, size))
            if self.mask is not None:
                mask = self.mask[i] if self.mask.ndim == 4 else self.mask
                nmask = self.nmask[i] if self.nmask.ndim == 4 else self.nmask
                x = init * mask + nmask * x
                if self.scripts is not None:
                    self.scripts.on_mask_blend(self, scripts.MaskBlendArgs(x, nmask, init, mask, x))
            out.append(_from_latent(x))
        return out


def apply_overlay(image, paste_loc, overlay, full_mask=None):
    """Paste-back of "only masked" and the overlay of unmasked pixels (opts.overlay_inpaint)."""
    if overlay is None:
        return image
    if paste_loc is not None:
        x, y, w, h = paste_loc
        base = overlay.copy()
        base.paste(image.resize((w, h), NEAREST), (x, y))
        image = base
    if full_mask is not None:
        m = np.asarray(Image.fromarray(full_mask).resize(image.size, NEAREST))
        image = Image.fromarray(
            np.where(
                m[..., None],
                np.asarray(image.convert("RGB")),
                np.asarray(overlay.convert("RGB").resize(image.size)),
            )
        )
    return image


class Processed:
    def __init__(
        self,
        p,
        images_list,
        seed=-1,
        info="",
        subseed=None,
        all_prompts=None,
        all_negative_prompts=None,
        all_seeds=None,
        all_subseeds=None,
        index_of_first_image=0,
        infotexts=None,
        comments="",
        extra_images_list=None,
    ):
        self.images = images_list
        self.prompt = p.prompt
        self.negative_prompt = p.negative_prompt
        self.seed = seed
        self.subseed = subseed
        self.info = info
        self.comments = "".join(f"{comment}\n" for comment in p.comments)
        self.width = p.width
        self.height = p.height
        self.sampler_name = p.sampler_name
        self.cfg_scale = p.cfg_scale
        self.steps = p.steps
        self.batch_size = p.batch_size
        self.restore_faces = p.restore_faces
        self.sd_model_name = p.sd_model_name
        self.sd_model_hash = p.sd_model_hash
        self.extra_generation_params = p.extra_generation_params
        self.index_of_first_image = index_of_first_image
        self.styles = p.styles
        self.all_prompts = all_prompts or p.all_prompts or [self.prompt]
        self.all_negative_prompts = all_negative_prompts or p.all_negative_prompts
        self.all_seeds = all_seeds or p.all_seeds or [self.seed]
        self.all_subseeds = all_subseeds or p.all_subseeds or [self.subseed]
        self.infotexts = infotexts or [info] * len(images_list)
        self.version = "stand-in"
        if HOST.extra_images:
            self.extra_images = extra_images_list or []

    def infotext(self, p, index):
        return create_infotext(
            p,
            self.all_prompts,
            self.all_seeds,
            self.all_subseeds,
            comments=[],
            position_in_batch=index % self.batch_size,
            iteration=index // self.batch_size,
        )

    def js(self):
        import json

        return json.dumps(
            {
                "prompt": self.prompt,
                "all_seeds": self.all_seeds,
                "infotexts": self.infotexts,
                "extra_generation_params": self.extra_generation_params,
            },
            default=str,
        )


def create_infotext(
    p,
    all_prompts,
    all_seeds,
    all_subseeds,
    comments=None,
    iteration=0,
    position_in_batch=0,
    use_main_prompt=False,
    index=None,
    all_negative_prompts=None,
):
    if use_main_prompt:
        index = 0
    elif index is None:
        index = position_in_batch + iteration * p.batch_size
    if all_negative_prompts is None:
        all_negative_prompts = p.all_negative_prompts
    model = shared.sd_model
    generation_params = {
        "Steps": p.steps,
        "Sampler": p.sampler_name,
        "Schedule type": p.scheduler,
        "CFG scale": p.cfg_scale,
        "Seed": p.all_seeds[0] if use_main_prompt else all_seeds[index],
        "Size": f"{p.width}x{p.height}",
        "Model hash": getattr(model, "sd_model_hash", None),
        "Model": model.sd_checkpoint_info.name_for_extra if model is not None else None,
        "Denoising strength": p.extra_generation_params.get("Denoising strength"),
    }
    generation_params.update(p.extra_generation_params)
    for key, value in list(generation_params.items()):
        try:
            if isinstance(value, list):
                generation_params[key] = value[index]
            elif callable(value):
                generation_params[key] = value(**locals())
        except Exception:
            from modules import errors

            errors.report(f'Error creating infotext for key "{key}"', exc_info=True)
            generation_params[key] = None
    text = ", ".join(
        k if k == v else f"{k}: {infotext_utils.quote(v)}"
        for k, v in generation_params.items()
        if v is not None
    )
    prompt_text = p.main_prompt if use_main_prompt else all_prompts[index]
    negative = p.main_negative_prompt if use_main_prompt else all_negative_prompts[index]
    negative_text = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt_text}{negative_text}\n{text}".strip()


def manage_model_and_prompt_cache(p):
    global need_global_unload
    p.sd_model, _just_reloaded = sd_models.forge_model_reload()
    need_global_unload = False


def process_images(p) -> Processed:
    if p.scripts is not None:
        p.scripts.before_process(p)
    stored_opts = {
        k: opts.data[k] if k in opts.data else opts.get_default(k)
        for k in p.override_settings
        if k in opts.data
    }
    try:
        if sd_models.checkpoint_aliases.get(p.override_settings.get("sd_model_checkpoint")) is None:
            p.override_settings.pop("sd_model_checkpoint", None)
            if not FORGE:
                sd_models.reload_model_weights()
        if FORGE:
            from modules.sysinfo import set_config

            set_config(p.override_settings, is_api=True, run_callbacks=False, save_config=False)
            manage_model_and_prompt_cache(p)
        else:
            for k, v in p.override_settings.items():
                opts.set(k, v, is_api=True, run_callbacks=False)
                if k == "sd_model_checkpoint":
                    sd_models.reload_model_weights()
                if k == "sd_vae":
                    sd_vae.reload_vae_weights()
        res = process_images_inner(p)
    finally:
        if p.override_settings_restore_afterwards:
            if FORGE:
                from modules.sysinfo import set_config

                set_config(stored_opts, save_config=False)
            else:
                for k, v in stored_opts.items():
                    setattr(opts, k, v)
                    if k == "sd_vae":
                        sd_vae.reload_vae_weights()
    return res


def process_images_inner(p) -> Processed:
    if isinstance(p.prompt, list):
        assert len(p.prompt) > 0
    seed = get_fixed_seed(p.seed)
    subseed = get_fixed_seed(p.subseed)
    if p.restore_faces is None:
        p.restore_faces = opts.data.get("face_restoration", False)
    if p.tiling is None:
        p.tiling = False
    p.sd_model_name = shared.sd_model.sd_checkpoint_info.name_for_extra
    p.sd_model_hash = shared.sd_model.sd_model_hash
    p.setup_prompts()
    if isinstance(seed, list):
        p.all_seeds = seed
    else:
        p.all_seeds = [
            int(seed) + (x if p.subseed_strength == 0 else 0) for x in range(len(p.all_prompts))
        ]
    if isinstance(subseed, list):
        p.all_subseeds = subseed
    else:
        p.all_subseeds = [int(subseed) + x for x in range(len(p.all_prompts))]
    if p.scripts is not None:
        p.scripts.process(p)
    infotexts = []
    output_images = []
    p.init(p.all_prompts, p.all_seeds, p.all_subseeds)
    if state.job_count == -1:
        state.job_count = p.n_iter
    for n in range(p.n_iter):
        p.iteration = n
        if state.skipped:
            state.skipped = False
        if state.interrupted or state.stopping_generation:
            break
        if FORGE:
            p.sd_model, _ = sd_models.forge_model_reload()
        else:
            sd_models.reload_model_weights()
        p.prompts = p.all_prompts[n * p.batch_size : (n + 1) * p.batch_size]
        p.negative_prompts = p.all_negative_prompts[n * p.batch_size : (n + 1) * p.batch_size]
        p.seeds = p.all_seeds[n * p.batch_size : (n + 1) * p.batch_size]
        p.subseeds = p.all_subseeds[n * p.batch_size : (n + 1) * p.batch_size]
        if p.scripts is not None:
            p.scripts.before_process_batch(
                p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds
            )
        if len(p.prompts) == 0:
            break
        if HOST.needs_script_runner:  # reForge: `p.scripts.alwayson_scripts`, no None check
            next((s for s in p.scripts.alwayson_scripts if getattr(s, "name", "") == "ams"), 0)
        if p.scripts is not None:
            p.scripts.after_extra_networks_activate(
                p,
                batch_number=n,
                prompts=p.prompts,
                seeds=p.seeds,
                subseeds=p.subseeds,
                extra_network_data={},
            )
            p.scripts.process_batch(
                p, batch_number=n, prompts=p.prompts, seeds=p.seeds, subseeds=p.subseeds
            )
        if n == 0 and not shared.cmd_opts.no_prompt_history:
            with open(os.path.join(paths.data_path, "params.txt"), "w", encoding="utf8") as file:
                processed = Processed(p, [])
                file.write(processed.infotext(p, 0))
        samples = p.sample(p.prompts, p.seeds)
        if p.scripts is not None:
            ps = scripts.PostSampleArgs(samples)
            p.scripts.post_sample(p, ps)
            samples = ps.samples
        state.nextjob()
        if p.scripts is not None:
            p.scripts.postprocess_batch(p, samples, batch_number=n)
            batch_params = scripts.PostprocessBatchListArgs(list(samples))
            p.scripts.postprocess_batch_list(p, batch_params, batch_number=n)
            samples = batch_params.images

        def infotext(index=0, use_main_prompt=False):
            return create_infotext(
                p,
                p.prompts,
                p.seeds,
                p.subseeds,
                use_main_prompt=use_main_prompt,
                index=index,
                all_negative_prompts=p.negative_prompts,
            )

        save_samples = p.save_samples()
        for i, image in enumerate(samples):
            p.batch_index = i
            if p.scripts is not None:
                pp = (
                    scripts.PostprocessImageArgs(image, i + p.iteration * p.batch_size)
                    if FORGE
                    else scripts.PostprocessImageArgs(image)
                )
                p.scripts.postprocess_image(p, pp)
                image = pp.image
            mask_for_overlay = getattr(p, "mask_for_overlay", None)
            if not opts.data.get("overlay_inpaint", True):
                overlay_image = None
            elif getattr(p, "overlay_images", None) is not None and i < len(p.overlay_images):
                overlay_image = p.overlay_images[i]
            elif getattr(p, "overlay_images", None):
                overlay_image = p.overlay_images[0]
            else:
                overlay_image = None
            if p.scripts is not None:
                ppmo = scripts.PostProcessMaskOverlayArgs(i, mask_for_overlay, overlay_image)
                p.scripts.postprocess_maskoverlay(p, ppmo)
                mask_for_overlay, overlay_image = ppmo.mask_for_overlay, ppmo.overlay_image
            image = apply_overlay(image, p.paste_to, overlay_image, getattr(p, "_full_mask", None))
            if p.scripts is not None:
                pp = (
                    scripts.PostprocessImageArgs(image, i + p.iteration * p.batch_size)
                    if FORGE
                    else scripts.PostprocessImageArgs(image)
                )
                p.scripts.postprocess_image_after_composite(p, pp)
                image = pp.image
            if save_samples:
                images.save_image(
                    image,
                    p.outpath_samples,
                    "",
                    p.seeds[i],
                    p.prompts[i],
                    opts.samples_format,
                    info=infotext(i),
                    p=p,
                )
            text = infotext(i)
            infotexts.append(text)
            if opts.enable_pnginfo:
                image.info["parameters"] = text
            output_images.append(image)
    if not infotexts:
        infotexts.append(Processed(p, []).infotext(p, 0))
    index_of_first_image = 0
    unwanted_grid = len(output_images) < 2 and opts.grid_only_if_multiple
    if (opts.return_grid or opts.grid_save) and not p.do_not_save_grid and not unwanted_grid:
        grid = images.image_grid(output_images, p.batch_size)
        text = create_infotext(p, p.prompts, p.seeds, p.subseeds, use_main_prompt=True)
        if opts.return_grid:
            infotexts.insert(0, text)
            if opts.enable_pnginfo:
                grid.info["parameters"] = text
            output_images.insert(0, grid)
            index_of_first_image = 1
        if opts.grid_save:
            images.save_image(
                grid, p.outpath_grids, "grid", p.all_seeds[0], p.all_prompts[0],
                opts.grid_format, info=text, short_filename=not opts.grid_extended_filename,
                p=p, grid=True,
            )  # fmt: skip
    res = Processed(
        p,
        images_list=output_images,
        seed=p.all_seeds[0],
        info=infotexts[0],
        subseed=p.all_subseeds[0],
        index_of_first_image=index_of_first_image,
        infotexts=infotexts,
    )
    if p.scripts is not None:
        p.scripts.postprocess(p, res)
    return res
