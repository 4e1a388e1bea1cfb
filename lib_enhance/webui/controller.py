"""What the WebUI script does in each callback, kept out of `scripts/enhance.py` so it is testable.

The host hands every callback the same `p`; the img2img Batch tab even reuses one `p` for every
file and calls `setup` only once. So per-run state lives here, in a `Run` created in `process`
and dropped in `postprocess`, keyed by the `p` it belongs to, and every field of `p` we change
is snapshotted first and put back in `postprocess`. Nothing is ever stored on `p` itself.

A click's images are enhanced together in `postprocess`, after the host made them all
(`click`): per batch the host's own saving is held back, per image the base image is kept, and
at the end every image goes through the stages together and is saved with its own infotext.

No `modules.*` import: the host adapter is handed in as a factory.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..spec import config as cfgmod
from ..spec import infotext, presets
from ..spec.config import is_same
from ..stages import pipeline
from . import accordion, preview, settings
from .click import Click, Shot, gallery_positions

log = logging.getLogger("enhance")

INNER_FLAG = "_enhance_inner"
"""Set on the nested jobs we create; every callback returns at once when it sees it."""

HIRES_FIELDS = (
    "enable_hr", "hr_upscaler", "hr_scale", "hr_resize_x", "hr_resize_y", "denoising_strength",
    "hr_second_pass_steps", "hr_checkpoint_name", "hr_sampler_name", "hr_scheduler",
    "hr_prompt", "hr_negative_prompt", "hr_cfg", "hr_cfg_scale", "hr_additional_modules",
)  # fmt: skip


SETTINGS_ALLOWED = "an object of Enhance settings, or JSON text of one (see /enhance/v1/schema)"


def _short(value: Any) -> Any:
    return value[:60] + "…" if isinstance(value, str) and len(value) > 60 else value


def settings_arg(value: Any, where: str) -> dict[str, Any]:
    """The settings a client sent at `where`: an object, or JSON text of one (some clients
    serialise nested objects to text). Anything else is a ConfigError naming `where`."""
    if isinstance(value, Mapping):
        return dict(value)
    hint = ""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError as exc:
            hint = f"not valid JSON: {exc}"
        else:
            if isinstance(parsed, Mapping):
                return dict(parsed)
            hint = f"JSON text of a {type(parsed).__name__}, not of an object"
    raise cfgmod.ConfigError([cfgmod.Problem(where, _short(value), SETTINGS_ALLOWED, hint)])


SETTINGS_KEYS = ("settings", "config")
"""The documented name first; `config` is what early builds took."""


def request_settings(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a request body: `settings` (or `config`), an object or JSON text."""
    given = [k for k in SETTINGS_KEYS if k in payload]
    if len(given) > 1:
        raise cfgmod.ConfigError(
            [cfgmod.Problem("config", "both settings and config", "one of them (the same thing)")]
        )
    if not given or payload[given[0]] is None:
        return {}
    return settings_arg(payload[given[0]], given[0])


def parse_args(args: Sequence[Any], paths: Sequence[Any] | None = None) -> tuple[bool, Any]:
    """(enabled, settings dict or None) from the script args, in any of the shapes sent:

    - `[enabled, {settings}]` / `[enabled, "<JSON text>"]` (the API; the host fills the other
      positions with the controls' defaults, ignored here);
    - `[{settings}]` / `["<JSON text>"]`: settings alone mean "on";
    - `[enabled, None, *controls]`: the UI (and any client sending positions), read with
      `paths` (`accordion.layout`);
    - `[enabled]`: the defaults.
    """
    args = list(args or ())
    if not args:
        return False, None
    first = args[0]
    if isinstance(first, bool):
        slot = args[1] if len(args) > 1 else None
        if slot is not None:
            return first, settings_arg(slot, "args[1]")
        if paths and len(args) > 2:
            return first, accordion.settings_from_values(paths, args[2 : 2 + len(paths)])
        return first, None
    if isinstance(first, Mapping) or (isinstance(first, str) and first.lstrip()[:1] == "{"):
        return True, settings_arg(first, "args[0]")
    bad = cfgmod.Problem(
        "args[0]", _short(first), "true or false (the enable switch), or " + SETTINGS_ALLOWED
    )
    raise cfgmod.ConfigError([bad])


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


def check(
    args: Sequence[Any],
    names: cfgmod.HostNames | None,
    is_txt2img: bool,
    paths: Sequence[Any] | None = None,
) -> Any:
    """Validate script args; returns (enabled, full config); raises ConfigError."""
    enabled, raw = parse_args(args, paths)
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
    saved: dict[str, Any]
    ran: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    detectors: Any = None
    images: int = 0
    params_before: dict[str, Any] = field(default_factory=dict)
    """Enhance's infotext keys as `p` had them before (img2img of an enhanced image)."""
    keys: list[str] = field(default_factory=list)
    """The infotext keys this run set on `p`."""
    click: Click | None = None
    """The click's images, when Enhance's own stages run (None: nothing to defer)."""
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
        self.paths: list[Any] | None = None
        """The settings behind the controls `ui()` returned (`accordion.layout`)."""

    # -------------------------------------------------------------- process

    def process(self, p: Any, args: Sequence[Any]) -> None:
        if getattr(p, INNER_FLAG, False):
            return
        self.runs.pop(id(p), None)
        is_txt2img = hasattr(p, "enable_hr")
        try:
            enabled, config = check(args, self.names(), is_txt2img, self.paths)
        except cfgmod.ConfigError as exc:
            log.error("Enhance: not run, invalid arguments: %s", exc)
            _comment(p, f"not run, invalid settings: {exc}")
            return
        if not enabled:
            return
        if not cfgmod.any_stage_enabled(config):
            _comment(p, "on, but no stage is enabled: nothing was done")
            return
        saved = {}
        run = Run(copy.deepcopy(config), None, saved)
        run.params_before = {k: v for k, v in p.extra_generation_params.items() if _enhance_key(k)}
        run.warnings = presets.warnings(config)
        if config["hires"]["enabled"] and is_txt2img:
            self._hires_on_txt2img(p, run)
        for text in run.warnings:
            log.warning("Enhance: %s", text)
            _comment(p, text)
        run.host = self.host_factory(p)
        if any(p_["enabled"] for p_ in run.config["detail"]):
            run.detectors = self.detectors()
        if cfgmod.any_stage_enabled(run.config):
            run.click = Click(user_no_samples=bool(p.do_not_save_samples),
                              user_no_grid=bool(p.do_not_save_grid))  # fmt: skip
            p.do_not_save_grid = True  # the grid is made of the enhanced images, in postprocess
        self.runs[id(p)] = run
        self._set_infotext(p, run, config)

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

    # -------------------------------------------------------------- per batch, per image

    def _click(self, p: Any) -> tuple[Run, Click] | None:
        if getattr(p, INNER_FLAG, False):
            return None
        run = self.runs.get(id(p))
        if run is None or run.click is None:
            return None
        return run, run.click

    def before_batch(self, p: Any) -> None:
        """before_process_batch: the job saves as the user asked again (the host's hires pass
        saves its -before-highres-fix copies by it)."""
        found = self._click(p)
        if found:
            p.do_not_save_samples = found[1].user_no_samples

    def batch_done(self, p: Any) -> None:
        """postprocess_batch_list: note whether the host would save this batch's images (its
        own `save_samples()`, taken right before it does), then keep it from saving them."""
        found = self._click(p)
        if found:
            found[1].batch_saves = bool(p.save_samples())
            p.do_not_save_samples = True

    def image(self, p: Any, pp: Any) -> None:
        """postprocess_image_after_composite: keep the image the host would save (the full
        frame, also in "inpaint only masked"); the marker goes where Enhance's fields will."""
        found = self._click(p)
        if found is None:
            return
        run, click = found
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
        complete = not run.host.stop_requested()
        click.shots.append(Shot(pp.image, index, job, click.batch_saves, complete))
        run.host.show(pp.image)
        params = p.extra_generation_params
        for key in [k for k in params if _enhance_key(k)]:
            del params[key]
        params[infotext.INFOTEXT_KEY] = click.marker(index)
        run.keys = [infotext.INFOTEXT_KEY]

    # -------------------------------------------------------------- the click

    def _finish_click(self, p: Any, run: Run, processed: Any) -> None:
        """Enhance the click's images together, save them, show them (see `click`)."""
        click = run.click
        assert click is not None
        p.do_not_save_samples = click.user_no_samples
        p.do_not_save_grid = click.user_no_grid
        run.host.clear_skip()
        shots = [s for s in click.shots if s.complete]
        try:
            with run.host.keep_params_txt():
                results = pipeline.enhance_many(
                    run.host, run.config, [s.job for s in shots], run.detectors
                )
        except Exception as exc:  # never lose the images: save them as they are, say why
            log.exception("Enhance: the click's stages failed; the images are kept as made")
            run.warnings.append(f"not run: {type(exc).__name__}: {exc}")
            results = []
        by_index = {shot.index: result for shot, result in zip(shots, results, strict=False)}
        gallery = list(getattr(processed, "images", None) or [])
        texts = list(getattr(processed, "infotexts", None) or [])
        positions = gallery_positions(click.shots, gallery)
        if positions is None and click.shots:
            log.warning("Enhance: the gallery does not hold this click's images as made; the "
                        "saved files are enhanced, the gallery is left as it is")  # fmt: skip
        user = self._user_config(p, run)
        finished: list[tuple[str, dict[str, str]]] = []
        for n, shot in enumerate(click.shots):
            result = by_index.get(shot.index)
            pos = positions[n] if positions is not None else None
            host_text = texts[pos] if pos is not None and pos < len(texts) else ""
            fields = self._fields(run, user, result, shot)
            text = click.infotext(host_text, shot.index, fields)
            try:
                self._save(p, run, shot, result, text)
            except OSError as exc:  # disk full, permissions: the others are still saved
                log.error("Enhance: image %d could not be saved: %s", shot.index + 1, exc)
            finished.append((text, fields))
            if pos is not None and result is not None:
                gallery[pos] = result.image
            if pos is not None and pos < len(texts):
                texts[pos] = text
        if processed is not None and finished:
            self._show(p, run, processed, gallery, texts, finished)

    def _save(self, p: Any, run: Run, shot: Shot, result: Any, text: str) -> None:
        """One image's file (and companions) as the host would have saved it; its PNG info
        (`enable_pnginfo`: the host gave the image made its infotext) is the final text."""
        image = result.image if result is not None else shot.image
        if "parameters" in shot.image.info:
            image.info["parameters"] = text
        if shot.save:
            run.host.save_sample(image, p, shot.index, text)
            if result is not None and self.option(settings.SAVE_BEFORE, False):
                run.host.save_sample(shot.image, p, shot.index, text, "-before-enhance")
        if result is not None:
            run.images += 1
            if self.option(settings.PREVIEW, False):
                self._preview(p, run, result, shot)

    def _fields(
        self, run: Run, config: Mapping[str, Any], result: Any, shot: Shot | None = None
    ) -> dict[str, str]:
        """One image's Enhance infotext fields: settings, what ran, warnings."""
        ran = dict(run.ran)
        warnings = list(run.warnings)
        if result is None and shot is not None and not shot.complete:
            warnings.append("not enhanced: the image was cut short by Interrupt or Skip")
        if result is not None:
            ran.update(result.ran)
            warnings += [w for w in result.warnings if w not in warnings]
            hashes = getattr(run.host, "hashes", {})
            for entry in ran.values():
                if isinstance(entry, dict) and entry.get("checkpoint") in hashes:
                    entry["checkpoint_hash"] = hashes[entry["checkpoint"]]
        return infotext.fields(config, ran, warnings)

    def _show(
        self,
        p: Any,
        run: Run,
        processed: Any,
        gallery: list,
        texts: list,
        finished: list[tuple[str, dict[str, str]]],
    ) -> None:
        """The gallery: the enhanced images with their infotexts, the grid of them first,
        then the detection previews; the job's comments say what went wrong."""
        click = run.click
        assert click is not None
        for _, fields in finished:
            for line in filter(None, fields.get(infotext.WARNINGS_KEY, "").split("; ")):
                comment = f"Enhance: {line}"
                if comment not in processed.comments:
                    processed.comments += f"{comment}\n"
        first, first_fields = finished[0]
        grid = None if click.user_no_grid else run.host.grid(p, gallery, first)
        if grid is not None:
            gallery.insert(0, grid)
            texts.insert(0, first)
            processed.index_of_first_image = 1
        processed.images[:] = gallery
        processed.infotexts[:] = texts
        processed.info = texts[0] if texts else processed.info
        params = getattr(processed, "extra_generation_params", None)
        if isinstance(params, dict):  # the host's dict (p's until postprocess replaces it)
            for key in [k for k in params if _enhance_key(k)]:
                del params[key]
            params.update(first_fields)
        if run.previews:
            processed.images += run.previews
            processed.infotexts += ["Enhance detection preview"] * len(run.previews)

    def _preview(self, p: Any, run: Run, result: Any, shot: Shot) -> None:
        """Each detail pass's regions drawn over the result: kept for the gallery, saved."""
        for record in result.records:
            if record.regions:
                image = preview.draw(result.image, record.regions)
                run.previews.append(image)
                if shot.save:
                    info = f"Enhance detection preview: {record.name}"
                    run.host.save_sample(image, p, shot.index, info, "-enhance-preview")

    def _set_infotext(self, p: Any, run: Run, config: Mapping[str, Any]) -> dict[str, str]:
        """The run's Enhance fields on `p` (params.txt; the host writes the infotext when it
        saves)."""
        fields = self._fields(run, config, None)
        params = p.extra_generation_params
        for key in run.keys:
            params.pop(key, None)
        for key in [k for k in params if _enhance_key(k)]:
            del params[key]  # an input image's own Enhance fields: this run's replace them
        params.update(fields)
        run.keys = list(fields)
        return fields

    def _user_config(self, p: Any, run: Run) -> Mapping[str, Any]:
        """The settings as the user gave them (the hires we handed to the host included)."""
        user = copy.deepcopy(run.config)
        if "hires" in run.ran:
            user["hires"]["enabled"] = True
        return user

    # -------------------------------------------------------------- end

    def postprocess(self, p: Any, processed: Any = None) -> None:
        """Enhance the click's images (`_finish_click`); put back every `p` field we changed;
        forget the run (Batch tab: next file is new).

        Detection previews join the gallery after the images (with an infotext each, so the
        gallery's lists stay aligned).
        """
        if getattr(p, INNER_FLAG, False):
            return
        run = self.runs.pop(id(p), None)
        if run is None:
            return
        if run.click is not None:
            self._finish_click(p, run, processed)
        for key, value in run.saved.items():
            setattr(p, key, value)
        # A new dict without our keys: the Processed the host returns keeps the old one.
        params = {k: v for k, v in p.extra_generation_params.items() if not _enhance_key(k)}
        params.update(run.params_before)
        p.extra_generation_params = params
        hires = run.ran.get("hires", {})
        if hires.get("via") and not is_same(hires.get("checkpoint")):
            try:  # the host restores lazily; the user gets their checkpoint back now
                run.host.restore_checkpoint()
            except Exception as exc:
                log.error("Enhance: could not reload your checkpoint: %s", exc)


def _enhance_key(key: Any) -> bool:
    return isinstance(key, str) and (
        key == infotext.INFOTEXT_KEY or key.startswith(infotext.PREFIX)
    )


def _comment(p: Any, text: str) -> None:
    """A line under the result in the UI (the host's per-job comments, `Processed.comments`)."""
    comment = getattr(p, "comment", None)
    if callable(comment):
        comment(f"Enhance: {text}")


def _at(values: Sequence[Any] | None, index: int, fallback: Any) -> Any:
    if values and 0 <= index < len(values):
        return values[index]
    return fallback
