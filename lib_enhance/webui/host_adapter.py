"""The `Host` interface on the real WebUIs: A1111 1.10.x and the Forge family (Forge, Neo,
Classic, reForge); with `capabilities`, the only `modules.*` user.

Every img2img group becomes ONE nested `StableDiffusionProcessingImg2Img` whose init images are
the group's items (per-item prompts and seeds passed as lists), so the host samples them as one
batch. Nested jobs never save, never restore faces, never apply styles (prompts from
`p.all_prompts` already carry them), use fresh conditioning caches, and run without this
extension in their script runner, so they cannot recurse.

Checkpoint and VAE swaps follow HOST_API.md §3.3 through the `capabilities.ModelSwitch` this
host supports (decided by what exists, not by the host's name): `main_entry.checkpoint_change`
with `forge_model_reload` (Forge main, Neo), or eager `reload_model_weights` with the nested jobs
pinned through `override_settings` (A1111, Classic, reForge). The user's checkpoint is always
restored explicitly, also after a failed load.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from modules import processing, sd_models, sd_samplers, shared
from PIL import Image

from ..host import (
    CheckpointSwitcher,
    HostError,
    HostInterrupted,
    HostOutOfMemory,
    Img2ImgItem,
    PassSettings,
    is_out_of_memory,
)
from ..spec.config import HostNames
from . import capabilities
from . import settings as enhance_settings
from .checkpoint_files import CheckpointFileError, check_safetensors

log = logging.getLogger("enhance")

INPAINT_FILL = {"fill": 0, "original": 1, "latent noise": 2, "latent nothing": 3}

NESTED_OPTIONS = {
    "overlay_inpaint": True,
    "img2img_color_correction": False,
    "save_init_img": False,
    "return_mask": False,
    "return_mask_composite": False,
    "return_grid": False,
}
"""Options forced on nested jobs: the full frame back, nothing written to disk, no extras."""

_MISSING = object()


def _state() -> Any:
    return shared.state


PIXEL_BUILTINS = ("None", "Lanczos", "Nearest")


def _on_disk(upscaler: Any) -> bool:
    """Runs without a download: a pixel built-in, or a model file that exists.

    A model not downloaded yet has its URL as its path (R-ESRGAN, DAT, SwinIR), or no path at
    all while it still downloads on first use (LDSR) — neither counts.
    """
    if upscaler.name in PIXEL_BUILTINS:
        return True
    path = str(getattr(upscaler, "local_data_path", None) or upscaler.data_path or "")
    return bool(path) and os.path.isfile(path)


class WebUIHost:
    """`host.Host` for one generation. `p` is the user's job (None for API-only calls)."""

    def __init__(self, p: Any = None, own_script: Any = None):
        self.p = p
        self.own_script = own_script
        self.switcher = CheckpointSwitcher(self._load, recover=self._recover)
        self.models = capabilities.model_switch()
        self.hashes: dict[str, str] = {}
        """Checkpoint name → short hash of what was loaded, for the infotext."""

    # ------------------------------------------------------------------ lists

    def upscalers(self, installed_only: bool = False) -> list[str]:
        if installed_only:
            return [u.name for u in shared.sd_upscalers if _on_disk(u)]
        names = [u.name for u in shared.sd_upscalers]
        return names + [m for m in getattr(shared, "latent_upscale_modes", {}) if m not in names]

    def checkpoints(self) -> list[str]:
        return [info.title for info in sd_models.checkpoints_list.values()]

    def vaes(self) -> list[str]:
        return self.models.vaes()

    # ------------------------------------------------------------------ state

    def stop_requested(self) -> bool:
        st = _state()
        return bool(st.interrupted or st.skipped or getattr(st, "stopping_generation", False))

    def progress(self, text: str, done: int, total: int) -> None:
        _state().textinfo = f"Enhance: {text} {done}/{total}" if total else f"Enhance: {text}"

    def _check_stop(self, what: str) -> None:
        if self.stop_requested():
            raise HostInterrupted(f"{what}: interrupted by the user")

    def clear_skip(self) -> None:
        """A Skip pressed during the host's last batch was for that batch (the host clears it
        at the top of each batch; after the last one nobody does): not for Enhance's work."""
        st = _state()
        if st.skipped and not st.interrupted:
            st.skipped = False

    def show(self, image: Image.Image) -> None:
        """The live preview shows `image` (each base image of a click as it comes)."""
        assign = getattr(_state(), "assign_current_image", None)
        if callable(assign):
            assign(image)

    def memory_budget(self) -> int | None:
        """Settings → Enhance → VRAM budget, else the device's free memory now (None: CPU)."""
        return enhance_settings.vram_budget(shared.opts) or capabilities.free_vram()

    # ------------------------------------------------------------------ checkpoints

    def use_checkpoint(self, checkpoint: str, vae: str = "") -> contextlib.AbstractContextManager:
        return self.switcher.use(checkpoint, vae)

    def checkpoint_scope(self) -> contextlib.AbstractContextManager:
        return self.switcher.scope()

    def _load(self, checkpoint: str, vae: str) -> None:
        """Make (checkpoint, vae) active; ("", "") = the user's own. Raises on failure."""
        if not self.models.can_switch:
            self.models.load(checkpoint or None, vae)  # raises, saying why
        info = self._resolve(checkpoint) if checkpoint else None
        if vae and vae not in self.vaes():
            raise HostError(f"unknown VAE {vae!r}; the host has: {', '.join(self.vaes())}")
        self.models.load(info, vae)
        if info is not None:  # Forge computes the sha256 while loading: read it after
            self.hashes[checkpoint] = info.shorthash or info.hash or ""

    def _recover(self) -> None:
        """Force the user's checkpoint back in after a failed load (see the switches)."""
        self.models.recover()

    def restore_checkpoint(self) -> None:
        """Load the user's checkpoint now (after the host's own Hires.fix swapped it lazily)."""
        self.models.restore_now()

    def _resolve(self, name: str) -> Any:
        """The host's CheckpointInfo for `name`, its file checked before any load is tried."""
        info = sd_models.get_closet_checkpoint_match(name)
        if info is None:
            raise HostError(
                f"unknown checkpoint {name!r}; the host has: {', '.join(self.checkpoints())}"
            )
        try:
            check_safetensors(info.filename)
        except CheckpointFileError as exc:
            raise HostError(f"checkpoint {info.title} not loaded: {exc}") from None
        return info

    # ------------------------------------------------------------------ upscale

    def upscale(self, image: Image.Image, upscaler: str, width: int, height: int) -> Image.Image:
        self._check_stop("upscale")
        found = next((u for u in shared.sd_upscalers if u.name == upscaler), None)
        if found is None:
            names = ", ".join(u.name for u in shared.sd_upscalers)
            raise HostError(f"unknown upscaler {upscaler!r}; the host has: {names}")
        _state().textinfo = f"Enhance: upscaling with {upscaler}"
        image = image.convert("RGB")
        scale = max(width / image.width, height / image.height)
        try:
            out = found.scaler.upscale(image, scale, found.data_path) if scale > 1 else image
        except Exception as exc:
            path = str(getattr(found, "local_data_path", None) or found.data_path or "")
            where = f" ({path})" if path and os.path.isfile(path) else ""
            raise HostError(f"upscaler {upscaler!r}{where} failed: {exc}") from exc
        if out.size != (width, height):
            out = out.resize((width, height), Image.LANCZOS)
        return out.convert("RGB")

    # ------------------------------------------------------------------ img2img

    def img2img(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        """ONE nested job for all items; items with masks each get their own latent mask."""
        self._check_stop(settings.label or "img2img")
        return self._run(settings, items)

    def _run(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> list[Image.Image]:
        p2 = self._nested_job(settings, items)
        st = _state()
        st.job_count = max(st.job_count, st.job_no) + 1
        st.textinfo = f"Enhance: {settings.label}" if settings.label else "Enhance"
        saved = {k: shared.opts.data.get(k, _MISSING) for k in p2.override_settings}
        try:
            processed = processing.process_images(p2)
        except Exception as exc:
            label = settings.label or "img2img"
            if is_out_of_memory(exc):
                capabilities.free_cache()
                raise HostOutOfMemory(f"{label}: out of memory: {exc}") from exc
            raise HostError(f"{label}: the host failed: {exc}") from exc
        finally:
            p2.close()
            _restore_options(saved)
        first = getattr(processed, "index_of_first_image", 0)
        images = list(processed.images[first : first + len(items)])
        if self.stop_requested():  # a sampler cut short returns its half-done images
            raise HostInterrupted(f"{settings.label or 'img2img'}: interrupted by the user")
        if len(images) < len(items):
            raise HostInterrupted(f"{settings.label or 'img2img'}: the host returned no image")
        return [im.convert("RGB") for im in images]

    def _nested_job(self, settings: PassSettings, items: Sequence[Img2ImgItem]) -> Any:
        cls = processing.StableDiffusionProcessingImg2Img
        p = self.p
        opts = shared.opts
        overrides = {**NESTED_OPTIONS, **self.models.nested_overrides()}
        masks = _item_masks(items)
        fill = INPAINT_FILL.get(settings.inpaint_fill, 1)
        inits = [it.image.convert("RGB") for it in items]
        if masks is not None:
            cls = per_item_mask_class(cls)
            # We paste back through our own feathered masks; the host's overlay would use one
            # mask for every item.
            overrides["overlay_inpaint"] = False
            if fill == INPAINT_FILL["fill"]:  # in pixels, before encoding, as the host does
                from modules import masking

                inits = [
                    masking.fill(im, m).convert("RGB") for im, m in zip(inits, masks, strict=True)
                ]
        values: dict[str, Any] = {
            "outpath_samples": getattr(p, "outpath_samples", None) or opts.outdir_img2img_samples,
            "outpath_grids": getattr(p, "outpath_grids", None) or opts.outdir_img2img_grids,
            "prompt": [it.prompt for it in items],
            "negative_prompt": [it.negative_prompt for it in items],
            "styles": [],
            "seed": [int(it.seed) for it in items],
            "subseed": -1,
            "subseed_strength": 0,
            "sampler_name": settings.sampler or getattr(p, "sampler_name", None),
            "scheduler": settings.scheduler or getattr(p, "scheduler", None),
            "batch_size": len(items),
            "n_iter": 1,
            "steps": int(settings.steps or getattr(p, "steps", 20)),
            "cfg_scale": float(settings.cfg or getattr(p, "cfg_scale", 7.0)),
            "width": int(settings.width),
            "height": int(settings.height),
            "restore_faces": False,
            "tiling": bool(getattr(p, "tiling", False)),
            "do_not_save_samples": True,
            "do_not_save_grid": True,
            "extra_generation_params": {},
            "override_settings": overrides,
            "override_settings_restore_afterwards": True,
            "init_images": inits,
            "resize_mode": 0,
            "denoising_strength": float(settings.denoise),
            "mask": None if masks is None else _union(masks),
            "mask_blur": int(settings.mask_blur),
            "inpainting_fill": fill if masks is None else INPAINT_FILL["original"],
            "inpaint_full_res": False,
            "inpaint_full_res_padding": 0,
            "inpainting_mask_invert": 0,
            "distilled_cfg_scale": getattr(p, "distilled_cfg_scale", 3.5),
        }
        fields = cls.__dataclass_fields__
        p2 = cls(**{k: v for k, v in values.items() if k in fields and fields[k].init})
        p2._enhance_inner = True
        if masks is not None:
            p2.enhance_item_masks = masks
            p2.enhance_fill = fill
        p2.cached_c = [None, None]
        p2.cached_uc = [None, None]
        if p is not None:
            p2.user = getattr(p, "user", None)
        runner = self._nested_runner()
        if runner is not None:
            p2.scripts = runner
            p2.script_args = list(getattr(p, "script_args", None) or ())
        return p2

    def _nested_runner(self) -> Any:
        """A copy of the user's runner keeping only the allowed always-on scripts, never us.

        A job of our own (the enhance route, the folder batch) gets the host's img2img runner
        with no scripts at all: some hosts (reForge) read `p.scripts.alwayson_scripts` without
        checking for None, so a job without a runner fails there.
        """
        runner = getattr(self.p, "scripts", None)
        if runner is None:
            return _empty_runner()
        keep = {
            s.strip()
            for s in str(enhance_settings.get(shared.opts, enhance_settings.NESTED_SCRIPTS)).split(
                ","
            )
        }
        nested = copy.copy(runner)
        nested.alwayson_scripts = [
            s
            for s in runner.alwayson_scripts
            if s is not self.own_script
            and not getattr(s, "is_enhance", False)
            and _stem(getattr(s, "filename", "")) in keep
        ]
        nested.callback_map = {}
        return nested

    # ------------------------------------------------------------------ saving

    def save_sample(self, image: Image.Image, p: Any, index: int, info: str, suffix: str = ""):
        """Save image `index` of the job as the host saves its samples (its call, its file
        name pattern, its infotext, its callbacks); `suffix` for companions (before-Enhance,
        detection preview), as the host saves its own -before-highres-fix. Whether to save at
        all is the caller's: the host's `p.save_samples()` of that image's batch."""
        from modules import images

        iteration, batch_index = divmod(index, max(1, int(p.batch_size)))
        saved = (p.iteration, getattr(p, "batch_index", 0))
        p.iteration, p.batch_index = iteration, batch_index  # [generation_number] etc.
        try:
            images.save_image(
                image, p.outpath_samples, "", p.all_seeds[index], p.all_prompts[index],
                shared.opts.samples_format, info=info, p=p, suffix=suffix,
            )  # fmt: skip
        finally:
            p.iteration, p.batch_index = saved

    def grid(self, p: Any, gallery: Sequence[Image.Image], info: str) -> Image.Image | None:
        """The grid of the job's images as the host makes it after its loop (saved if
        `grid_save`); returned when the gallery shows it (`return_grid`). The caller checks
        the job's `do_not_save_grid`."""
        from modules import images

        opts = shared.opts
        if not (opts.return_grid or opts.grid_save) or not gallery:
            return None
        if len(gallery) < 2 and opts.grid_only_if_multiple:
            return None
        grid = images.image_grid(list(gallery), p.batch_size)
        if opts.grid_save:
            images.save_image(
                grid, p.outpath_grids, "grid", p.all_seeds[0], p.all_prompts[0],
                opts.grid_format, info=info, short_filename=not opts.grid_extended_filename,
                p=p, grid=True,
            )  # fmt: skip
        if not opts.return_grid:
            return None
        if opts.enable_pnginfo:
            grid.info["parameters"] = info
        return grid

    def keep_params_txt(self) -> contextlib.AbstractContextManager[None]:
        return keep_params_txt()


@contextlib.contextmanager
def keep_params_txt() -> Iterator[None]:
    """Nested jobs overwrite params.txt (the ↙ button); put the user's back afterwards."""
    from modules import paths

    path = os.path.join(paths.data_path, "params.txt")
    try:
        with open(path, encoding="utf8") as fh:
            before: str | None = fh.read()
    except OSError:
        before = None
    try:
        yield
    finally:
        if before is not None:
            with contextlib.suppress(OSError), open(path, "w", encoding="utf8") as fh:
                fh.write(before)


def _empty_runner() -> Any:
    from modules import scripts

    base = getattr(scripts, "scripts_img2img", None)
    if base is None:
        return None
    empty = copy.copy(base)
    empty.alwayson_scripts, empty.selectable_scripts, empty.callback_map = [], [], {}
    return empty


def _stem(filename: str) -> str:
    return os.path.splitext(os.path.basename(filename or ""))[0]


def _item_masks(items: Sequence[Img2ImgItem]) -> list[Image.Image] | None:
    """One L mask per item (an item without one is re-diffused whole), or None: no masks."""
    if all(it.mask is None for it in items):
        return None
    return [
        Image.new("L", it.image.size, 255) if it.mask is None else it.mask.convert("L")
        for it in items
    ]


def _union(masks: Sequence[Image.Image]) -> Image.Image:
    """What the host's own single-mask bookkeeping gets (its overlay is off for these jobs)."""
    out = np.asarray(masks[0], np.uint8)
    for mask in masks[1:]:
        out = np.maximum(out, np.asarray(mask.resize(masks[0].size), np.uint8))
    return Image.fromarray(out, "L")


def _like(reference: Any, array: np.ndarray) -> Any:
    """`array` in the host's own representation of `reference` (a torch tensor: same dtype and
    device)."""
    if hasattr(reference, "new_tensor"):
        return reference.new_tensor(array)
    return np.asarray(array, dtype=getattr(reference, "dtype", np.float32))


def _mask_rows(masks: Sequence[Image.Image], size: tuple[int, int], channels: int, rnd: bool):
    """Per item, the mask as the host makes its latent mask: resized, 0..1, rounded, C rows."""
    rows = []
    for mask in masks:
        row = np.asarray(mask.convert("RGB").resize(size), np.float32)[..., 0] / 255
        if rnd:
            row = np.around(row)
        rows.append(np.tile(row[None], (channels, 1, 1)))
    return np.stack(rows)


class ItemMasks:
    """Mixed into the host's img2img job class: every batch item gets its own latent mask.

    The host builds `p.mask` / `p.nmask` — what its sampler holds fixed at every step and
    blends at the end (A1111 and Forge `sd_samplers_cfg_denoiser`, `Img2Img.sample`) — from ONE
    `image_mask`, broadcast over the batch. After the host's own `init` they are rebuilt here
    with one row per item, the way the host builds its one (resized to the latent, rounded),
    and the masked content is applied per item; inpainting models get per-item masks in their
    conditioning too. Everything else is the host's own code.
    """

    enhance_item_masks: list[Image.Image] | None = None
    enhance_fill: int = 1

    def init(self, all_prompts: Any, all_seeds: Any, all_subseeds: Any) -> None:
        super().init(all_prompts, all_seeds, all_subseeds)  # type: ignore[misc]
        masks = self.enhance_item_masks
        latent = getattr(self, "init_latent", None)
        if not masks or latent is None or getattr(self, "mask", None) is None:
            return
        size = (int(latent.shape[3]), int(latent.shape[2]))
        rnd = bool(getattr(self, "mask_round", True))
        nmask = _mask_rows(masks, size, int(latent.shape[1]), rnd)
        self.nmask = _like(self.nmask, nmask)
        self.mask = _like(self.mask, 1.0 - nmask)
        if self.enhance_fill == INPAINT_FILL["latent noise"]:
            noise = processing.create_random_tensors(latent.shape[1:], all_seeds[: latent.shape[0]])
            self.init_latent = latent * self.mask + noise * self.nmask
        elif self.enhance_fill == INPAINT_FILL["latent nothing"]:
            self.init_latent = latent * self.mask

    def img2img_image_conditioning(
        self, source_image: Any, latent_image: Any, image_mask: Any = None, round_image_mask=True
    ) -> Any:
        masks = self.enhance_item_masks
        if masks and image_mask is not None and hasattr(source_image, "shape"):
            size = (int(source_image.shape[-1]), int(source_image.shape[-2]))
            rows = _mask_rows(masks, size, 1, bool(round_image_mask))
            image_mask = _like(source_image, rows)
        return super().img2img_image_conditioning(  # type: ignore[misc]
            source_image, latent_image, image_mask, round_image_mask
        )


_MASKED: dict[type, type] = {}


def per_item_mask_class(base: type) -> type:
    """The host's img2img job class with `ItemMasks` mixed in (made once per class)."""
    cls = _MASKED.get(base)
    if cls is None:
        cls = type(base.__name__, (ItemMasks, base), {"__module__": __name__})
        _MASKED[base] = cls
    return cls


def _restore_options(saved: dict[str, Any]) -> None:
    """Undo every nested override in opts.data, also keys the host never snapshots (§12)."""
    data = shared.opts.data
    for key, value in saved.items():
        if value is _MISSING:
            data.pop(key, None)
        else:
            data[key] = value


# ---------------------------------------------------------------------- host lists


def latent_modes() -> list[str]:
    return list(getattr(shared, "latent_upscale_modes", {}))


def sampler_names() -> list[str]:
    names: list[str] = []
    for s in sd_samplers.all_samplers:
        names += [s.name, *(getattr(s, "aliases", None) or [])]
    return names


def scheduler_names() -> list[str]:
    try:
        from modules import sd_schedulers
    except ImportError:
        return []
    return [n for s in sd_schedulers.schedulers for n in (s.label, s.name)]


def checkpoint_names() -> list[str]:
    """Titles first (what an error message shows), then every other alias the host accepts."""
    titles = [info.title for info in sd_models.checkpoints_list.values()]
    aliases = getattr(sd_models, "checkpoint_aliases", {})
    return titles + [a for a in aliases if a not in titles]


def detector_names() -> list[str]:
    registry = detector_registry()
    return list(registry.names()) if registry is not None else []


_REGISTRY: Any = None


def detector_registry() -> Any:
    """The detector registry (one per server: models load once), over our and ADetailer's
    model folders. Listing is cheap; a model loads, or downloads, on first use only."""
    global _REGISTRY
    if _REGISTRY is None:
        from pathlib import Path

        from modules import paths

        from .. import detect

        folders = detect.default_folders(Path(paths.models_path), Path(models_dir()))
        _REGISTRY = detect.DetectorRegistry(
            folders,
            device=capabilities.detector_device(),
            allow_pickle=capabilities.pickle_allowance,
        )
    return _REGISTRY


def models_dir() -> str:
    """Where detector models live: --enhance-models-dir, the setting, or models/enhance."""
    from modules import paths

    cmd = capabilities.cmd_opt("enhance_models_dir")
    opt = enhance_settings.get(shared.opts, enhance_settings.MODELS_DIR)
    return cmd or opt or os.path.join(paths.models_path, "enhance")


def rescan(kind: str) -> None:
    """Refresh button: look for new model files of `kind` before the list is read again."""
    if kind == "checkpoint":
        sd_models.list_models()
    elif kind == "detector":
        detector_registry().refresh()
    elif kind == "vae":
        capabilities.model_switch().rescan_vaes()


def models() -> dict[str, list[str]]:
    """GET /enhance/v1/models: what the host has, by kind."""
    host = WebUIHost()
    return {
        "detectors": detector_names(),
        "upscalers": host.upscalers(),
        "checkpoints": host.checkpoints(),
        "vaes": host.vaes(),
        "samplers": [s.name for s in sd_samplers.all_samplers],
        "schedulers": scheduler_names(),
    }


def run_exclusive(work: Callable[[], Any], job: str = "enhance") -> Any:
    """Run GPU work outside a generation as the host runs its own: announced in the host's task
    queue while it waits (so a queue worker holding the lock gives it back), under the queue
    lock (one job at a time), with the progress state begun and ended, params.txt kept."""
    import uuid

    from modules import call_queue, progress

    task = f"task({job.replace(' ', '-')}-{uuid.uuid4().hex[:8]})"
    getattr(progress, "add_task_to_queue", lambda task: None)(task)
    with call_queue.queue_lock:
        getattr(progress, "start_task", lambda task: None)(task)
        state = _state()
        state.begin(job=job)
        try:
            with keep_params_txt():
                return work()
        finally:
            state.end()
            getattr(progress, "finish_task", lambda task: None)(task)


def enhance_image(image: Image.Image, config: dict[str, Any], **job: Any) -> Any:
    """POST /enhance/v1/enhance: one image through the pipeline, under the host's queue lock."""
    from ..stages import pipeline

    job.setdefault("sampler", sd_samplers.all_samplers[0].name if sd_samplers.all_samplers else "")
    return run_exclusive(
        lambda: pipeline.enhance(
            WebUIHost(None), config, pipeline.ImageJob(image=image, **job), detector_registry()
        )
    )


_BATCH: Any = None


def batch_service() -> Any:
    """The folder-batch job service (one per server: job ids outlive a Reload UI)."""
    global _BATCH
    if _BATCH is None:
        from ..batch.service import BatchService
        from .queue_worker import shared_queue

        _BATCH = BatchService(
            host=lambda: WebUIHost(None),
            detectors=detector_registry,
            names=host_names,
            runner=lambda work: run_exclusive(work, job="enhance batch"),
            queue=shared_queue,
        )
    return _BATCH


def host_names() -> HostNames:
    """Every host list a config name is checked against."""
    host = WebUIHost()
    return HostNames(
        {
            "upscaler": host.upscalers(),
            "checkpoint": checkpoint_names(),
            "vae": host.vaes(),
            "sampler": sampler_names(),
            "scheduler": scheduler_names(),
            "detector": detector_names(),
        }
    )
