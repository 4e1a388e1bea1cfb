"""The curated-folder batch: enhance every image of a folder, stage by stage, resumably.

Order is the point. Per-image processing loads hires-checkpoint B, restores, loads face-checkpoint
C, restores — for every image. Here each stage runs across all images inside one
`use_checkpoint`, within one `checkpoint_scope`, so a batch pays one load per stage plus one
restore: O(stages), not O(images). Within a stage, images go `IMAGES_AT_ONCE` at a time through
the same code as a Generate click (`pipeline.run_stage_many`), so their sampler calls are shared.
Intermediates live in ``enhance-work/`` inside the output.

Resumability comes from the manifest (see `manifest`): a stage of an image is finished only when
its result is on disk and recorded, and everything is written atomically, so a run killed at any
point and started again does each remaining unit exactly once and never redoes a finished one.

Safety: the output folder may not be (inside) the input folder, nothing is written into the
input, one unreadable file is skipped with a reason, and a failed stage keeps the best image so
far (flagged for review), as in the single-image pipeline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ..qa import assess
from ..spec import config as cfgmod
from ..spec.infotext import INFOTEXT_KEY, to_infotext
from ..stages.context import StageRecord
from ..stages.lockstep import Budget
from ..stages.pipeline import ImageJob, Stage, build_stages, enhance, run_stage_many
from .manifest import (
    FINISHED,
    WORK_DIR,
    Manifest,
    WriteError,
    file_hash,
    new_record,
    save_png,
    write_bytes,
)
from .report import write_review

log = logging.getLogger("enhance")

IMAGES_AT_ONCE = 8
"""Images of a folder that go through a stage together (share sampler calls); each is saved
as soon as its group is done, so a stop loses at most one group's work of one stage."""

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".avif")


class BatchError(ValueError):
    """The batch cannot start: bad folders, or an output folder holding another batch."""


@dataclass
class BatchProgress:
    """One progress report: image `index` of `total` in stage `stage` (1-based)."""

    stage: str
    stage_index: int
    stage_count: int
    index: int
    total: int
    name: str
    done_units: int
    total_units: int
    eta_seconds: float | None

    @property
    def text(self) -> str:
        eta = "" if self.eta_seconds is None else f", ETA {_clock(self.eta_seconds)}"
        return (
            f"Enhance batch: {self.stage} ({self.stage_index}/{self.stage_count}), "
            f"image {self.index}/{self.total} {self.name}{eta}"
        )


ProgressFn = Callable[[BatchProgress], None]


@dataclass
class BatchResult:
    """What a run did, and where the results are."""

    output_dir: Path
    manifest: Path
    review: Path | None
    totals: dict[str, Any]
    stopped: bool = False
    checkpoint_loads: int | None = None
    host_calls: dict[str, int] = field(default_factory=dict)
    """Host img2img calls per stage name, this run."""
    errors: list[str] = field(default_factory=list)
    queue_seconds: dict[str, float] = field(default_factory=dict)
    """A queued run: the coordinator's own time on queue work (`coordinator.QueuedRun`)."""


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# ------------------------------------------------------------------------------------ folders


def check_folders(input_dir: str | Path, output_dir: str | Path) -> tuple[Path, Path]:
    """Resolved (input, output); BatchError when the output is, or is inside, the input."""
    src = Path(input_dir).expanduser().resolve()
    dst = Path(output_dir).expanduser().resolve()
    if not src.is_dir():
        raise BatchError(f"input folder {src} does not exist or is not a folder")
    if dst == src or src in dst.parents:
        raise BatchError(
            f"output folder {dst} is inside the input folder {src}; choose a folder outside "
            "it (the batch never writes into its input)"
        )
    if dst.exists() and not dst.is_dir():
        raise BatchError(f"output {dst} exists and is not a folder")
    return src, dst


def list_inputs(input_dir: Path) -> list[Path]:
    """Plain files of the folder (not recursive, no hidden files), sorted by name."""
    return sorted(
        (p for p in input_dir.iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.name.lower(),
    )


def probe(path: Path) -> str:
    """ "" when `path` is a readable image, else the reason it is skipped."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        return f"not an image file ({path.suffix or 'no extension'})"
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"unreadable image: {type(exc).__name__}: {exc}"
    return ""


def _output_names(paths: list[Path]) -> dict[str, str]:
    """stem.png per input; inputs sharing a stem keep their extension (a.jpg → a_jpg.png)."""
    stems: dict[str, int] = {}
    for p in paths:
        stems[p.stem.lower()] = stems.get(p.stem.lower(), 0) + 1
    return {
        p.name: (p.stem if stems[p.stem.lower()] == 1 else f"{p.stem}_{p.suffix[1:]}") + ".png"
        for p in paths
    }


# ------------------------------------------------------------------------------- image info

_PARAM = re.compile(r'\s*([\w][\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_parameters(text: str) -> dict[str, Any]:
    """The A1111 `parameters` text → prompt, negative prompt and the key: value pairs."""
    lines = text.strip().split("\n")
    params: dict[str, str] = {}
    if lines and len(_PARAM.findall(lines[-1])) >= 3:
        for key, value in _PARAM.findall(lines.pop()):
            with contextlib.suppress(ValueError):
                value = json.loads(value) if value.startswith('"') else value
            params[key.strip()] = str(value).strip()
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    return {
        "prompt": "\n".join(prompt).strip(),
        "negative": "\n".join(negative).strip(),
        "params": params,
    }


def _number(params: Mapping[str, str], key: str, kind: type, default: Any) -> Any:
    try:
        return kind(params[key])
    except (KeyError, ValueError):
        return default


def make_job(image: Image.Image, name: str, sha256: str) -> ImageJob:
    """What the image was made with, from its PNG info; a stable seed from its hash if none."""
    parsed = parse_parameters(str(image.info.get("parameters", "")))
    params = parsed["params"]
    seed = _number(params, "Seed", int, int(sha256[:8], 16) % (2**31))
    return ImageJob(
        image=image,
        prompt=parsed["prompt"],
        negative_prompt=parsed["negative"],
        seed=seed,
        steps=_number(params, "Steps", int, 20),
        sampler=params.get("Sampler", ""),
        scheduler=params.get("Schedule type", ""),
        cfg=_number(params, "CFG scale", float, 7.0),
        name=name,
    )


def output_text(info: Mapping[str, Any], fields: str) -> dict[str, str]:
    """The input's PNG text chunks, with Enhance's infotext fields appended to `parameters`.

    A1111 and Forge read `Key: value` pairs from the last line of `parameters`, so that is
    where paste-back finds them; an input without `parameters` gets an `Enhance` chunk instead
    (no prompt line to paste over the user's).
    """
    text = {k: v for k, v in info.items() if isinstance(k, str) and isinstance(v, str)}
    params = text.get("parameters", "")
    if params.strip():
        text["parameters"] = f"{params.rstrip()}, {fields}"
    else:
        text[INFOTEXT_KEY] = fields
    return text


def image_id(record: Mapping[str, Any]) -> str:
    """Names an image's work files and queue items: per input file *and* content, so two
    copies of one image in the folder never share (or delete) each other's intermediates."""
    text = f"{record['sha256']}\0{record['source']}".encode()
    return hashlib.sha256(text).hexdigest()[:16]


def stage_entry(stage_record: StageRecord) -> dict[str, Any]:
    """The manifest's record of one stage of one image (plain JSON types)."""
    return {
        "status": stage_record.status,
        "error": stage_record.error,
        "host_calls": stage_record.host_calls,
        "seconds": round(stage_record.seconds, 3),
        "ran": stage_record.ran,
        "seams": [list(b) for b in stage_record.seams],
    }


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return img.copy() if img.mode in ("RGB", "RGBA", "L") else img.convert("RGB")


# ---------------------------------------------------------------------------------- the run


def _loads(host: Any) -> int | None:
    """Checkpoint loads the host has counted so far (None when it does not count)."""
    for obj in (host, getattr(host, "switcher", None)):
        value = getattr(obj, "loads", None)
        if isinstance(value, int):
            return value
    return None


class FolderRun:
    """One run over a manifest: scan, stages, finalisation. Kept as an object so each step is
    a short method sharing the manifest, the clock and the progress bookkeeping."""

    def __init__(
        self,
        host: Any,
        manifest: Manifest,
        input_dir: Path,
        detectors: Any,
        progress: ProgressFn | None,
        should_stop: Callable[[], bool] | None,
    ):
        self.host = host
        self.manifest = manifest
        self.input_dir = input_dir
        self.output_dir = manifest.output_dir
        self.work_dir = self.output_dir / WORK_DIR
        self.detectors = detectors
        self.report = progress
        self.should_stop = should_stop or (lambda: False)
        self.config: dict[str, Any] = manifest.data["config"]
        self.stages: list[Stage] = build_stages(self.config)
        self.started = time.perf_counter()
        self.units_done = 0
        self.units_total = 0
        self.stopped = False
        self.errors: list[str] = []
        self.host_calls: dict[str, int] = {}
        self.budget = Budget()

    # ---- scanning

    def scan(self) -> None:
        """Bring the manifest up to date with the folder: new files, changed files, skips."""
        paths = list_inputs(self.input_dir)
        names = _output_names([p for p in paths if p.suffix.lower() in IMAGE_EXTENSIONS])
        images = self.manifest.images
        for path in paths:
            sha = file_hash(path)
            record = images.get(path.name)
            if record is None or record["sha256"] != sha:
                record = images[path.name] = new_record(path.name, sha)
            if record["status"] == "skipped" or not record["output"]:
                self._classify(path, record, names)
        self.manifest.data["stages"] = [s.name for s in self.stages]
        self.manifest.save()

    def _classify(self, path: Path, record: dict[str, Any], names: dict[str, str]) -> None:
        reason = probe(path)
        if reason:
            if record["status"] != "skipped":
                log.warning("Enhance batch: skipped %s: %s", path.name, reason)
            record.update(status="skipped", reason=reason)
            return
        record.update(
            status="pending" if record["status"] == "skipped" else record["status"],
            reason="",
            output=names[path.name],
        )

    def active(self) -> list[dict[str, Any]]:
        """Records still to work on, whose source is still in the folder."""
        return [
            r
            for r in self.manifest.images.values()
            if r["status"] in ("pending", "running") and (self.input_dir / r["source"]).exists()
        ]

    # ---- stages

    def todo(self, stage: Stage) -> list[dict[str, Any]]:
        return [
            r
            for r in self.active()
            if r["stages"].get(stage.name, {}).get("status") not in FINISHED
        ]

    def run_stages(self) -> None:
        plan = [(stage, self.todo(stage)) for stage in self.stages]
        self.units_total = sum(len(todo) for _, todo in plan) + len(self.active())
        for number, stage in enumerate(self.stages, 1):
            todo = self.todo(stage)
            if not todo or self.stopped:
                continue
            with self.host.use_checkpoint(stage.checkpoint, stage.vae):
                for start in range(0, len(todo), IMAGES_AT_ONCE):
                    if self.should_stop():
                        self.stopped = True
                    if self.stopped:
                        break
                    group = todo[start : start + IMAGES_AT_ONCE]
                    for index, record in enumerate(group, start + 1):
                        self._emit(stage.name, number, index, len(todo), record["source"])
                    self.run_group(stage, number, group)

    def run_group(self, stage: Stage, number: int, group: list[dict[str, Any]]) -> None:
        """One stage on a few images together; each persisted (work file, then manifest)."""
        ready: list[tuple[dict[str, Any], ImageJob, Image.Image]] = []
        for record in group:
            try:
                source, current = self._images(record)
            except (OSError, UnidentifiedImageError) as exc:
                self._fail_image(record, f"cannot read {record['work'] or record['source']}: {exc}")
                continue
            ready.append((record, make_job(source, record["source"], record["sha256"]), current))
        if not ready:
            return
        calls_before = self.budget.host_calls
        done = run_stage_many(self.host, stage, [j for _, j, _ in ready],
                              [im for _, _, im in ready], self.detectors, self.budget)  # fmt: skip
        calls = self.budget.host_calls - calls_before
        self.host_calls[stage.name] = self.host_calls.get(stage.name, 0) + calls
        for (record, _, _), (result, stage_record) in zip(ready, done, strict=True):
            if stage_record.status == "interrupted":
                self.stopped = True
                continue
            self.store(record, stage.name, number, stage_entry(stage_record), result)

    def store(
        self,
        record: dict[str, Any],
        stage: str,
        number: int,
        entry: dict[str, Any],
        result: Image.Image | bytes | None,
    ) -> None:
        """Persist one finished stage of one image: its image (a PIL image, or PNG bytes from
        a queue worker) as the work file when it ran, then the manifest."""
        if entry["status"] == "ok" and result is not None:
            work = f"{WORK_DIR}/{image_id(record)}.{number}.png"
            if isinstance(result, bytes):
                write_bytes(self.output_dir / work, result)
            else:
                save_png(result, self.output_dir / work, compress_level=1)
            record["work"] = work
        elif entry["status"] == "failed":
            self.errors.append(f"{record['source']}: {stage}: {entry['error']}")
        record["status"] = "running"
        record["stages"][stage] = entry
        self.manifest.save()
        self.units_done += 1

    def _images(self, record: dict[str, Any]) -> tuple[Image.Image, Image.Image]:
        source = _open(self.input_dir / record["source"])
        if not record["work"]:
            return source, source
        return source, _open(self.output_dir / record["work"])

    def _fail_image(self, record: dict[str, Any], error: str) -> None:
        log.error("Enhance batch: %s", error)
        self.errors.append(error)
        record.update(status="failed", error=error)
        self.manifest.save()

    def _emit(self, stage: str, number: int, index: int, total: int, name: str) -> None:
        elapsed = time.perf_counter() - self.started
        eta = None
        if self.units_done:
            eta = elapsed / self.units_done * max(0, self.units_total - self.units_done)
        info = BatchProgress(
            stage,
            number,
            len(self.stages),
            index,
            total,
            name,
            self.units_done,
            self.units_total,
            eta,
        )
        log.info(info.text)
        if self.host is not None:
            self.host.progress(info.text, self.units_done, max(1, self.units_total))
        if self.report:
            self.report(info)

    # ---- finalisation

    def finish_all(self) -> None:
        for record in self.active():
            if self.stopped or self.should_stop():
                self.stopped = True
                return
            if all(record["stages"].get(s.name, {}).get("status") in FINISHED for s in self.stages):
                self.finish(record)

    def finish(self, record: dict[str, Any]) -> None:
        """QA, then the output PNG (input's PNG info + Enhance record), then the manifest."""
        try:
            source, final = self._images(record)
        except (OSError, UnidentifiedImageError) as exc:
            self._fail_image(record, f"cannot read {record['work'] or record['source']}: {exc}")
            return
        seams = [tuple(b) for s in record["stages"].values() for b in s.get("seams", [])]
        scores = self._qa(source, final, seams)
        ran = {
            name: {
                "status": st["status"],
                **st["ran"],
                **({"error": st["error"]} if st["error"] else {}),
            }
            for name, st in record["stages"].items()
        }
        if scores:
            ran["qa"] = {k: scores[k] for k in ("verdict", "seam", "halo", "drift")}
        warnings = [
            f"{name} {st['status']}: {st['error']}"
            for name, st in record["stages"].items()
            if st["status"] in ("failed", "interrupted")
        ]
        text = output_text(source.info, to_infotext(self.config, ran, warnings))
        save_png(
            final.convert("RGB") if final.mode not in ("RGB", "RGBA") else final,
            self.output_dir / record["output"],
            text,
        )
        old_work = record["work"]
        record.update(
            status="done",
            scores=scores,
            work="",
            size=list(final.size),
            seams=[list(b) for b in seams],
        )
        self.manifest.save()
        self._drop_work(record, old_work)
        self.units_done += 1

    def _qa(self, before: Image.Image, after: Image.Image, seams: list) -> dict[str, Any] | None:
        if not self.config["qa"]["enabled"]:
            return None
        try:
            return assess(before, after, seams, self.config["qa"])
        except (ValueError, RuntimeError) as exc:
            log.error("Enhance batch: QA failed for an image, kept without scores: %s", exc)
            return None

    def _drop_work(self, record: dict[str, Any], work: str) -> None:
        """Intermediates of a finished image are no longer needed (best effort)."""
        for path in self.work_dir.glob(f"{image_id(record)}.*.png"):
            with contextlib.suppress(OSError):
                path.unlink()


# --------------------------------------------------------------------------- entry points


def prepare_manifest(
    input_dir: str | Path, output_dir: str | Path, config: Mapping[str, Any] | None
) -> Manifest:
    """Check folders; load the output's manifest or start one (settings must match)."""
    src, dst = check_folders(input_dir, output_dir)
    try:
        (dst / WORK_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(exc.errno, f"could not create {dst / WORK_DIR}: {exc.strerror}") from exc
    try:
        manifest = Manifest.load(dst)
    except (ValueError, OSError) as exc:
        raise BatchError(
            f"the manifest in {dst} cannot be read ({exc}); use a new output "
            "folder or delete it to start over"
        ) from exc
    if manifest is None:
        if config is None:
            raise BatchError(f"nothing to resume: {dst} holds no Enhance batch")
        return Manifest.create(dst, src, cfgmod.validate(dict(config)))
    if config is not None and cfgmod.validate(dict(config)) != manifest.data["config"]:
        raise BatchError(
            f"{dst} holds a batch made with other settings; resume it with its own settings, "
            "or choose another output folder"
        )
    manifest.data["input"] = str(src)
    return manifest


def run_batch(
    host: Any,
    input_dir: str | Path,
    output_dir: str | Path,
    config: Mapping[str, Any] | None = None,
    *,
    detectors: Any = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    review: bool = True,
) -> BatchResult:
    """Enhance every image of `input_dir` into `output_dir`, or resume a batch there.

    `config=None` resumes with the settings stored in the output's manifest. Raises BatchError
    for bad folders, WriteError when the output cannot be written (disk full, permissions) —
    with the manifest left at its last consistent state, so Resume continues from there.
    """
    manifest = prepare_manifest(input_dir, output_dir, config)
    run = FolderRun(host, manifest, Path(manifest.data["input"]), detectors, progress, should_stop)
    record = manifest.begin_run()
    loads_before = _loads(host)
    try:
        run.scan()
        with host.checkpoint_scope():
            run.run_stages()
        run.finish_all()
        if not run.stopped:
            total = max(1, run.units_total)
            host.progress(f"Enhance batch: finished, {run.units_done} steps", total, total)
    finally:
        record["seconds"] = round(time.perf_counter() - run.started, 3)
        loads_after = _loads(host)
        if loads_before is not None and loads_after is not None:
            record["checkpoint_loads"] = loads_after - loads_before
        record["stopped"] = run.stopped
        with contextlib.suppress(OSError):
            manifest.save()
    page = review_page(manifest, run.input_dir) if review else None
    return BatchResult(
        dst_of(manifest),
        manifest.path,
        page,
        manifest.totals(),
        run.stopped,
        record["checkpoint_loads"],
        run.host_calls,
        run.errors,
    )


def dst_of(manifest: Manifest) -> Path:
    return manifest.output_dir


def review_page(manifest: Manifest, input_dir: Path) -> Path | None:
    try:
        return write_review(manifest, input_dir)
    except OSError as exc:
        log.error("Enhance batch: could not write the review page: %s", exc)
        return None


@dataclass
class OneResult:
    """ "Process one first": the full pipeline on one image, written to a preview folder."""

    name: str
    before: Path
    after: Path
    qa: dict[str, Any] | None
    records: list[dict[str, Any]]


PREVIEW_DIR = "enhance-preview"


def process_one(
    host: Any,
    input_dir: str | Path,
    output_dir: str | Path,
    config: Mapping[str, Any],
    name: str | None = None,
    *,
    detectors: Any = None,
) -> OneResult:
    """Run the whole pipeline on one image (the first readable one, or `name`).

    The result goes to ``enhance-preview/`` in the output folder, not to the batch outputs, so
    trying settings never marks an image as done.
    """
    src, dst = check_folders(input_dir, output_dir)
    candidates = [p for p in list_inputs(src) if name in (None, p.name) and not probe(p)]
    if not candidates:
        raise BatchError(
            f"no readable image {name!r} in {src}" if name else f"no readable image in {src}"
        )
    path = candidates[0]
    cfg = cfgmod.validate(dict(config))
    source = _open(path)
    job = make_job(source, path.name, file_hash(path))
    result = enhance(host, cfg, job, detectors)
    preview = dst / PREVIEW_DIR
    try:
        preview.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(exc.errno, f"could not create {preview}: {exc.strerror}") from exc
    after = preview / f"{path.stem}.png"
    fields = to_infotext(cfg, result.ran, result.warnings)
    save_png(result.image, after, output_text(source.info, fields))
    records = [
        {"name": r.name, "status": r.status, "error": r.error, "host_calls": r.host_calls}
        for r in result.records
    ]
    return OneResult(path.name, path, after, result.qa, records)
