"""What the WebUI script does in each callback, kept out of `scripts/enhance.py` so it is testable.

The host hands every callback the same `p`; the img2img Batch tab even reuses one `p` for every
file and calls `setup` only once. So per-run state lives here, in a `Run` created in `process`
and dropped in `postprocess`, keyed by the `p` it belongs to, and every field of `p` we change
is snapshotted first and put back in `postprocess`. Nothing is ever stored on `p` itself.

No `modules.*` import: the host adapter is handed in as a factory.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..spec import config as cfgmod
from ..spec import presets
from ..spec.config import is_same
from ..spec.infotext import INFOTEXT_KEY, to_infotext
from ..stages import pipeline
from . import preview, settings

log = logging.getLogger("enhance")

_ABSENT = object()

INNER_FLAG = "_enhance_inner"
"""Set on the nested jobs we create; every callback returns at once when it sees it."""

HIRES_FIELDS = (
    "enable_hr", "hr_upscaler", "hr_scale", "hr_resize_x", "hr_resize_y", "denoising_strength",
    "hr_second_pass_steps", "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler",
    "hr_prompt", "hr_negative_prompt", "hr_cfg", "hr_cfg_scale", "hr_additional_modules",
)  # fmt: skip


def parse_args(args: Sequence[Any]) -> tuple[bool, Any]:
    """`[enabled, config_dict]` from the UI or API; a bare `[{...}]` means enabled.

    The API keeps UI defaults for positions it does not send, so the dict is the first dict
    found, and a leading dict means "on".
    """
    args = list(args or ())
    if not args:
        return False, None
    enabled = args[0] if isinstance(args[0], bool) else isinstance(args[0], Mapping)
    raw = next((a for a in args if isinstance(a, Mapping)), None)
    if not isinstance(args[0], (bool, Mapping)):
        bad = cfgmod.Problem("args[0]", args[0], "true or false (the enable switch) or an object")
        raise cfgmod.ConfigError([bad])
    return enabled, raw


def context_problems(config: Mapping[str, Any], is_txt2img: bool) -> list[cfgmod.Problem]:
    """Settings that are valid in general but not in this tab."""
    hires = config["hires"]
    if hires["enabled"] and not is_txt2img and presets.is_latent(hires["upscaler"]):
        return [
            cfgmod.Problem(
                "hires.upscaler", hires["upscaler"],
                "a pixel upscaler in img2img", "latent upscalers need txt2img's own Hires.fix",
            )
        ]  # fmt: skip
    return []


def check(args: Sequence[Any], names: cfgmod.HostNames | None, is_txt2img: bool) -> Any:
    """Validate script args; returns (enabled, full config); raises ConfigError."""
    enabled, raw = parse_args(args)
    config = cfgmod.validate(raw, names)
    problems = context_problems(config, is_txt2img) if enabled else []
    if problems:
        raise cfgmod.ConfigError(problems)
    return enabled, config


@dataclass
class Run:
    """One `process_images` call's worth of state."""

    config: dict[str, Any]
    host: Any
    composite: bool
    saved: dict[str, Any]
    ran: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    detectors: Any = None
    images: int = 0
    infotext_before: Any = None
    previews: list[Any] = field(default_factory=list)


class Controller:
    """The callbacks of one Script instance (one per tab)."""

    def __init__(
        self,
        host_factory: Callable[[Any], Any],
        names: Callable[[], cfgmod.HostNames | None] = lambda: None,
        detectors: Callable[[], Any] = lambda: None,
        option: Callable[[str, Any], Any] = lambda key, default: default,
    ):
        self.host_factory = host_factory
        self.names = names
        self.detectors = detectors
        self.option = option
        self.runs: dict[int, Run] = {}

    # -------------------------------------------------------------- process

    def process(self, p: Any, args: Sequence[Any]) -> None:
        if getattr(p, INNER_FLAG, False):
            return
        self.runs.pop(id(p), None)
        is_txt2img = hasattr(p, "enable_hr")
        try:
            enabled, config = check(args, self.names(), is_txt2img)
        except cfgmod.ConfigError as exc:
            log.error("Enhance: not run, invalid arguments: %s", exc)
            return
        if not enabled or not cfgmod.any_stage_enabled(config):
            return
        saved = {}
        run = Run(copy.deepcopy(config), None, _only_masked(p), saved)
        run.infotext_before = p.extra_generation_params.get(INFOTEXT_KEY, _ABSENT)
        run.warnings = presets.warnings(config)
        if config["hires"]["enabled"] and is_txt2img:
            self._hires_on_txt2img(p, run)
        for text in run.warnings:
            log.warning("Enhance: %s", text)
        run.host = self.host_factory(p)
        if any(p_["enabled"] for p_ in run.config["detail"]):
            run.detectors = self.detectors()
        self.runs[id(p)] = run
        p.extra_generation_params[INFOTEXT_KEY] = self._infotext(config, run, None)

    def _hires_on_txt2img(self, p: Any, run: Run) -> None:
        """The host's own Hires.fix: keep it (warn) or drive it for a latent upscaler."""
        hires = run.config["hires"]
        if p.enable_hr:
            run.warnings.append(
                "the host's own Hires.fix is on, so Enhance's hires pass was skipped "
                "(it would upscale twice)"
            )
            hires["enabled"] = False
            run.ran["hires"] = {"status": "skipped", "reason": "host Hires.fix is on"}
            return
        if not presets.is_latent(hires["upscaler"]):
            return
        run.saved.update({k: copy.copy(getattr(p, k)) for k in HIRES_FIELDS if hasattr(p, k)})
        steps = hires["steps"] or presets.suggested_steps(hires["upscaler"])
        values = {
            "enable_hr": True,
            "hr_upscaler": hires["upscaler"],
            "hr_scale": hires["scale"],
            "hr_resize_x": hires["width"],
            "hr_resize_y": hires["height"],
            "denoising_strength": hires["denoise"],
            "hr_second_pass_steps": steps,
            "hr_checkpoint_name": None if is_same(hires["checkpoint"]) else hires["checkpoint"],
            "hr_sampler_name": None if is_same(hires["sampler"]) else hires["sampler"],
            "hr_scheduler": None if is_same(hires["scheduler"]) else hires["scheduler"],
            "hr_prompt": hires["prompt"],
            "hr_negative_prompt": hires["negative_prompt"],
        }
        # The hires CFG is "hr_cfg" (Forge, Neo, reForge) or "hr_cfg_scale" (Classic), and an
        # API request leaves it at 1.0 (negative prompt skipped) or None (Classic: fails).
        values["hr_cfg"] = values["hr_cfg_scale"] = float(hires["cfg"] or p.cfg_scale)
        if hasattr(p, "hr_additional_modules"):  # Forge, Neo: else their Hires.fix fails
            vae = hires["vae"]
            values["hr_additional_modules"] = ["Use same choices"] if is_same(vae) else [vae]
        for key, value in values.items():
            if hasattr(p, key):
                setattr(p, key, value)
        hires["enabled"] = False  # the host runs it; our pipeline must not upscale again
        run.ran["hires"] = {
            "status": "ok", "via": "host Hires.fix", "upscaler": hires["upscaler"],
            "denoise": hires["denoise"], "steps": steps, "checkpoint": hires["checkpoint"],
        }  # fmt: skip

    # -------------------------------------------------------------- per image

    def image(self, p: Any, pp: Any, composite: bool) -> None:
        """postprocess_image (composite=False) or …_after_composite (composite=True)."""
        if getattr(p, INNER_FLAG, False):
            return
        run = self.runs.get(id(p))
        if run is None or run.composite != composite:
            return
        if not cfgmod.any_stage_enabled(run.config):
            return  # e.g. only a host-driven hires pass
        index = p.iteration * p.batch_size + p.batch_index
        job = pipeline.ImageJob(
            image=pp.image,
            prompt=_at(p.all_prompts, index, p.prompt),
            negative_prompt=_at(p.all_negative_prompts, index, p.negative_prompt),
            seed=int(_at(p.all_seeds, index, p.seed)),
            steps=int(p.steps),
            sampler=p.sampler_name or "",
            scheduler=getattr(p, "scheduler", "") or "",
            cfg=float(p.cfg_scale),
            name=f"image {index + 1}",
        )
        before = pp.image
        with run.host.keep_params_txt():
            result = pipeline.enhance(run.host, run.config, job, run.detectors)
        run.images += 1
        text = self._infotext(self._user_config(p, run), run, result)
        p.extra_generation_params[INFOTEXT_KEY] = text
        if self.option(settings.SAVE_BEFORE, False):
            run.host.save_extra(before, p, index, text, "-before-enhance")
        if self.option(settings.PREVIEW, False):
            self._preview(p, run, result, index)
        pp.image = result.image

    def _preview(self, p: Any, run: Run, result: Any, index: int) -> None:
        """Each detail pass's regions drawn over the result: kept for the gallery, saved."""
        for record in result.records:
            if record.regions:
                image = preview.draw(result.image, record.regions)
                run.previews.append(image)
                info = f"Enhance detection preview: {record.name}"
                run.host.save_extra(image, p, index, info, "-enhance-preview")

    def _infotext(self, config: Mapping[str, Any], run: Run, result: Any) -> str:
        ran = dict(run.ran)
        warnings = list(run.warnings)
        if result is not None:
            ran.update(result.ran)
            warnings += [w for w in result.warnings if w not in warnings]
            hashes = getattr(run.host, "hashes", {})
            for entry in ran.values():
                if isinstance(entry, dict) and entry.get("checkpoint") in hashes:
                    entry["checkpoint_hash"] = hashes[entry["checkpoint"]]
        if warnings:
            ran["warnings"] = warnings
        return to_infotext(config, ran or None)

    def _user_config(self, p: Any, run: Run) -> Mapping[str, Any]:
        """The settings as the user gave them (the hires we handed to the host included)."""
        user = copy.deepcopy(run.config)
        if "hires" in run.ran:
            user["hires"]["enabled"] = True
        return user

    # -------------------------------------------------------------- end

    def postprocess(self, p: Any, processed: Any = None) -> None:
        """Put back every `p` field we changed; forget the run (Batch tab: next file is new).

        Detection previews join the gallery after the images (with an infotext each, so the
        gallery's lists stay aligned).
        """
        if getattr(p, INNER_FLAG, False):
            return
        run = self.runs.pop(id(p), None)
        if run is None:
            return
        if processed is not None and run.previews:
            processed.images += run.previews
            processed.infotexts += ["Enhance detection preview"] * len(run.previews)
        for key, value in run.saved.items():
            setattr(p, key, value)
        # A new dict without our key: the Processed the host returns keeps the old one.
        params = {k: v for k, v in p.extra_generation_params.items() if k != INFOTEXT_KEY}
        if run.infotext_before is not _ABSENT:
            params[INFOTEXT_KEY] = run.infotext_before
        p.extra_generation_params = params
        hires = run.ran.get("hires", {})
        if hires.get("via") and not is_same(hires.get("checkpoint")):
            try:  # the host restores lazily; the user gets their checkpoint back now
                run.host.restore_checkpoint()
            except Exception as exc:
                log.error("Enhance: could not reload your checkpoint: %s", exc)


def _only_masked(p: Any) -> bool:
    """img2img "inpaint only masked": postprocess_image sees the crop, so work after composite."""
    return bool(
        getattr(p, "image_mask", None) is not None and getattr(p, "inpaint_full_res", False)
    )


def _at(values: Sequence[Any] | None, index: int, fallback: Any) -> Any:
    if values and 0 <= index < len(values):
        return values[index]
    return fallback
