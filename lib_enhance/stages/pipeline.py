"""The stage runner: hires → tiles → detail passes → QA, over any `Host`, for many images.

Each stage is a generator function of (context, image) that returns the new image (see
`context`). The runner owns what every stage needs and none should reimplement: the checkpoint
swap around it, the record of what ran (for the infotext and the benchmarks), and the rule that
a failed or cancelled stage is discarded whole — the user keeps the image from the stage before,
plus a log line. `lockstep` drives one stage over many images at once, merging their sampler
calls and absorbing out-of-memory errors.

`enhance_many` is the one code path for every caller: a Generate click's images (the WebUI job),
one image (`enhance`: the API, "process one"), a group of a folder batch and one queue item
(`run_stage_many` / `run_stage`, inside the caller's `use_checkpoint`). Images go through each
stage together, stage by stage: each stage's checkpoint is loaded once, the user's once back at
the end.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..host import Host, HostError, HostInterrupted
from ..qa import assess
from ..spec import presets
from .context import Box, CallLimits, ImageJob, StageContext, StageGen, StageRecord, same_or
from .detail import run_detail
from .hires import run_hires
from .lockstep import Budget, ImageRun, Lockstep
from .tiled import run_tiled

log = logging.getLogger("enhance")

StageFn = Callable[[StageContext, Image.Image], StageGen]


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, with the checkpoint it runs on ("" = the user's)."""

    name: str
    checkpoint: str
    vae: str
    run: StageFn


def build_stages(config: Mapping[str, Any]) -> list[Stage]:
    """The enabled stages in the order that works: hires, tiles, then each detail pass."""
    stages: list[Stage] = []
    if config["hires"]["enabled"]:
        stages.append(_stage("hires", config["hires"], lambda c, im: run_hires(c, im, config)))
    if config["tiles"]["enabled"]:
        stages.append(_stage("tiles", config["tiles"], lambda c, im: run_tiled(c, im, config)))
    for index, pass_cfg in enumerate(config["detail"]):
        if pass_cfg["enabled"]:
            run = _detail_runner(pass_cfg, index)
            stages.append(_stage(f"detail {index + 1}", pass_cfg, run))
    return stages


def _detail_runner(pass_cfg: Any, index: int) -> StageFn:
    return lambda ctx, image: run_detail(ctx, image, pass_cfg, index)


def _stage(name: str, section: Mapping[str, Any], run: StageFn) -> Stage:
    return Stage(
        name, same_or(section.get("checkpoint", ""), ""), same_or(section.get("vae", ""), ""), run
    )


def run_stage_many(
    host: Host,
    stage: Stage,
    jobs: Sequence[ImageJob],
    images: Sequence[Image.Image],
    detectors: Any = None,
    budget: Budget | None = None,
) -> list[tuple[Image.Image, StageRecord]]:
    """Run one stage on many images together (`lockstep`). Never raises for a stage failure.

    The stage runs inside `host.use_checkpoint`; a caller that already holds that checkpoint
    (the folder batch) makes this a no-op. A failed or interrupted stage returns that image's
    input unchanged (never half-applied) and a record whose `status` and `error` say which stage
    and why; the same goes in the log. A checkpoint that cannot be loaded fails the stage for
    every image.
    """
    budget = budget or Budget()
    started = time.perf_counter()
    runs: list[ImageRun] = []
    records = [StageRecord(stage.name) for _ in jobs]
    if not records:
        return []
    try:
        if host.stop_requested():  # not even a checkpoint load for a stage that cannot run
            raise HostInterrupted(f"{stage.name}: interrupted by the user")
        with host.use_checkpoint(stage.checkpoint, stage.vae):
            budget.limits = CallLimits.from_budget(_memory_budget(host))
            for job, image, record in zip(jobs, images, records, strict=True):
                ctx = StageContext(host, job, record, detectors, budget.limits)
                runs.append(ImageRun(ctx, _started(stage.run, ctx, image), image))
            Lockstep(host, budget, stage.name).run(runs)
    except HostInterrupted as exc:
        _fail_all(jobs, records, runs, "interrupted", str(exc))
    except (HostError, ValueError, OSError, RuntimeError) as exc:
        _fail_all(jobs, records, runs, "failed", f"{type(exc).__name__}: {exc}")
    elapsed = time.perf_counter() - started
    out = []
    for index, (image, record) in enumerate(zip(images, records, strict=True)):
        run = runs[index] if index < len(runs) else None
        result = run.result if run is not None and run.result is not None else image
        if record.status not in ("ok", "skipped"):
            result = image
        elif stage.checkpoint:
            record.ran["checkpoint"] = stage.checkpoint
        own = run.own_seconds if run is not None else elapsed / max(1, len(records))
        record.seconds = own + record.host_seconds
        out.append((result, record))
    return out


def _started(run: StageFn, ctx: StageContext, image: Image.Image) -> StageGen:
    """The stage as a generator that has not run yet (so its errors surface in the driver);
    a plain function returning the image works too."""
    out = run(ctx, image)
    if inspect.isgenerator(out):
        return (yield from out)
    return out


def _memory_budget(host: Host) -> int | None:
    budget = getattr(host, "memory_budget", None)
    return budget() if callable(budget) else None


def _fail_all(
    jobs: Sequence[ImageJob],
    records: list[StageRecord],
    runs: list[ImageRun],
    status: str,
    error: str,
) -> None:
    """The checkpoint around the stage failed (load or restore): no image keeps the stage."""
    for run in runs:
        if not run.finished:
            run.gen.close()
            run.waiting = None
    for job, record in zip(jobs, records, strict=True):
        record.status, record.error = status, error
        what = "interrupted" if status == "interrupted" else "failed"
        log.log(logging.WARNING if what == "interrupted" else logging.ERROR,
                "Enhance: %s%s %s, kept the previous image: %s", record.name, _for(job), what,
                error)  # fmt: skip


def run_stage(
    host: Host, stage: Stage, job: ImageJob, image: Image.Image, detectors: Any = None
) -> tuple[Image.Image, StageRecord]:
    """One stage on one image (a queue item): `run_stage_many` of one."""
    return run_stage_many(host, stage, [job], [image], detectors)[0]


def _for(job: ImageJob) -> str:
    return f" ({job.name})" if job.name else ""


@dataclass
class EnhanceResult:
    """The best image so far, and everything about how it was made."""

    image: Image.Image
    records: list[StageRecord]
    qa: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ran(self) -> dict[str, Any]:
        """Per stage: status and what actually ran (the `ran` part of the infotext)."""
        out: dict[str, Any] = {}
        for rec in self.records:
            entry = {"status": rec.status, **rec.ran}
            if rec.error:
                entry["error"] = rec.error
            out[rec.name] = entry
        if self.qa is not None:
            out["qa"] = {
                k: self.qa[k] for k in ("verdict", "seam", "halo", "drift") if k in self.qa
            }
        return out

    @property
    def interrupted(self) -> bool:
        return any(r.status == "interrupted" for r in self.records)

    @property
    def seams(self) -> list[Box]:
        """Tile and region edges of the stages that were applied (for the QA seam score)."""
        return [box for rec in self.records if rec.status == "ok" for box in rec.seams]


def enhance_many(
    host: Host, config: Mapping[str, Any], jobs: Sequence[ImageJob], detectors: Any = None
) -> list[EnhanceResult]:
    """Run every enabled stage on all images, stage by stage, each on its own checkpoint; then
    the QA of each image.

    After an interrupt no further stage is started: the user asked to stop. Images whose stage
    finished before it keep that stage. QA runs only on images a stage changed (an "ok" verdict
    on an untouched image would mislead). Stages on B then C swap B → C directly; the user's
    checkpoint is restored once, at the end.
    """
    results = [EnhanceResult(job.image, [], warnings=presets.warnings(config)) for job in jobs]
    if not results:
        return results  # nothing to load a checkpoint for
    budget = Budget()
    with host.checkpoint_scope():
        for stage in build_stages(config):
            images = [r.image for r in results]
            done = run_stage_many(host, stage, jobs, images, detectors, budget)
            for result, (image, record) in zip(results, done, strict=True):
                result.image = image
                result.records.append(record)
                result.warnings += [w for w in record.warnings if w not in result.warnings]
                if record.status in ("failed", "interrupted"):
                    result.warnings.append(failure_warning(record))
            if any(record.status == "interrupted" for _, record in done):
                break
    for job, result in zip(jobs, results, strict=True):
        applied = any(r.status == "ok" for r in result.records)
        if config["qa"]["enabled"] and applied and not result.interrupted:
            result.qa = assess_result(job.image, result, config)
    return results


def enhance(
    host: Host, config: Mapping[str, Any], job: ImageJob, detectors: Any = None
) -> EnhanceResult:
    """One image through every enabled stage (`enhance_many` of one)."""
    return enhance_many(host, config, [job], detectors)[0]


def failure_warning(record: StageRecord) -> str:
    """What the user is told about a stage that did not apply (UI comment, infotext, API)."""
    what = "was interrupted" if record.status == "interrupted" else "failed"
    return f"{record.name} {what}, kept the image from before it: {record.error}"


def assess_result(
    before: Image.Image, result: EnhanceResult, config: Mapping[str, Any]
) -> dict[str, Any] | None:
    """QA scores of a finished image; a QA failure is logged, never fatal for the image."""
    try:
        return assess(before, result.image, result.seams, config["qa"])
    except (ValueError, RuntimeError) as exc:
        log.error("Enhance: QA failed, image kept without scores: %s", exc)
        return None
